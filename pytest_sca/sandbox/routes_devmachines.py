"""API routes of model development: dev machines, frameworks, job metrics and terminals, pre-flight.

The logic is in ``devmachines.py`` and ``devtools.py``; these handlers check
who may do what and translate HTTP (and one websocket) into calls there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import requests
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, timestamp
from pytest_sca.sandbox.errors import forbidden, not_found
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document

_PROXY_TIMEOUT = 10.0


class DevMachineCreate(BaseModel):
    """POST /devmachines."""

    name: models.Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    resources: models.Resources = Field(default_factory=models.Resources)
    labels: models.Labels = Field(default_factory=dict)


class ExecRequest(BaseModel):
    """POST /devmachines/{id}/exec."""

    command: list[Annotated[str, StringConstraints(max_length=65_536, pattern=r"^[^\x00]*$")]] = (
        Field(min_length=1, max_length=256))
    timeout: float = Field(default=60.0, gt=0, le=300)
    background: bool = False


class PortRequest(BaseModel):
    """POST /devmachines/{id}/ports: ``port`` absent → the platform picks one."""

    port: int | None = Field(default=None, ge=1024, le=65535)


class PreflightRequest(BaseModel):
    """POST /preflight: the nodes to check (all when absent)."""

    node_ids: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, max_length=256)


class FaultyMark(BaseModel):
    """POST /preflight/faulty-nodes."""

    node_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=256)] = "marked by an operator"


class DevMachine(S.Open):
    """A dev machine."""

    id: str
    tenant_id: str
    name: str
    image: str
    status: str
    node_id: str | None
    accelerators: list[int]
    ports: list[int]
    created_at: str
    labels: dict[str, str]


class ExecResult(S.Open):
    """What a command in a dev machine did."""

    pid: int
    exit_code: int | None
    output: str


class ExposedPort(S.Open):
    """A dev machine port published at a URL."""

    devmachine_id: str
    port: int
    url: str


class Framework(S.Open):
    """A distributed framework jobs can use."""

    name: str
    versions: list[str]
    distributed: bool


class SeriesPoint(S.Open):
    """One sample."""

    time: str
    value: float


class Series(S.Open):
    """One metric of one worker over time."""

    name: str
    unit: str
    worker: int
    points: list[SeriesPoint]


class JobMetrics(S.Open):
    """A job's metric series."""

    job_id: str
    interval_s: float
    series: list[Series]


class NodeCheck(S.Open):
    """Pre-flight result of one node."""

    node_id: str
    healthy: bool
    checks: list[dict[str, Any]]


class Preflight(S.Open):
    """Pre-flight results."""

    items: list[NodeCheck]
    eligible: list[str]


class NodeMark(S.Open):
    """A node's operator mark."""

    node_id: str
    health: str


