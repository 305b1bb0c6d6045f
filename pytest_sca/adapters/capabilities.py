"""What a check may call on each capability the platform adapter provides.

One small :class:`typing.Protocol` per capability. Methods say what any AI
cloud platform offers, in the reference API's words (docs/platform-api.md);
answers are plain dicts with the documented fields, lists of them, or the
small dataclasses below. Any adapter (Kubernetes, a vendor's package) may
provide a capability by implementing its protocol.

Errors, the same for every method: a refusal (4xx) raises
:class:`pytest_sca.adapters.http.ApiError` with ``status`` and ``code``; a
target that cannot answer raises :class:`pytest_sca.adapters.base.TargetError`;
an operation the target does not offer raises
:class:`pytest_sca.adapters.mapping.OperationNotMapped`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

Record = dict[str, Any]

#: Job statuses after which nothing happens without a request.
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "stopped"})

_Principal = TypeVar("_Principal", bound="ActsAs")


class WaitTimeout(TimeoutError):
    """A bounded wait ended before the awaited state; ``last`` is what was seen last."""

    def __init__(self, message: str, last: Record | None) -> None:
        super().__init__(message)
        self.last = last


_Read = TypeVar("_Read")


def wait_for(read: Callable[[], _Read], done: Callable[[_Read], bool], timeout: float,
             describe: Callable[[_Read], str], *, first: float = 0.1,
             longest: float = 2.0) -> _Read:
    """Call ``read`` until ``done`` says yes, backing off ×1.5 from ``first`` to ``longest``
    seconds between reads; :class:`WaitTimeout` (``describe(last)``) after ``timeout`` s.

    Every wait of the suite is bounded and every poll backs off: this is the one loop.
    """
    deadline = time.monotonic() + timeout
    interval = first
    while True:
        value = read()
        if done(value):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = value if isinstance(value, dict) else None
            raise WaitTimeout(f"{describe(value)} after {timeout:g} s", last)
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, longest)


@dataclass(frozen=True)
class MetricSample:
    """One sample of a metrics scrape or query."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class MetricFamily:
    """One metric family: its name, type (counter, gauge…), help text and samples."""

    name: str
    type: str
    help: str
    samples: Sequence[MetricSample] = field(default_factory=tuple)


@runtime_checkable
class ActsAs(Protocol):
    """A capability that can act as another principal of the platform."""

    def acting_as(self: _Principal, credential: str) -> _Principal:
        """The same capability, authenticated with ``credential`` (e.g. a user's API key)."""
        ...


@runtime_checkable
class Tenancy(ActsAs, Protocol):
    """Tenants, users, roles, quotas and the caller's identity."""

    def whoami(self) -> Record:
        """The caller: ``{user_id, tenant_id, role}``."""
        ...

    def list_tenants(self) -> list[Record]:
        """Tenants the caller may see: ``{id, name, labels, created_at}``."""
        ...

    def create_tenant(self, name: str, labels: Mapping[str, str] | None = None) -> Record:
        """Create a tenant (labelled with the run id, removed at the end of the run)."""
        ...

    def get_tenant(self, tenant_id: str) -> Record:
        """One tenant."""
        ...

    def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant."""
        ...

    def list_users(self, tenant_id: str) -> list[Record]:
        """Users of a tenant: ``{id, tenant_id, name, role, created_at, labels}``."""
        ...

    def create_user(
        self, tenant_id: str, name: str, role: str, labels: Mapping[str, str] | None = None
    ) -> Record:
        """Create a user with a role; the answer carries its ``api_key`` (shown once)."""
        ...

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        """Delete a user."""
        ...

    def list_roles(self) -> list[Record]:
        """Roles: ``{name, permissions}``."""
        ...

    def get_quota(self, tenant_id: str) -> Record:
        """``{cpu, memory_gib, accelerators, used: {cpu, memory_gib, accelerators}}``."""
        ...

    def set_quota(
        self,
        tenant_id: str,
        *,
        cpu: float | None = None,
        memory_gib: float | None = None,
        accelerators: int | None = None,
    ) -> Record:
        """Set the limits given (the others unchanged); returns the quota."""
        ...

    def storage_credentials(self, tenant_id: str) -> Record:
        """The tenant's object storage: ``{endpoint, bucket, access_key, secret_key}``."""
        ...


@runtime_checkable
class Compute(ActsAs, Protocol):
    """The compute inventory: the platform itself and its nodes and accelerators."""

    def platform_info(self) -> Record:
        """``{name, version, api_version, simulated, faults}``."""
        ...

    def list_nodes(self, cluster_id: str | None = None) -> list[Record]:
        """Nodes, optionally of one cluster."""
        ...

    def get_node(self, node_id: str) -> Record:
        """``{id, cluster_id, hostname, kind, cpu, memory_gib, accelerators, health, …}``."""
        ...


