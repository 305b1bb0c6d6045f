"""The platform REST adapter's one code path: operation name → route → HTTP → reference shape.

Every capability implementation of the platform adapter calls :meth:`PlatformClient.call`
(or :meth:`create` / :meth:`remove`): the operation is looked up in the target's
:class:`~pytest_sca.adapters.mapping.OperationTable` (its mapping over the reference
routes), sent by the :class:`~pytest_sca.adapters.http.HttpClient` and the answer
reshaped into the reference fields.

Everything :meth:`create` makes carries ``labels["sca-run"] = <run id>`` and its undo
is registered in the running check's cleanup scope; :meth:`PlatformClient.sweep` finds
what a killed run left by that label. A removal that fails (any status, any transport
error) is retried a bounded number of times, reported, and tried again when the adapter
closes; what is still left then is named with the command that sweeps it.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.http import (
    ErrorShape,
    Exchange,
    HttpClient,
    VerifyingSession,
    authenticators,
)
from pytest_sca.adapters.mapping import (
    OperationTable,
    Reply,
    Request,
    Template,
    TemplateFailure,
    build_table,
)
from pytest_sca.adapters.mapping.model import expression_of
from pytest_sca.adapters.mapping.templates import ABSENT, truthy
from pytest_sca.capabilities import RUN_LABEL, Refused, TargetError, Unsupported
from pytest_sca.cleanup import UndoAction, UndoFailure

_EXCHANGES_KEPT = 200
#: Attempts of one removal at cleanup (a vendor's delete may fail for a moment), and the
#: first pause between them (doubling).
REMOVE_ATTEMPTS = 3
REMOVE_BACKOFF_S = 0.5


@dataclass(frozen=True)
class Sweep:
    """How the sweep finds one kind of resource: list it (with these parameters, per
    tenant when ``per_tenant``), keep what carries the run label, remove each."""

    list_operation: str
    remove_operation: str
    key: str
    query: Callable[[str], dict[str, str]] = lambda run_id: {}
    per_tenant: bool = False


#: The states of a thing removed by cancelling it (an order) once it is removed.
CANCELLED = frozenset({"cancelled", "canceled"})

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
        #: Removals that failed at cleanup: tried again when the adapter closes.
        self.deferred: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}


class PlatformClient:
    """One principal's view of the platform API (the target's token, or a user's key)."""

    def __init__(self, config: PlatformConfig, context: AdapterContext, *,
                 credential: str | None = None, _root: _Root | None = None,
                 measuring: bool = False) -> None:
        self.config = config
        self.context = context
        self._root = _root or _Root(config)
        token = credential if credential is not None else config.token
        session = VerifyingSession()
        # A measurement sends every request it counts: no breaker stands in for the answer.
        session.breaker_enabled = not measuring
        auth = None if config.auth is None else authenticators(
            config.auth, token=token, const=config.constants, session=session,
            timeout=config.timeout, verify=config.verify, scrub=context.redact,
            learned=lambda secret: context.redact.add([secret]))
        self.http = HttpClient(
            config.url,
            token=token,
            auth=auth,
            verify=config.verify,
            timeout=config.timeout,
            retries=config.retries,
            error_shape=ErrorShape(config.error_code_pointer, config.error_message_pointer),
            redact=context.redact,
            observe=self._root.exchanges.append,
            session=session,
        )
        context.redact.add(self.http.secrets)
        self._root.clients.append(self.http)

    @property
    def table(self) -> OperationTable:
        """The target's operations: its mapping over the reference routes."""
        return self._root.table

    # -- the one code path -------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> Any:
        """Run one operation (``jobs.get``…) with its parameters; the answer in reference shape."""
        return self.table.run(operation, params, self._send, const=self.config.constants)

    def _send(self, request: Request) -> Reply:
        form = request.encoding == "form"
        return self.http.send(request.method, request.path, params=request.query,
                              json_body=None if form else request.body,
                              form=request.body if form else None, headers=request.headers,
                              expect=request.format,  # type: ignore[arg-type]
                              accept=request.accept,
                              refine=self._refine if self.config.errors else None)

    def _refine(self, status: int, headers: Mapping[str, str], body: Any
                ) -> tuple[int, str | None, str] | None:
        """The first ``errors`` rule of the target file that matches this error answer."""
        context = {"status": status, "answer": body, "header": dict(headers),
                   "const": dict(self.config.constants)}
        for rule in self.config.errors:
            if status not in rule.status:
                continue
            try:
                if rule.when is not None and not truthy(expression_of(rule.when), context):
                    continue
                code = _text(rule.code, context)
                message = _text(rule.message, context) or f"answered {status}"
            except TemplateFailure as exc:
                raise TargetError(f"adapters.platform.errors: {exc}") from None
            return rule.refuse, code, message
        return None

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
        """Remove something at cleanup: stop a job first, count "already gone" (404, 410) as
        done, and try a failing removal again (bounded, backing off). What still fails is
        raised for the cleanup report and tried once more when the adapter closes; a
        platform that offers no removal is reported, not raised."""
        if operation == "jobs.delete":
            # Best effort: already finished, not offered, or the platform stops on delete.
            with contextlib.suppress(Exception):
                self.call("jobs.stop", **params)
        key = (operation, tuple(sorted(params.items())))
        description = f"{operation} {', '.join(f'{k}={v}' for k, v in params.items())}"
        try:
            self._remove_with_retries(operation, params)
        except Unsupported as exc:
            self.context.ledger.failures.append(UndoFailure(description, f"{exc}: left on "
                                                            "the platform"))
            return
        except Exception as exc:  # noqa: BLE001 - any failure of a vendor's delete is reported
            self._root.deferred[key] = description
            raise TargetError(f"{exc} (tried {REMOVE_ATTEMPTS} times; tried again when the run "
                              "ends)") from None
        self._root.deferred.pop(key, None)

    def _remove_with_retries(self, operation: str, params: Mapping[str, Any],
                             attempts: int = REMOVE_ATTEMPTS) -> None:
        for attempt in range(attempts):
            try:
                self.call(operation, **params)
                return
            except Refused as refusal:
                if refusal.status in (404, 410):
                    return
                if refusal.status == 409 and self._cancelled_already(operation, params):
                    return
                if attempt == attempts - 1:
                    raise
            except Unsupported:
                raise
            except Exception:  # noqa: BLE001 - a 5xx, a transport error, a mapping bug: again
                if attempt == attempts - 1:
                    raise
            time.sleep(REMOVE_BACKOFF_S * 2**attempt)

    def _cancelled_already(self, operation: str, params: Mapping[str, Any]) -> bool:
        """Whether a conflict on a removal by cancelling (``orders.cancel``) means the thing is
        cancelled already (the check cancelled it, or a run killed before it forgot the
        removal): its kind's listing shows it cancelled. Anything else stays a failure."""
        how = next((s for s in SWEEPS.values() if s.remove_operation == operation), None)
        if how is None or not operation.endswith(".cancel"):
            return False
        scope = {k: v for k, v in params.items() if k != how.key}
        try:
            found = self.call(how.list_operation, **scope)
        except Exception:  # noqa: BLE001 - cannot tell: the conflict stands
            return False
        return any(str(item.get("id")) == str(params.get(how.key))
                   and str(item.get("status", "")).lower() in CANCELLED for item in found)

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
                              credential=self.http.token, _root=self._root, measuring=True)

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
                    except Unsupported:
                        tenants = []  # no tenants to look in: nothing of this kind to find
                    except (Refused, TargetError) as exc:
                        failures.append(f"tenants.list: {exc}")
                        tenants = []
                scopes = [{"tenant_id": tenant} for tenant in tenants]
            for scope in scopes:
                try:
                    found = self.call(how.list_operation, **how.query(run_id), **scope)
                except Unsupported:
                    continue
                except Refused as exc:
                    if not (how.per_tenant and exc.status == 404):  # the tenant went meanwhile
                        failures.append(f"{kind}: {how.list_operation}: {exc}")
                    continue
                except TargetError as exc:
                    failures.append(f"{kind}: {how.list_operation}: {exc}")
                    continue
                for item in found:
                    if (item.get("labels") or {}).get(RUN_LABEL) != run_id:
                        continue
                    if how.remove_operation.endswith(".cancel") and \
                            str(item.get("status", "")).lower() in CANCELLED:
                        continue  # removed already: cancelling it again is a conflict
                    params = {**scope, how.key: item.get("id")}
                    try:
                        self.remove_quietly(how.remove_operation, params)
                    except Exception as exc:  # noqa: BLE001 - every leftover gets its chance
                        failures.append(f"{kind} {item.get('id')}: {exc}")
        return failures

    def close(self) -> None:
        """Try the removals that failed at cleanup once more, report what is still left
        (with the command that sweeps it), and close every principal's connections."""
        for (operation, items), description in list(self._root.deferred.items()):
            try:
                self._remove_with_retries(operation, dict(items), attempts=1)
            except Exception as exc:  # noqa: BLE001 - reported, never raised at the end
                self.context.ledger.failures.append(UndoFailure(
                    f"{description} (tried again at the end of the run)",
                    f"{type(exc).__name__}: {exc}; remove it later with `python -m pytest_sca "
                    f"cleanup --target <target file> --run-id {self.context.run_id}`"))
        self._root.deferred.clear()
        for client in self._root.clients:
            client.close()


def _text(template: str | None, context: Mapping[str, Any]) -> str | None:
    if template is None:
        return None
    value = Template(template).render(context)
    return None if value is None or value is ABSENT or isinstance(value, (dict, list)) \
        else str(value)
