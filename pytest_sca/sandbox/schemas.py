"""Response shapes of the reference platform API, for its OpenAPI document.

They document what the handlers return; the handlers return plain dicts and
FastAPI does not re-validate them. The sandbox's tests check every answer
against these shapes with schemathesis (``response_schema_conformance``), so
the document cannot drift from the behaviour. Every model allows extra keys:
an implementation may say more than the contract requires.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class Open(BaseModel):
    """A response object that may carry more keys than listed."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(Open):
    """The ``error`` member of an error body."""

    code: str
    message: str


class ErrorBody(Open):
    """Every 4xx answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


T = TypeVar("T")


class Items(Open, Generic[T]):
    """A list answer."""

    items: list[T]


class Info(Open):
    """GET /info."""

    name: str
    version: str
    api_version: str
    simulated: bool
    faults: list[str] | None = None


class WhoAmI(Open):
    """GET /whoami."""

    user_id: str
    tenant_id: str
    role: str


class Role(Open):
    """A role and what it may do."""

    name: str
    permissions: list[str]


class Tenant(Open):
    """A tenant."""

    id: str
    name: str
    labels: dict[str, str]
    created_at: str


class User(Open):
    """A user of a tenant."""

    id: str
    tenant_id: str
    name: str
    role: str
    created_at: str
    labels: dict[str, str]


class NewUser(User):
    """A user just created, with its API key (shown once)."""

    api_key: str


class Usage3(Open):
    """What a tenant's active jobs request."""

    cpu: float
    memory_gib: float
    accelerators: float


class Quota(Open):
    """A tenant's limits and use."""

    cpu: float
    memory_gib: float
    accelerators: float
    used: Usage3


class Storage(Open):
    """A tenant's object-storage endpoint and credentials."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str


class Cluster(Open):
    """A (simulated) cluster."""

    id: str
    name: str
    kind: str
    tenant_id: str | None
    node_ids: list[str]
    status: str
    simulated: bool
    created_at: str
    labels: dict[str, str]


class Accelerator(Open):
    """One simulated accelerator card."""

    index: int
    vendor: str
    model: str
    memory_gib: float
    allocated_to: str | None
    simulated: bool


class SshAddress(Open):
    """Where a node's SSH server listens."""

    host: str
    port: int
    user: str


class Node(Open):
    """A (simulated) node."""

    id: str
    cluster_id: str
    hostname: str
    kind: str
    cpu: float
    memory_gib: float
    accelerators: list[Accelerator]
    ssh: SshAddress | None
    health: str
    simulated: bool
    created_at: str
    labels: dict[str, str]


class Image(Open):
    """A container image record."""

    id: str
    name: str
    tag: str
    framework: str | None
    framework_version: str | None
    preset: bool
    size_bytes: int
    created_at: str
    labels: dict[str, str]


class Worker(Open):
    """One worker of a job."""

    rank: int
    status: str
    node_id: str | None
    exit_code: int | None


class Job(Open):
    """A job."""

    id: str
    tenant_id: str
    name: str
    image: str
    command: list[str]
    status: str
    exit_code: int | None
    workers: list[Worker]
    resources: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    labels: dict[str, str]


class Event(Open):
    """One event of a job."""

    time: str
    type: str
    reason: str
    message: str


class UsageRecord(Open):
    """Metered use of one resource by one worker."""

    id: str
    tenant_id: str
    job_id: str
    resource: str
    quantity: float
    unit: str
    start: str
    end: str


class Product(Open):
    """A product of the catalogue."""

    id: str
    name: str
    kind: str
    unit: str
    unit_price: float
    currency: str


class Order(Open):
    """An order of a product."""

    id: str
    tenant_id: str
    product_id: str
    quantity: float
    status: str
    amount: float


class Bill(Open):
    """A tenant's bill for a month."""

    id: str
    tenant_id: str
    period: str
    lines: list[dict[str, Any]]
    total: float
    currency: str


class AuditEntry(Open):
    """One audited mutation."""

    id: str
    time: str
    actor: str
    tenant_id: str
    action: str
    resource: str
    result: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing or invalid API key"),
        (403, "the key's role does not allow this"),
        (404, "no such resource (or not visible to this key)"),
        (409, "conflict, quota exceeded"),
        (422, "invalid request"),
    )
}


def documented(model: Any, status: int = 200) -> dict[str, Any]:
    """Route keyword arguments: ``model`` documents the success answer, ErrorBody the errors."""
    if model is None:
        success: dict[str, Any] = {"description": "done, no content"}
    else:
        success = {"model": model, "description": "success"}
    return {
        "status_code": status,
        "response_model": None,
        "responses": {status: success, **ERRORS},
    }