@runtime_checkable
class Clusters(ActsAs, Protocol):
    """Bare-metal and container clusters, and their scaling."""

    def list_clusters(self, kind: str | None = None) -> list[Record]:
        """Clusters (``kind`` ``baremetal`` or ``container``)."""
        ...

    def create_cluster(
        self,
        name: str,
        kind: str,
        nodes: int,
        *,
        accelerator_model: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Create a cluster of ``nodes`` nodes (removed at the end of the run)."""
        ...

    def get_cluster(self, cluster_id: str) -> Record:
        """``{id, name, kind, tenant_id, node_ids, status}``."""
        ...

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete a cluster."""
        ...

    def scale_out(self, cluster_id: str, count: int) -> Record:
        """Add ``count`` nodes; returns the cluster."""
        ...

    def scale_in(self, cluster_id: str, node_id: str) -> Record:
        """Remove one node; returns the cluster."""
        ...


@runtime_checkable
class Images(ActsAs, Protocol):
    """Runtime images, preset and custom."""

    def list_images(self) -> list[Record]:
        """``{id, name, tag, framework, framework_version, preset, size_bytes}``."""
        ...

    def create_image(
        self,
        name: str,
        tag: str,
        *,
        framework: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Register an image (removed at the end of the run)."""
        ...

    def delete_image(self, image_id: str) -> None:
        """Delete an image."""
        ...


@runtime_checkable
class Jobs(ActsAs, Protocol):
    """Training and batch jobs: submit, observe, control."""

    def submit(
        self,
        name: str,
        image: str,
        command: Sequence[str],
        resources: Mapping[str, Any],
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Submit a job; ``resources`` is ``{cpu, memory_gib, accelerators, accelerator_model?}``.

        The job is labelled with the run id and removed at the end of the run.
        """
        ...

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Record]:
        """Jobs the caller may see, filtered by status and ``key=value`` label."""
        ...

    def get(self, job_id: str) -> Record:
        """``{id, tenant_id, name, image, command, status, exit_code, workers, resources, …}``."""
        ...

    def events(self, job_id: str) -> list[Record]:
        """``{time, type, reason, message}``, oldest first."""
        ...

    def logs(self, job_id: str, worker: int = 0) -> str:
        """What one worker printed."""
        ...

    def stop(self, job_id: str) -> Record:
        """Stop a job; returns it."""
        ...

    def restart(self, job_id: str) -> Record:
        """Restart a job; returns it."""
        ...

    def delete(self, job_id: str) -> None:
        """Delete a job."""
        ...

    def wait(
        self,
        job_id: str,
        until: Collection[str] = TERMINAL_JOB_STATUSES,
        timeout: float = 120.0,
    ) -> Record:
        """Poll (with backoff) until the job's status is in ``until``; :class:`WaitTimeout` if not.

        Returns the job as last read.
        """
        ...


@runtime_checkable
class Usage(ActsAs, Protocol):
    """Metered usage records."""

    def records(
        self,
        *,
        job_id: str | None = None,
        tenant_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[Record]:
        """``{id, tenant_id, job_id, resource, quantity, unit, start, end}``."""
        ...


@runtime_checkable
class Billing(ActsAs, Protocol):
    """Products, orders and bills."""

    def products(self) -> list[Record]:
        """``{id, name, kind, unit, unit_price, currency}``."""
        ...

    def orders(self) -> list[Record]:
        """``{id, tenant_id, product_id, quantity, status, amount}``."""
        ...

    def create_order(self, product_id: str, quantity: float) -> Record:
        """Order a product."""
        ...

    def cancel_order(self, order_id: str) -> Record:
        """Cancel an order; returns it."""
        ...

    def bills(self, *, tenant_id: str | None = None, period: str | None = None) -> list[Record]:
        """``{id, tenant_id, period, lines, total, currency}``; ``period`` is ``YYYY-MM``."""
        ...


@runtime_checkable
class Audit(ActsAs, Protocol):
    """The audit log of mutations."""

    def records(
        self, *, since: str | None = None, actor: str | None = None, action: str | None = None
    ) -> list[Record]:
        """``{id, time, actor, tenant_id, action, resource, result}``."""
        ...


@runtime_checkable
class Metrics(Protocol):
    """Monitoring metrics, from a scrape endpoint or a metrics server."""

    @property
    def source(self) -> str:
        """Where the figures come from, for evidence ("Prometheus at …", "exposition …")."""
        ...

    def scrape(self) -> list[MetricFamily]:
        """Every metric family the target exposes now."""
        ...

    def samples(self, name: str, labels: Mapping[str, str] | None = None) -> list[MetricSample]:
        """Current samples of ``name`` whose labels include ``labels``."""
        ...


#: capability name → the protocol a provider implements.
PROTOCOLS: dict[str, type[Any]] = {
    "tenancy": Tenancy,
    "compute": Compute,
    "clusters": Clusters,
    "images": Images,
    "jobs": Jobs,
    "usage": Usage,
    "billing": Billing,
    "audit": Audit,
    "metrics": Metrics,
}
