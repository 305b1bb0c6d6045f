"""``devtools`` on Slurm: frameworks, node pre-flight and draining, the REST API's description.

- frameworks: MPI as ``srun --mpi=list`` offers it (its plugin types), and PyTorch,
  TensorFlow and DeepSpeed when the nodes' Python (``adapters.slurm.python``, run on the
  login node, which shares the nodes' software) imports them;
- pre-flight: each node's state and reason as slurmctld holds them (its
  ``HealthCheckProgram`` drains a node that fails); marking a node faulty drains it
  (``scontrol update state=drain``, an operator's right) and the undo resumes it;
- the API description is slurmrestd's OpenAPI document; ``raw`` sends one request as is.

Slurm has no web console, no per-job metric series and no web terminal: those raise
:class:`~pytest_sca.capabilities.Unsupported`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

import requests

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.mapping import error_envelope
from pytest_sca.adapters.slurm.client import OPENAPI_PATHS
from pytest_sca.adapters.slurm.compute import health
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.capabilities import (
    RUN_LABEL,
    ApiOperation,
    ErrorEnvelope,
    Framework,
    JobMetrics,
    NodeMark,
    Preflight,
    PreflightNode,
    Refused,
    TargetError,
    Terminal,
    Unsupported,
    WebAnswer,
)

#: Python frameworks looked for on the nodes: name → module.
PYTHON_FRAMEWORKS = {"pytorch": "torch", "tensorflow": "tensorflow", "deepspeed": "deepspeed"}
#: What a PyTorch worker of a probe job is given (script.py).
TORCH_ENV = ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"]
#: Requests the classic plugins' slurmrestd (22.05) dies on: a job id that is not a number on
#: the accounting paths. An evaluation never takes the platform down.
FATAL_22_05 = re.compile(r"^/slurmdb/v0\.0\.3[6-8]/job/(?!\d+/?$)[^/]+/?$")
_FIND = ("import importlib, json\nfound = {}\nfor name, module in %r.items():\n"
         "    try:\n        found[name] = getattr(importlib.import_module(module), "
         "'__version__', '?')\n    except Exception:\n        pass\nprint(json.dumps(found))\n")


class SlurmDevTools(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.DevTools` over slurmrestd and the login node."""

    def frameworks(self) -> list[Framework]:
        session = self.subject
        shell = session.shell("the frameworks the nodes offer")
        found: list[Framework] = []
        listed = session.slurm(["srun", "--mpi=list"], "the MPI plugins")
        kinds = [line.strip() for line in listed.splitlines()
                 if line.startswith(("\t", " ")) and line.strip() not in ("", "none")]
        if kinds:
            found.append({"name": "mpi", "versions": kinds, "distributed": True,
                          "launcher": "srun --mpi=<type>", "worker_env": ["PMI_RANK"]})
        script = _FIND % PYTHON_FRAMEWORKS
        result = shell.run(f"{shlex.quote(session.config.python)} -c {shlex.quote(script)}")
        try:
            modules = json.loads(result.stdout.strip().splitlines()[-1]) \
                if result.exit_status == 0 and result.stdout.strip() else {}
        except ValueError:
            modules = {}
        for name, version in sorted(modules.items()):
            found.append({"name": name, "versions": [str(version)], "distributed": True,
                          "launcher": "srun", "worker_env": list(TORCH_ENV)})
        return found

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> JobMetrics:
        raise Unsupported("Slurm keeps no metric series of a job (sstat shows the present, "
                          "accounting the totals): add `adapters.platform` or a job exporter")

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> Terminal:
        raise Unsupported("Slurm has no web terminal into a job's workers")

    def preflight(self, node_ids: Sequence[str] | None = None) -> Preflight:
        session = self.subject
        nodes = session.nodes() if node_ids is None else [session.node(n) for n in node_ids]
        items: list[PreflightNode] = []
        for node in nodes:
            healthy = health(node) == "healthy"
            items.append({"node_id": node.name, "healthy": healthy,
                          "checks": [{"name": "slurm state", "state": "+".join(node.states),
                                      "reason": node.reason, "ok": healthy}]})
        return {"items": items, "eligible": [i["node_id"] for i in items if i["healthy"]]}

    def mark_faulty(self, node_id: str, reason: str) -> NodeMark:
        session = self.subject
        session.node(node_id)
        # The reason carries the run id: the sweep of a killed run resumes what it drained.
        session.slurm(["scontrol", "update", f"nodename={node_id}", "state=drain",
                       f"reason={drain_reason(session.context.run_id, reason)}"],
                      "draining a node")
        principal = session.root_principal()
        session.remember("drains", node_id, f"resume Slurm node {node_id}",
                         lambda: _resume(principal, node_id))
        return {"node_id": node_id, "health": health(session.node(node_id))}

    def unmark(self, node_id: str) -> NodeMark:
        session = self.subject
        _resume(session, node_id)
        session.forget("drains", node_id)
        return {"node_id": node_id, "health": health(session.node(node_id))}

    def console_page(self) -> WebAnswer:
        raise Unsupported("Slurm has no web console: add `adapters.platform` for one")

    def api_operations(self) -> list[ApiOperation]:
        # The described API is slurmrestd's own: the adapter keeps no table of its routes.
        return []

    def api_description(self) -> dict[str, Any]:
        session = self.subject
        for path in OPENAPI_PATHS:
            answer = self.raw("GET", path)
            if answer.status == 200:
                try:
                    document = json.loads(answer.text)
                except ValueError:
                    continue
                if isinstance(document, dict):
                    return document
        raise TargetError(f"slurmrestd at {session.rest.base} serves no OpenAPI document")

    def error_envelope(self, answer: WebAnswer) -> ErrorEnvelope | None:
        # slurmrestd's envelope: {"errors": [{"error_number", "error", "description",
        # "source"}]} (its OpenAPI description's v0.0.40 "errors" schema).
        return error_envelope(answer.text, ["/errors/0/error_number", "/errors/0/error"],
                              ["/errors/0/description", "/errors/0/error"])

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        session = self.subject
        if FATAL_22_05.match(path):
            raise TargetError(f"{method} {path} is not sent: slurmrestd 22.05 exits on it "
                              "(fatal: Bad job/step specified), taking the REST API down")
        headers = {"X-SLURM-USER-NAME": session.user, "Content-Type": content_type}
        if session.token:
            headers["X-SLURM-USER-TOKEN"] = session.token
        try:
            response = requests.request(method, session.rest.base + path, data=body,
                                        headers=headers, timeout=session.config.timeout,
                                        verify=session.config.verify)
        except requests.RequestException as exc:
            raise TargetError(f"{method} {path}: cannot reach slurmrestd "
                              f"({type(exc).__name__})") from None
        text = session.context.redact(response.text)
        return WebAnswer(response.status_code, response.headers.get("Content-Type", ""), text,
                         dict(response.headers))


def drain_reason(run_id: str, reason: str) -> str:
    """The reason a run drains a node with: its run id first."""
    return f"{RUN_LABEL}={run_id}: {reason}"


def _resume(session: SlurmSession, node_id: str) -> None:
    try:
        session.slurm(["scontrol", "update", f"nodename={node_id}", "state=resume"],
                      "resuming a node")
    except Refused as refusal:
        if refusal.status != 409:
            raise