def target_capabilities(platform: SandboxPlatform) -> dict[str, Any]:
    """Jobs here stop within 2.5 s (SIGTERM, SIGKILL after 2 s): 5 s is the sandbox's bound.
    A job with room to run starts within a tick of the job monitor (50 ms) and a process
    start: 10 s is generous even on a loaded host."""
    return {"jobs": {"start_timeout_s": 10, "stop_timeout_s": 5}}


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    machines = platform.devmachines
    tools = platform.devtools

    def usable_machine(who: Principal, machine_id: str) -> Document:
        machine = machines.visible(who, machine_id)
        rules.require_write(who, machine["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=machine["owner"])
        return machine

    def visible_job(who: Principal, job_id: str) -> Document:
        job = platform.runner.job(job_id)
        if job is None or not rules.can_read_tenant(who, job["tenant_id"], cross_tenant_kind=True):
            raise not_found(f"job {job_id}")
        return job

    # frameworks -------------------------------------------------------------------------------

    @routes.get(f"{API}/frameworks", name="framework.list", **documented(S.Items[Framework]))
    def list_frameworks(who: Caller) -> dict[str, Any]:
        return {"items": tools.frameworks()}

    # dev machines -----------------------------------------------------------------------------

    @routes.post(f"{API}/devmachines", name="devmachine.create",
                 **documented(DevMachine, 201))
    def create_machine(body: DevMachineCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        machine = machines.create(who, body.model_dump())
        audit_resource(request, f"devmachines/{machine['id']}")
        return machines.status(machine)

    @routes.get(f"{API}/devmachines", name="devmachine.list",
                **documented(S.Items[DevMachine]))
    def list_machines(who: Caller) -> dict[str, Any]:
        return {"items": [machines.status(m) for m in machines.visible_machines(who)]}

    @routes.get(f"{API}/devmachines/{{devmachine_id}}", name="devmachine.get",
                **documented(DevMachine))
    def get_machine(devmachine_id: str, who: Caller) -> Document:
        return machines.status(machines.visible(who, devmachine_id))

    @routes.delete(f"{API}/devmachines/{{devmachine_id}}", name="devmachine.delete",
                   **documented(None, 204))
    def delete_machine(devmachine_id: str, who: Caller) -> Response:
        machines.delete(usable_machine(who, devmachine_id))
        return Response(status_code=204)

    @routes.post(f"{API}/devmachines/{{devmachine_id}}/exec", name="devmachine.exec",
                 **documented(ExecResult))
    def exec_in_machine(devmachine_id: str, body: ExecRequest, who: Caller) -> Document:
        machine = usable_machine(who, devmachine_id)
        return machines.exec(machine, body.command, body.timeout, body.background)

    @routes.post(f"{API}/devmachines/{{devmachine_id}}/ports", name="devmachine.expose",
                 **documented(ExposedPort))
    def expose_port(devmachine_id: str, body: PortRequest, who: Caller,
                    request: Request) -> Document:
        machine = usable_machine(who, devmachine_id)
        return machines.expose(machine, body.port, str(request.base_url))

    @routes.get(f"{API}/devmachines/{{devmachine_id}}/proxy/{{port}}/{{path:path}}",
                name="devmachine.proxy", include_in_schema=False)
    def proxy(devmachine_id: str, port: int, path: str, who: Caller,
              request: Request) -> Response:
        machine = machines.visible(who, devmachine_id)
        target = machines.forward_port(machine, port)
        url = f"http://127.0.0.1:{target}/{path}"
        try:
            answer = requests.get(url, params=dict(request.query_params),
                                  timeout=_PROXY_TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            return JSONResponse(
                {"error": {"code": "bad_gateway",
                           "message": f"nothing answers on port {port} of dev machine "
                                      f"{devmachine_id} ({type(exc).__name__})"}},
                status_code=502)
        kept = {k: v for k, v in answer.headers.items()
                if k.lower() in ("content-type", "cache-control", "location")}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    # jobs: metrics over time and terminals ------------------------------------------------------

    @routes.get(f"{API}/jobs/{{job_id}}/metrics", name="job.metrics", **documented(JobMetrics))
    def job_metrics(job_id: str, who: Caller, since: datetime | None = None,
                    until: datetime | None = None) -> Document:
        return platform.series.series(visible_job(who, job_id), timestamp(since),
                                      timestamp(until))

    @routes.websocket(f"{API}/jobs/{{job_id}}/workers/{{rank}}/terminal")
    async def terminal(websocket: WebSocket, job_id: str, rank: int) -> None:
        scheme, _, key = websocket.headers.get("authorization", "").partition(" ")
        who = platform.tenancy.authenticate(key) if scheme.lower() == "bearer" and key else None
        job = platform.runner.job(job_id) if who is not None else None
        allowed = (who is not None and job is not None
                   and rules.can_read_tenant(who, job["tenant_id"], cross_tenant_kind=False)
                   and 0 <= rank < job["world_size"] and job["status"] == "running")
        if not allowed:
            await websocket.close(code=1008, reason="no such running worker for this key")
            return
        await websocket.accept()
        assert job is not None
        await tools.terminal(websocket, job, rank)

    # pre-flight --------------------------------------------------------------------------------

    @routes.post(f"{API}/preflight", name="preflight.run", **documented(Preflight))
    def run_preflight(body: PreflightRequest, who: Caller) -> Document:
        return tools.preflight(body.node_ids)

    @routes.post(f"{API}/preflight/faulty-nodes", name="node.mark_faulty",
                 **documented(NodeMark))
    def mark_faulty(body: FaultyMark, who: Caller, request: Request) -> Document:
        if not who.is_platform_admin:
            raise forbidden("only a platform admin marks nodes")
        audit_resource(request, f"nodes/{body.node_id}")
        return tools.mark_node(body.node_id, True, body.reason)

    @routes.delete(f"{API}/preflight/faulty-nodes/{{node_id}}", name="node.unmark",
                   **documented(NodeMark))
    def unmark(node_id: str, who: Caller) -> Document:
        if not who.is_platform_admin:
            raise forbidden("only a platform admin marks nodes")
        return tools.mark_node(node_id, False, "")

    return routes
