"""The platform REST adapter: the reference API, or a vendor's API through a declarative mapping.

Every call goes through one path: operation name → :class:`OperationTable`
(the target's mapping over the reference routes) → :class:`HttpClient` →
answer reshaped into the reference fields. Capabilities are small facades
over that path (``adapter.capability("jobs")``).

Everything the adapter creates carries ``labels["sca-run"] = <run id>`` and is
remembered; :meth:`PlatformAdapter.cleanup` (also run by ``close``) removes it,
and :meth:`PlatformAdapter.sweep` removes leftovers of an earlier run.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

from prometheus_client.parser import text_string_to_metric_families

from pytest_sca.adapters.base import Adapter, AdapterContext, TargetError
from pytest_sca.adapters.capabilities import (
    PROTOCOLS,
    TERMINAL_JOB_STATUSES,
    MetricFamily,
    MetricSample,
    Record,
    wait_for,
)
from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.http import ApiError, ErrorShape, Exchange, HttpClient
from pytest_sca.adapters.mapping import OperationNotMapped, OperationTable, build_table

#: The label that ties a resource to the run that created it.
RUN_LABEL = "sca-run"

_EXCHANGES_KEPT = 200


class _Created:
    """What the run created, in order, with the operation that removes each thing."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def add(self, delete_operation: str, params: dict[str, Any]) -> None:
        self.entries.append((delete_operation, params))

    def discard(self, delete_operation: str, params: dict[str, Any]) -> None:
        if (delete_operation, params) in self.entries:
            self.entries.remove((delete_operation, params))


