"""One principal's view of a Slurm cluster: what every capability implementation calls.

A :class:`SlurmSession` holds the principal's slurmrestd client, shares the login node's
SSH connection and the run's bookkeeping (undo actions, minted tokens, the run's output
folder) with every other principal's session of the same adapter, and knows the cluster's
inventory reads the capabilities have in common.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import SlurmConfig
from pytest_sca.adapters.slurm.client import LoginShell, Shared, SlurmRest, token_user
from pytest_sca.adapters.slurm.shapes import (
    JobInfo,
    NodeInfo,
    PartitionInfo,
    first,
    job_info,
    node_info,
    partition_info,
)
from pytest_sca.capabilities import Refused, TargetError, Unsupported
from pytest_sca.cleanup import UndoAction

#: The folder of a run under ``output_dir``: everything the run's jobs write is in it.
RUN_FOLDER = "sca-{run_id}"


@dataclass
class Root:
    """What the sessions of one adapter share."""

    shared: Shared = field(default_factory=Shared)
    lock: threading.Lock = field(default_factory=threading.Lock)
    shell: LoginShell | None = None
    #: (kind, key) → the undo registered when the run created it.
    undo: dict[tuple[str, str], UndoAction] = field(default_factory=dict)
    #: token the run minted → the Slurm user it names.
    tokens: dict[str, str] = field(default_factory=dict)
    run_folder_ready: bool = False
    #: Accounts the run created (its probe tenants).
    accounts: set[str] = field(default_factory=set)
    #: job id → (node, cards) of each worker as slurmctld last reported them while the job
    #: ran: Slurm forgets a job's card indices when it ends.
    placements: dict[int, list[tuple[str, list[int]]]] = field(default_factory=dict)
    #: The target's own principal: undo actions run as it, whoever created the thing.
    principal: SlurmSession | None = None


class SlurmSession:
    """The cluster as one principal (the target's, or a probe user's) sees it."""

    def __init__(self, config: SlurmConfig, context: AdapterContext, *, root: Root,
                 user: str | None = None, token: str | None = None,
                 retried: bool = True) -> None:
        self.config = config
        self.context = context
        self.root = root
        self.user = user if user is not None else config.user
        self.token = token if token is not None else config.token
        self.retried = retried
        self.rest = SlurmRest(config, context, user=self.user, token=self.token,
                              shared=root.shared, attempts=3 if retried else 1)

    def root_principal(self) -> SlurmSession:
        """The target's own principal's session (the one undo actions run as)."""
        return self.root.principal or self

    @property
    def is_principal(self) -> bool:
        """Whether this is the target's own principal (not a probe user)."""
        return self.token == self.config.token

    def acting_as(self, credential: str) -> SlurmSession:
        """The same cluster seen with another JWT: a probe user's, or any credential (whose
        user is the one its ``sun`` claim names, else the target's user name)."""
        self.context.redact.add([credential])
        user = self.root.tokens.get(credential) or token_user(credential) or self.config.user
        return SlurmSession(self.config, self.context, root=self.root, user=user,
                            token=credential, retried=self.retried)

    def unretried(self) -> SlurmSession:
        """The same principal whose every slurmrestd request is sent once: a read that finds
        slurmctld/slurmdbd unreachable raises at once instead of being retried (writes and
        the login node's commands are never retried anyway), so a measurement counts it."""
        return SlurmSession(self.config, self.context, root=self.root, user=self.user,
                            token=self.token, retried=False)

    # --- the login node ---------------------------------------------------------------------------

    def shell(self, need: str) -> LoginShell:
        """The login node's shell; :class:`Unsupported` naming ``need`` without one."""
        if self.config.login is None:
            raise Unsupported(f"{need} needs the cluster's login node over SSH: add "
                              "adapters.slurm.login to the target file")
        with self.root.lock:
            if self.root.shell is None:
                self.root.shell = LoginShell(self.config, self.context)
            return self.root.shell

    def slurm(self, argv: list[str], need: str) -> str:
        """A Slurm command on the login node, as this session's principal."""
        return self.shell(need).slurm(argv, jwt=self.token)

    def privileged(self, argv: list[str], need: str) -> str:
        """A Slurm command as the login node's SSH account (root or SlurmUser), for what no
        JWT principal may do: minting tokens for other users."""
        return self.shell(need).slurm(argv, jwt=None)

    def run_folder(self) -> str:
        """The run's folder under ``output_dir`` (made on first use, removed at the end of
        the run): every job of the run writes there."""
        if not self.config.output_dir:
            raise Unsupported("jobs need a folder every node and the login node share: set "
                              "adapters.slurm.output_dir in the target file")
        folder = f"{self.config.output_dir.rstrip('/')}/" + RUN_FOLDER.format(
            run_id=self.context.run_id)
        with self.root.lock:
            ready = self.root.run_folder_ready
        if not ready:
            shell = self.shell("job output")
            quoted = shlex.quote(folder)
            result = shell.run(f"mkdir -p {quoted} && chmod 1777 {quoted}")
            if result.exit_status != 0:
                raise TargetError(f"cannot create {folder} on the login node: "
                                  f"{result.stderr.strip()[:200]}")
            # The run's folder outlives single checks: it goes at the end of the run.
            scope, self.context.ledger.scope = self.context.ledger.scope, None
            try:
                self.remember("files", folder, f"remove {folder}",
                              lambda: shell.run(f"rm -rf -- {quoted}"))
            finally:
                self.context.ledger.scope = scope
            with self.root.lock:
                self.root.run_folder_ready = True
        return folder

    # --- undo bookkeeping -------------------------------------------------------------------------

    def remember(self, kind: str, key: str, description: str, undo: Callable[[], object]
                 ) -> None:
        """Register the undo of something the run just created (kind ``slurm:<kind>``)."""
        action = self.context.created(f"slurm:{kind}", description, undo)
        with self.root.lock:
            self.root.undo[(kind, key)] = action

    def forget(self, kind: str, key: str) -> None:
        """Something the run created was removed on purpose."""
        with self.root.lock:
            action = self.root.undo.pop((kind, key), None)
        if action is not None:
            action.cancel()

    def created_here(self, kind: str, key: str) -> bool:
        with self.root.lock:
            action = self.root.undo.get((kind, key))
        return action is not None and not action.done

    # --- reads every capability shares ------------------------------------------------------------

    def nodes(self) -> list[NodeInfo]:
        answer = self.rest.get("slurm", "nodes")
        return [node_info(raw) for raw in answer.get("nodes") or []]

    def node(self, name: str) -> NodeInfo:
        answer = self.rest.get("slurm", f"node/{name}")
        return node_info(first(answer.get("nodes") or [], f"node {name}"))

    def partitions(self) -> list[PartitionInfo]:
        answer = self.rest.get("slurm", "partitions")
        return [partition_info(raw) for raw in answer.get("partitions") or []]

    def job(self, job_id: str) -> JobInfo:
        if not str(job_id).isdigit():
            raise Refused(f"GET job/{job_id}", 404, "2017", f"no Slurm job {job_id!r}")
        answer = self.rest.get("slurm", f"job/{job_id}")
        return job_info(first(answer.get("jobs") or [], f"job {job_id}"))

    def jobs(self) -> list[JobInfo]:
        answer = self.rest.get("slurm", "jobs", empty_ok=True)
        return [job_info(raw) for raw in answer.get("jobs") or []]

    def release(self) -> str:
        """The Slurm release slurmrestd reports (``22.05.8``)."""
        answer = self.rest.get("slurm", "ping")
        meta = answer.get("meta") or {}
        slurm = meta.get("Slurm") or meta.get("slurm") or {}
        return str(slurm.get("release") or "")

    def close(self) -> None:
        self.rest.close()
        if self.root.shell is not None:
            with contextlib.suppress(Exception):
                self.root.shell.close()
            self.root.shell = None


def params(**values: Any) -> dict[str, Any]:
    """Query parameters without the unset ones."""
    return {key: value for key, value in values.items() if value is not None}
