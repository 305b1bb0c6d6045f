"""Request bodies of the reference platform API (pydantic), with bounds on every number.

Bounds keep fuzzed requests (schemathesis) from reaching SQLite or the
scheduler with values they cannot hold: out of range is a 422, never a 500.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Labels = dict[Annotated[str, StringConstraints(min_length=1, max_length=128)],
              Annotated[str, StringConstraints(max_length=256)]]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[^\x00]*$")]
Role = Literal["platform_admin", "tenant_admin", "member", "readonly"]
#: The simulated accelerator models: the keys of inventory.ACCELERATOR_MODELS (a test checks).
AcceleratorModelName = Literal["Ascend910B", "MLU370-X8", "DCU-Z100", "H100"]


class TenantCreate(BaseModel):
    """POST /tenants."""

    name: Name
    labels: Labels = Field(default_factory=dict)


class UserCreate(BaseModel):
    """POST /tenants/{id}/users."""

    name: Name
    role: Role
    labels: Labels = Field(default_factory=dict)


class QuotaUpdate(BaseModel):
    """PUT /tenants/{id}/quota: only the limits given change."""

    cpu: float | None = Field(default=None, ge=0, le=1_000_000)
    memory_gib: float | None = Field(default=None, ge=0, le=1_000_000)
    accelerators: int | None = Field(default=None, ge=0, le=1_000_000)


class ClusterCreate(BaseModel):
    """POST /clusters: a simulated cluster of ``nodes`` nodes."""

    name: Name
    kind: Literal["baremetal", "container"]
    nodes: int = Field(default=1, ge=0, le=64)
    accelerator_model: AcceleratorModelName | None = None
    tenant_id: str | None = Field(default=None, max_length=64)
    labels: Labels = Field(default_factory=dict)


class ScaleOut(BaseModel):
    """POST /clusters/{id}/nodes."""

    count: int = Field(ge=1, le=64)


class ImageCreate(BaseModel):
    """POST /images (a tenant's own image record)."""

    name: Name
    tag: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "latest"
    framework: Annotated[str, StringConstraints(max_length=64)] | None = None
    framework_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    labels: Labels = Field(default_factory=dict)


class Resources(BaseModel):
    """What each worker of a job requests."""

    cpu: float = Field(default=1.0, gt=0, le=1024)
    memory_gib: float = Field(default=1.0, gt=0, le=65_536)
    accelerators: int = Field(default=0, ge=0, le=1024)
    accelerator_model: AcceleratorModelName | None = None
    #: A fraction of one shared card (with ``accelerators: 1``); ``None`` = whole cards.
    accelerator_share: float | None = Field(default=None, gt=0, le=1)
    #: Place the workers on nodes of this cluster only.
    cluster_id: str | None = Field(default=None, min_length=1, max_length=64)


class JobCreate(BaseModel):
    """POST /jobs."""

    name: Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    command: list[Annotated[str, StringConstraints(max_length=65_536)]] = Field(
        min_length=1, max_length=1024
    )
    workers: int = Field(default=1, ge=1, le=64)
    resources: Resources = Field(default_factory=Resources)
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    labels: Labels = Field(default_factory=dict)
    #: Higher first among the pending jobs of one queue.
    priority: int = Field(default=0, ge=0, le=1000)
    queue: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "default"
    #: ``tenant``: run in the tenant's isolated network namespace (no 127.0.0.1 of the host).
    network: Literal["host", "tenant"] = "host"


class OrderCreate(BaseModel):
    """POST /orders."""

    product_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    quantity: float = Field(gt=0, le=1_000_000)
    labels: Labels = Field(default_factory=dict)
