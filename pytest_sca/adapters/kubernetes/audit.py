"""``audit``: the API server's own audit log, where the target file says it can be read
(``audit_log``: the file ``--audit-log-path`` writes, copied or mounted for the run).

Each line is an ``audit.k8s.io/v1`` Event
(https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/): only the ``ResponseComplete``
stage is a finished action. The actor is ``user.username``; a service account
(``system:serviceaccount:<namespace>:<name>``) reads as its name, the id this adapter gives
the users it creates, with its namespace as the tenant. The action is the ``verb``, the
resource ``objectRef`` as ``<namespace>/<resource>/<name>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import AuditRecord, TargetError, Unsupported

from .adapter import KubernetesAdapter

MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def _principal(username: str) -> tuple[str, str | None]:
    """(actor, its tenant): a service account is its name in its namespace, as the adapter
    names the users it creates; anyone else is the username."""
    parts = username.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return parts[3], parts[2]
    return username, None


class KubeAudit(Facade[KubernetesAdapter]):
    """The API server's audit log (:class:`~pytest_sca.capabilities.Audit`)."""

    def records(self, *, since: str | None = None, actor: str | None = None,
                action: str | None = None) -> list[AuditRecord]:
        path = self.subject.config.audit_log
        if not path:
            raise Unsupported("the target file names no API server audit log: set "
                              "adapters.kubernetes.audit_log (the --audit-log-path file)")
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise TargetError(f"kubernetes audit log {path}: {exc.strerror}") from None
        found: list[AuditRecord] = []
        for line in lines:
            try:
                event: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            if event.get("kind") != "Event" or event.get("stage") != "ResponseComplete":
                continue
            record = _record(event)
            if actor and record.get("actor") != actor:
                continue
            if action and record.get("action") != action:
                continue
            if since and str(record.get("time")) < since:
                continue
            found.append(record)
        return found


def _record(event: dict[str, Any]) -> AuditRecord:
    ref = event.get("objectRef") or {}
    code = int((event.get("responseStatus") or {}).get("code") or 0)
    resource = "/".join(p for p in (ref.get("namespace"), ref.get("resource"),
                                    ref.get("name")) if p)
    actor, home = _principal(str((event.get("user") or {}).get("username", "")))
    return {"id": str(event.get("auditID", "")),
            "time": str(event.get("stageTimestamp") or event.get("requestReceivedTimestamp")),
            "actor": actor, "tenant_id": home or ref.get("namespace"),
            "action": str(event.get("verb", "")),
            "resource": resource or str(event.get("requestURI", "")),
            "result": "success" if 200 <= code < 300 else "failure", "status_code": code}