class PlatformAdapter(Adapter):
    """Speaks the platform REST API (docs/platform-api.md), or a vendor's through its mapping."""

    transport: ClassVar[str] = "platform"
    provides: ClassVar[frozenset[str]] = frozenset(PROTOCOLS)
    config_model: ClassVar[type[PlatformConfig]] = PlatformConfig

    def __init__(
        self,
        config: PlatformConfig,
        context: AdapterContext,
        *,
        credential: str | None = None,
        _root: PlatformAdapter | None = None,
    ) -> None:
        super().__init__(config, context)
        self._root = _root or self
        if _root is None:
            self.table: OperationTable = build_table(
                config.mapping, fallback=config.mapping_fallback
            )
            self._created = _Created()
            self._clients: list[HttpClient] = []
            self._exchanges: deque[Exchange] = deque(maxlen=_EXCHANGES_KEPT)
        else:
            self.table = _root.table
        self.http = HttpClient(
            config.url,
            token=credential if credential is not None else config.token,
            verify=config.verify,
            timeout=config.timeout,
            retries=config.retries,
            error_shape=ErrorShape(config.error_code_pointer, config.error_message_pointer),
            redact=context.redact,
            observe=self._root._exchanges.append,
        )
        self._root._clients.append(self.http)

    # -- the one code path -------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> Any:
        """Run one operation (``jobs.get``…) with its parameters; the answer in reference shape."""
        request = self.table.render(operation, params)
        fmt = self.table.get(operation).format
        answer = self.http.request(
            request.method,
            request.path,
            params=request.query,
            json_body=request.body,
            expect=fmt,
        )
        try:
            return self.table.extract(operation, answer)
        except KeyError as exc:
            raise TargetError(
                f"{operation}: the answer of {request.method} {request.path} has nothing at "
                f"{exc.args[0]!r} (see adapters.platform.mapping in the target file)"
            ) from None

    def create(
        self, operation: str, delete_operation: str, keys: Mapping[str, str], **params: Any
    ) -> Any:
        """Call a creating operation with the run label, and remember how to remove the result.

        ``keys`` maps each parameter of ``delete_operation`` to the field of the answer
        (or, prefixed with ``=``, to a parameter of this call) that fills it.
        """
        # The run label is what cleanup and sweep trust: a caller's labels never replace it.
        labels = {**(params.get("labels") or {}), RUN_LABEL: self.context.run_id}
        created = self.call(operation, **{**params, "labels": labels})
        delete_params = {
            name: params[source[1:]] if source.startswith("=") else created.get(source)
            for name, source in keys.items()
        }
        if all(value is not None for value in delete_params.values()):
            self._root._created.add(delete_operation, delete_params)
        return created

    def remove(self, delete_operation: str, **params: Any) -> None:
        """Call a deleting operation and forget the resource."""
        self.call(delete_operation, **params)
        self._root._created.discard(delete_operation, params)

    def recent_exchanges(self) -> list[Exchange]:
        """The latest requests of every principal (method, path, status, time), oldest first."""
        return list(self._root._exchanges)

    # -- principals, capabilities, life cycle -------------------------------------------

    def acting_as(self, credential: str) -> PlatformAdapter:
        """The same platform seen with another credential (a user's API key)."""
        return PlatformAdapter(self.config, self.context, credential=credential, _root=self._root)

    def capability(self, name: str) -> Any:
        """The facade of one capability this adapter provides (see ``capabilities.py``)."""
        try:
            facade = _FACADES[name]
        except KeyError:
            raise KeyError(f"the platform adapter does not provide {name!r}") from None
        return facade(self)

    @property
    def tenancy(self) -> PlatformTenancy:
        return PlatformTenancy(self)

    @property
    def compute(self) -> PlatformCompute:
        return PlatformCompute(self)

    @property
    def clusters(self) -> PlatformClusters:
        return PlatformClusters(self)

    @property
    def images(self) -> PlatformImages:
        return PlatformImages(self)

    @property
    def jobs(self) -> PlatformJobs:
        return PlatformJobs(self)

    @property
    def usage(self) -> PlatformUsage:
        return PlatformUsage(self)

    @property
    def billing(self) -> PlatformBilling:
        return PlatformBilling(self)

    @property
    def audit(self) -> PlatformAudit:
        return PlatformAudit(self)

    @property
    def metrics(self) -> PlatformMetrics:
        return PlatformMetrics(self)

    def cleanup(self) -> list[str]:
        """Remove what the run created, newest first; one line per failure (404 is success)."""
        root = self._root
        failures: list[str] = []
        while root._created.entries:
            operation, params = root._created.entries.pop()
            failure = root._remove_quietly(operation, params)
            if failure:
                failures.append(failure)
        return failures

    def sweep(self, run_id: str) -> list[str]:
        """Remove what a run left behind (anything labelled with its id); failures as lines."""
        root = self._root
        wanted = f"{RUN_LABEL}={run_id}"
        listings: tuple[tuple[str, dict[str, str], str, str], ...] = (
            ("jobs.list", {"label": wanted}, "jobs.delete", "job_id"),
            ("clusters.list", {}, "clusters.delete", "cluster_id"),
            ("images.list", {}, "images.delete", "image_id"),
            ("tenants.list", {}, "tenants.delete", "tenant_id"),
        )
        failures: list[str] = []
        for list_operation, query, delete_operation, key in listings:
            try:
                found = root.call(list_operation, **query)
            except (ApiError, TargetError) as exc:
                failures.append(f"{list_operation}: {exc}")
                continue
            for item in found:
                if (item.get("labels") or {}).get(RUN_LABEL) == run_id:
                    failure = root._remove_quietly(delete_operation, {key: item.get("id")})
                    if failure:
                        failures.append(failure)
        return failures

    def close(self) -> None:
        """Remove what the run created, then close every connection."""
        if self._root is not self:
            return
        self.cleanup()
        for client in self._clients:
            client.close()

    def _remove_quietly(self, operation: str, params: dict[str, Any]) -> str | None:
        try:
            if operation == "jobs.delete":
                # An ApiError here means already finished, or the platform stops on delete.
                with contextlib.suppress(ApiError):
                    self.call("jobs.stop", **params)
            self.call(operation, **params)
        except ApiError as exc:
            if exc.status != 404:
                return f"{operation} {params}: {exc}"
        except (TargetError, NotImplementedError) as exc:
            return f"{operation} {params}: {exc}"
        return None


