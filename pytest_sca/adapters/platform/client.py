"""The platform REST adapter's one code path: operation name → route → HTTP → reference shape.

Every capability implementation of the platform adapter calls :meth:`PlatformClient.call`
(or :meth:`create` / :meth:`remove`): the operation is looked up in the target's
:class:`~pytest_sca.adapters.mapping.OperationTable` (its mapping over the reference
routes), sent by the :class:`~pytest_sca.adapters.http.HttpClient` and the answer
reshaped into the reference fields.

Everything :meth:`create` makes carries ``labels["sca-run"] = <run id>`` and its undo
is registered in the running check's cleanup scope; :meth:`PlatformClient.sweep` finds
what a killed run left by that label.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.http import ErrorShape, Exchange, HttpClient
from pytest_sca.adapters.mapping import OperationTable, build_table
from pytest_sca.capabilities import RUN_LABEL, Refused, TargetError, Unsupported
from pytest_sca.cleanup import UndoAction

_EXCHANGES_KEPT = 200


@dataclass(frozen=True)
class Sweep:
    """How the sweep finds one kind of resource: list it (with these parameters, per
    tenant when ``per_tenant``), keep what carries the run label, remove each."""

    list_operation: str
    remove_operation: str
    key: str
    query: Callable[[str], dict[str, str]] = lambda run_id: {}
    per_tenant: bool = False


#: kind (the collection a creating operation adds to) → how the sweep finds and removes it.
#: :meth:`PlatformClient.create` refuses a kind that is not here, so nothing the run creates
#: escapes the sweep.
SWEEPS: dict[str, Sweep] = {
    "jobs": Sweep("jobs.list", "jobs.delete", "job_id",
                  lambda run_id: {"label": f"{RUN_LABEL}={run_id}"}),
    "training": Sweep("training.list", "training.delete", "training_id"),
    "services": Sweep("services.list", "services.delete", "service_id"),
    "devmachines": Sweep("devmachines.list", "devmachines.delete", "devmachine_id"),
    "deployments": Sweep("deployments.list", "deployments.delete", "deployment_id"),
    "finetunes": Sweep("finetunes.list", "finetunes.delete", "job_id"),
    "models": Sweep("models.list", "models.delete", "model_id"),
    "files": Sweep("files.list", "files.delete", "file_id"),
    "workflow_apps": Sweep("workflow_apps.list", "workflow_apps.delete", "workflow_id"),
    "datasets": Sweep("datasets.list", "datasets.delete", "dataset_id"),
    "alert_rules": Sweep("alerts.rules.list", "alerts.rules.delete", "rule_id"),
    "orders": Sweep("orders.list", "orders.cancel", "order_id"),
    "clusters": Sweep("clusters.list", "clusters.delete", "cluster_id"),
    "images": Sweep("images.list", "images.delete", "image_id"),
    "users": Sweep("users.list", "users.delete", "user_id", per_tenant=True),
    "tenants": Sweep("tenants.list", "tenants.delete", "tenant_id"),
}


class _Root:
    """What every principal of one platform shares: the operation table, the undo
    registrations of what exists, the HTTP clients and the recent exchanges."""

    def __init__(self, config: PlatformConfig) -> None:
        self.table: OperationTable = build_table(config.mapping,
                                                 fallback=config.mapping_fallback)
        self.undo: dict[tuple[str, tuple[tuple[str, Any], ...]], UndoAction] = {}
        self.clients: list[HttpClient] = []
        self.exchanges: deque[Exchange] = deque(maxlen=_EXCHANGES_KEPT)


class PlatformClient:
    """One principal's view of the platform API (the target's token, or a user's key)."""

    def __init__(self, config: PlatformConfig, context: AdapterContext, *,
                 credential: str | None = None, _root: _Root | None = None) -> None:
        self.config = config
        self.context = context
        self._root = _root or _Root(config)
        self.http = HttpClient(
            config.url,
            token=credential if credential is not None else config.token,
            verify=config.verify,
            timeout=config.timeout,
            retries=config.retries,
            error_shape=ErrorShape(config.error_code_pointer, config.error_message_pointer),
            redact=context.redact,
            observe=self._root.exchanges.append,
        )
        self._root.clients.append(self.http)

    @property
    def table(self) -> OperationTable:
        """The target's operations: its mapping over the reference routes."""
        return self._root.table

    # -- the one code path -------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> Any:
        """Run one operation (``jobs.get``…) with its parameters; the answer in reference shape."""
        request = self.table.render(operation, params)
        fmt = self.table.get(operation).format
        answer = self.http.request(request.method, request.path, params=request.query,
                                   json_body=request.body, expect=fmt)
        try:
            return self.table.extract(operation, answer)
        except KeyError as exc:
            raise TargetError(
                f"{operation}: the answer of {request.method} {request.path} has nothing at "
                f"{exc.args[0]!r} (see adapters.platform.mapping in the target file)"
            ) from None

    def create(self, operation: str, kind: str, remove: str, keys: Mapping[str, str], /,
               **params: Any) -> Any:
        """Call a creating operation with the run label, and register how to remove the
        result in the running check's cleanup.

        ``kind`` is the collection it adds to (a key of :data:`SWEEPS`); ``keys`` maps each
        parameter of the ``remove`` operation to the field of the answer (or, prefixed
        with ``=``, to a parameter of this call) that fills it.
        """
        if kind not in SWEEPS:
            raise AssertionError(f"bug: {operation} creates {kind!r}, which the sweep cannot "
                                 "find: add it to SWEEPS")
        # The run label is what cleanup and sweep trust: a caller's labels never replace it.
        labels = {**(params.get("labels") or {}), RUN_LABEL: self.context.run_id}
        created = self.call(operation, **{**params, "labels": labels})
        remove_params = {
            name: params[source[1:]] if source.startswith("=") else created.get(source)
            for name, source in keys.items()
        }
        if all(value is not None for value in remove_params.values()):
            self.register_removal(kind, remove, remove_params)
        return created

    def register_removal(self, kind: str, remove: str, params: dict[str, Any]) -> None:
        """Register the removal of something that exists because of this run (created by it,
        or produced by what it created) in the running check's cleanup."""
        key = (remove, tuple(sorted(params.items())))
        if key in self._root.undo and not self._root.undo[key].done:
            return
        description = f"{remove} {', '.join(f'{k}={v}' for k, v in params.items())}"
        self._root.undo[key] = self.context.created(
            f"platform:{kind}", description, lambda: self.remove_quietly(remove, params))

    def remove(self, operation: str, **params: Any) -> None:
        """Call a removing operation; what it removed needs no cleanup any more."""
        self.call(operation, **params)
        self.forget_removal(operation, **params)

    def forget_removal(self, operation: str, **params: Any) -> None:
        """What ``operation`` with ``params`` would remove is gone already: cancel its undo."""
        action = self._root.undo.pop((operation, tuple(sorted(params.items()))), None)
        if action is not None:
            action.cancel()

    def remove_quietly(self, operation: str, params: Mapping[str, Any]) -> None:
        """Remove something at cleanup: stop a job first, and count "already gone" (404) as
        done; any other refusal or error is raised for the cleanup report."""
        if operation == "jobs.delete":
            # Refused here means already finished, or the platform stops on delete.
            with contextlib.suppress(Refused):
                self.call("jobs.stop", **params)
        try:
            self.call(operation, **params)
        except Refused as refusal:
            if refusal.status != 404:
                raise

    def recent_exchanges(self) -> list[Exchange]:
        """The latest requests of every principal (method, path, status, time), oldest first."""
        return list(self._root.exchanges)

    # -- principals, sweep, life cycle -------------------------------------------------

    def acting_as(self, credential: str) -> PlatformClient:
        """The same platform seen with another credential (a user's API key)."""
        self.context.redact.add([credential])
        return PlatformClient(self.config, self.context, credential=credential,
                              _root=self._root)

    def unretried(self) -> PlatformClient:
        """The same principal whose requests are sent once and never retried (measurements
        count every failed request instead of hiding it behind a retry)."""
        return PlatformClient(self.config.model_copy(update={"retries": 0}), self.context,
                              credential=self.http.token, _root=self._root)

    def sweep(self, run_id: str) -> list[str]:
        """Remove what run ``run_id`` left (anything labelled with its id), newest kinds first
        (jobs before the tenants they run in); one line per failure."""
        failures: list[str] = []
        tenants: list[str] | None = None
        for kind, how in SWEEPS.items():
            scopes: list[dict[str, str]] = [{}]
            if how.per_tenant:
                if tenants is None:
                    try:
                        tenants = [str(t.get("id")) for t in self.call("tenants.list")]
                    except (Refused, TargetError, Unsupported) as exc:
                        failures.append(f"tenants.list: {exc}")
                        tenants = []
                scopes = [{"tenant_id": tenant} for tenant in tenants]
            for scope in scopes:
                try:
                    found = self.call(how.list_operation, **how.query(run_id), **scope)
                except Unsupported:
                    continue
                except (Refused, TargetError) as exc:
                    failures.append(f"{kind}: {how.list_operation}: {exc}")
                    continue
                for item in found:
                    if (item.get("labels") or {}).get(RUN_LABEL) != run_id:
                        continue
                    params = {**scope, how.key: item.get("id")}
                    try:
                        self.remove_quietly(how.remove_operation, params)
                    except (Refused, TargetError, Unsupported) as exc:
                        failures.append(f"{kind} {item.get('id')}: {exc}")
        return failures

    def close(self) -> None:
        """Close every principal's connections."""
        for client in self._root.clients:
            client.close()
