"""The Slurm adapter: a real scheduler as a target (docs/slurm.md).

slurmrestd (OpenAPI plugins v0.0.37–v0.0.43, JWT) serves the scheduler and slurmdbd; the
login node over SSH serves job output files and the commands the REST API of a version does
not serve reliably. Capabilities: ``compute`` (:mod:`.compute`), ``jobs`` (:mod:`.jobs`),
``scheduling`` and ``training`` (:mod:`.scheduling`), ``tenancy`` (:mod:`.tenancy`) and
``usage`` (:mod:`.accounting`), ``topology`` (:mod:`.topology`) and ``devtools``
(:mod:`.devtools`: frameworks, node pre-flight and draining, the API description).

Everything the run creates carries its run id: jobs in their ``comment``
(``labels: sca-run=<run id>``) and name, accounts in their description, probe users in
their claim under ``<output_dir>/.sca-claims``, files under ``<output_dir>/sca-<run id>``,
drained nodes in their drain reason (``sca-run=<run id>: …``);
:meth:`SlurmAdapter.sweep` finds each kind again by it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext
from pytest_sca.adapters.config import SlurmConfig
from pytest_sca.adapters.slurm.accounting import SlurmUsage
from pytest_sca.adapters.slurm.compute import SlurmCompute
from pytest_sca.adapters.slurm.devtools import SlurmDevTools, drain_reason
from pytest_sca.adapters.slurm.jobs import SlurmJobs, cancel
from pytest_sca.adapters.slurm.scheduling import SlurmScheduling, SlurmTraining
from pytest_sca.adapters.slurm.session import RUN_FOLDER, Root, SlurmSession
from pytest_sca.adapters.slurm.shapes import decode_labels
from pytest_sca.adapters.slurm.tenancy import CLAIMS, SlurmTenancy, remove_account, remove_user
from pytest_sca.adapters.slurm.topology import SlurmTopology
from pytest_sca.capabilities import RUN_LABEL, Refused, TargetError, Unsupported

#: What the adapter creates, in the order a sweep removes it.
KINDS = ("jobs", "drains", "accounts", "users", "files")


class SlurmAdapter(Adapter):
    """A Slurm cluster through slurmrestd and its login node."""

    transport: ClassVar[str] = "slurm"
    config_model: ClassVar[type[SlurmConfig]] = SlurmConfig
    implementations: ClassVar[Mapping[str, Callable[[Any], object]]] = {
        "compute": SlurmCompute,
        "jobs": SlurmJobs,
        "scheduling": SlurmScheduling,
        "training": SlurmTraining,
        "tenancy": SlurmTenancy,
        "usage": SlurmUsage,
        "topology": SlurmTopology,
        "devtools": SlurmDevTools,
    }
    sweeps: ClassVar[frozenset[str]] = frozenset(f"slurm:{kind}" for kind in KINDS)

    def __init__(self, config: SlurmConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        context.redact.add([config.token])
        if config.login is not None and config.login.password:
            context.redact.add([config.login.password])
        self.root = Root()
        self.session = SlurmSession(config, context, root=self.root)
        self.root.principal = self.session

    def subject(self) -> SlurmSession:
        return self.session

    def sweep(self, run_id: str) -> list[str]:
        """Cancel the run's jobs, remove its accounts, users and files; one line per failure."""
        session = self.session
        failures: list[str] = []
        try:
            for job in session.jobs():
                labels = decode_labels(job.comment)
                if labels.get(RUN_LABEL) == run_id or job.name.startswith(f"sca-{run_id}-"):
                    try:
                        cancel(session, str(job.job_id))
                    except (Refused, TargetError) as exc:
                        failures.append(f"cancel job {job.job_id}: {exc}")
        except (Refused, TargetError) as exc:
            failures.append(f"list jobs: {exc}")
        try:
            marked = drain_reason(run_id, "")
            for node in session.nodes():
                if node.reason.startswith(marked.rstrip()):
                    session.slurm(["scontrol", "update", f"nodename={node.name}",
                                   "state=resume"], "the sweep")
        except (Refused, TargetError, Unsupported) as exc:
            failures.append(f"resume drained nodes: {exc}")
        if self._has_accounting(failures):
            try:
                accounts = session.rest.get("slurmdb", "accounts", empty_ok=True)
                for account in accounts.get("accounts") or []:
                    if decode_labels(account.get("description")).get(RUN_LABEL) == run_id:
                        try:
                            remove_account(session, str(account["name"]))
                        except (Refused, TargetError, Unsupported) as exc:
                            failures.append(f"remove account {account['name']}: {exc}")
            except (Refused, TargetError) as exc:
                failures.append(f"list accounts: {exc}")
        if session.config.login is not None and session.config.output_dir:
            failures += self._sweep_files(run_id)
        return failures

    def _has_accounting(self, failures: list[str]) -> bool:
        try:
            return self.session.rest.has_accounting()
        except (Refused, TargetError) as exc:
            failures.append(f"read the API: {exc}")
            return False

    def _sweep_files(self, run_id: str) -> list[str]:
        session = self.session
        failures: list[str] = []
        output = session.config.output_dir.rstrip("/") if session.config.output_dir else ""
        shell = session.shell("the sweep")
        claims = shlex.quote(f"{output}/{CLAIMS}")
        listed = shell.run(f"grep -lx -- {shlex.quote(run_id)} {claims}/*/run 2>/dev/null; "
                           "true")
        for path in listed.stdout.split():
            unix = path.rstrip("/").split("/")[-2]
            try:
                remove_user(session, unix)
            except (Refused, TargetError, Unsupported) as exc:
                failures.append(f"remove user {unix}: {exc}")
        folder = shlex.quote(f"{output}/" + RUN_FOLDER.format(run_id=run_id))
        removed = shell.run(f"rm -rf -- {folder}")
        if removed.exit_status != 0:
            failures.append(f"remove {folder}: {removed.stderr.strip()[:200]}")
        return failures

    def close(self) -> None:
        self.session.close()


__all__ = ["SlurmAdapter"]