def _labels(labels: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(labels) if labels else None


class Facade:
    """Base of a capability facade: calls operations on its adapter, may act as another user."""

    def __init__(self, adapter: PlatformAdapter) -> None:
        self.adapter = adapter

    def acting_as(self, credential: str) -> Any:
        """The same capability, authenticated with ``credential``."""
        return type(self)(self.adapter.acting_as(credential))


class PlatformTenancy(Facade):
    """Tenancy over the platform API (see :class:`~pytest_sca.adapters.capabilities.Tenancy`)."""

    def whoami(self) -> Record:
        return self.adapter.call("platform.whoami")

    def list_tenants(self) -> list[Record]:
        return self.adapter.call("tenants.list")

    def create_tenant(self, name: str, labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create(
            "tenants.create", "tenants.delete", {"tenant_id": "id"}, name=name, labels=labels
        )

    def get_tenant(self, tenant_id: str) -> Record:
        return self.adapter.call("tenants.get", tenant_id=tenant_id)

    def delete_tenant(self, tenant_id: str) -> None:
        self.adapter.remove("tenants.delete", tenant_id=tenant_id)

    def list_users(self, tenant_id: str) -> list[Record]:
        return self.adapter.call("users.list", tenant_id=tenant_id)

    def create_user(
        self, tenant_id: str, name: str, role: str, labels: Mapping[str, str] | None = None
    ) -> Record:
        user = self.adapter.create(
            "users.create",
            "users.delete",
            {"tenant_id": "=tenant_id", "user_id": "id"},
            tenant_id=tenant_id,
            name=name,
            role=role,
            labels=labels,
        )
        # A key the platform hands out during the run is a secret like the target's own.
        if isinstance(user.get("api_key"), str):
            self.adapter.context.redact.add([user["api_key"]])
        return user

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        self.adapter.remove("users.delete", tenant_id=tenant_id, user_id=user_id)

    def list_roles(self) -> list[Record]:
        return self.adapter.call("roles.list")

    def get_quota(self, tenant_id: str) -> Record:
        return self.adapter.call("quota.get", tenant_id=tenant_id)

    def set_quota(
        self,
        tenant_id: str,
        *,
        cpu: float | None = None,
        memory_gib: float | None = None,
        accelerators: int | None = None,
    ) -> Record:
        return self.adapter.call(
            "quota.set",
            tenant_id=tenant_id,
            cpu=cpu,
            memory_gib=memory_gib,
            accelerators=accelerators,
        )

    def storage_credentials(self, tenant_id: str) -> Record:
        credentials = self.adapter.call("storage.credentials", tenant_id=tenant_id)
        # Keys the platform hands out during the run are secrets like the target's own.
        self.adapter.context.redact.add(
            [v for k, v in credentials.items() if k in ("access_key", "secret_key")
             and isinstance(v, str)])
        return credentials


class PlatformCompute(Facade):
    """Compute inventory over the platform API."""

    def platform_info(self) -> Record:
        return self.adapter.call("platform.info")

    def list_nodes(self, cluster_id: str | None = None) -> list[Record]:
        return self.adapter.call("nodes.list", cluster_id=cluster_id)

    def get_node(self, node_id: str) -> Record:
        return self.adapter.call("nodes.get", node_id=node_id)


class PlatformClusters(Facade):
    """Clusters over the platform API."""

    def list_clusters(self, kind: str | None = None) -> list[Record]:
        return self.adapter.call("clusters.list", kind=kind)

    def create_cluster(
        self,
        name: str,
        kind: str,
        nodes: int,
        *,
        accelerator_model: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(
            "clusters.create",
            "clusters.delete",
            {"cluster_id": "id"},
            name=name,
            kind=kind,
            nodes=nodes,
            accelerator_model=accelerator_model,
            labels=labels,
        )

    def get_cluster(self, cluster_id: str) -> Record:
        return self.adapter.call("clusters.get", cluster_id=cluster_id)

    def delete_cluster(self, cluster_id: str) -> None:
        self.adapter.remove("clusters.delete", cluster_id=cluster_id)

    def scale_out(self, cluster_id: str, count: int) -> Record:
        return self.adapter.call("clusters.scale_out", cluster_id=cluster_id, count=count)

    def scale_in(self, cluster_id: str, node_id: str) -> Record:
        return self.adapter.call("clusters.scale_in", cluster_id=cluster_id, node_id=node_id)


class PlatformImages(Facade):
    """Images over the platform API."""

    def list_images(self) -> list[Record]:
        return self.adapter.call("images.list")

    def create_image(
        self,
        name: str,
        tag: str,
        *,
        framework: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(
            "images.create",
            "images.delete",
            {"image_id": "id"},
            name=name,
            tag=tag,
            framework=framework,
            labels=labels,
        )

    def delete_image(self, image_id: str) -> None:
        self.adapter.remove("images.delete", image_id=image_id)


class PlatformJobs(Facade):
    """Jobs over the platform API."""

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
        return self.adapter.create(
            "jobs.submit",
            "jobs.delete",
            {"job_id": "id"},
            name=name,
            image=image,
            command=list(command),
            resources=dict(resources),
            workers=workers,
            env=dict(env) if env else None,
            labels=_labels(labels),
        )

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Record]:
        return self.adapter.call("jobs.list", status=status, label=label)

    def get(self, job_id: str) -> Record:
        return self.adapter.call("jobs.get", job_id=job_id)

    def events(self, job_id: str) -> list[Record]:
        return self.adapter.call("jobs.events", job_id=job_id)

    def logs(self, job_id: str, worker: int = 0) -> str:
        return self.adapter.call("jobs.logs", job_id=job_id, worker=worker)

    def stop(self, job_id: str) -> Record:
        return self.adapter.call("jobs.stop", job_id=job_id)

    def restart(self, job_id: str) -> Record:
        return self.adapter.call("jobs.restart", job_id=job_id)

    def delete(self, job_id: str) -> None:
        self.adapter.remove("jobs.delete", job_id=job_id)

    def wait(
        self,
        job_id: str,
        until: Collection[str] = TERMINAL_JOB_STATUSES,
        timeout: float = 120.0,
    ) -> Record:
        return wait_for(
            lambda: self.get(job_id), lambda job: job.get("status") in until, timeout,
            lambda job: f"job {job_id} still {job.get('status')!r} (waited for "
                        f"{', '.join(sorted(until))})")


class PlatformUsage(Facade):
    """Usage records over the platform API."""

    def records(
        self,
        *,
        job_id: str | None = None,
        tenant_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[Record]:
        return self.adapter.call(
            "usage.list", job_id=job_id, tenant_id=tenant_id, since=since, until=until
        )


class PlatformBilling(Facade):
    """Products, orders and bills over the platform API."""

    def products(self) -> list[Record]:
        return self.adapter.call("products.list")

    def orders(self) -> list[Record]:
        return self.adapter.call("orders.list")

    def create_order(self, product_id: str, quantity: float) -> Record:
        # Orders cannot be deleted, only cancelled: labelled, but not cleaned up.
        labels = {RUN_LABEL: self.adapter.context.run_id}
        return self.adapter.call(
            "orders.create", product_id=product_id, quantity=quantity, labels=labels
        )

    def cancel_order(self, order_id: str) -> Record:
        return self.adapter.call("orders.cancel", order_id=order_id)

    def bills(self, *, tenant_id: str | None = None, period: str | None = None) -> list[Record]:
        return self.adapter.call("bills.list", tenant_id=tenant_id, period=period)


class PlatformAudit(Facade):
    """The audit log over the platform API."""

    def records(
        self, *, since: str | None = None, actor: str | None = None, action: str | None = None
    ) -> list[Record]:
        return self.adapter.call("audit.list", since=since, actor=actor, action=action)


class PlatformMetrics(Facade):
    """The platform's Prometheus scrape endpoint (exposition format)."""

    @property
    def source(self) -> str:
        """Where the samples come from, for evidence: the exposition endpoint's URL."""
        url = self.adapter.http.display_url
        try:
            return f"exposition endpoint {url}{self.adapter.table.get('metrics.scrape').path}"
        except OperationNotMapped:
            return f"exposition endpoint of {url} (metrics.scrape not mapped)"

    def scrape(self) -> list[MetricFamily]:
        text = self.adapter.call("metrics.scrape")
        try:
            return [
                MetricFamily(
                    name=family.name,
                    type=family.type,
                    help=family.documentation,
                    samples=tuple(
                        MetricSample(sample.name, dict(sample.labels), float(sample.value))
                        for sample in family.samples
                    ),
                )
                for family in text_string_to_metric_families(text)
            ]
        except (ValueError, TypeError, IndexError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TargetError(
                f"metrics.scrape: not Prometheus exposition format ({first})"
            ) from None

    def samples(self, name: str, labels: Mapping[str, str] | None = None) -> list[MetricSample]:
        wanted = dict(labels or {})
        return [
            sample
            for family in self.scrape()
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items())
        ]


_FACADES: dict[str, type[Any]] = {
    "tenancy": PlatformTenancy,
    "compute": PlatformCompute,
    "clusters": PlatformClusters,
    "images": PlatformImages,
    "jobs": PlatformJobs,
    "usage": PlatformUsage,
    "billing": PlatformBilling,
    "audit": PlatformAudit,
    "metrics": PlatformMetrics,
}


def _area_facades() -> dict[str, type[Any]]:
    """Facades of the platform's other areas: ``FACADES`` of each ``platform_*`` module.

    An area adds its capabilities in ``pytest_sca/adapters/platform_<area>.py``
    (facades subclassing :class:`Facade`, calling operations declared in its
    ``ops_<area>.py``) instead of editing this module.
    """
    from ..discovery import merge_declared

    return merge_declared("pytest_sca.adapters", "platform_", "FACADES", _FACADES,
                          "platform capability")


_FACADES.update(_area_facades())
PlatformAdapter.provides = frozenset(_FACADES)
