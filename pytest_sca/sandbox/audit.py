"""The audit log: one entry per mutation (and per read of a dataset's content).

The API's audit middleware records every authenticated mutation with its
outcome; the security area records dataset reads itself. Nothing is recorded
under the ``audit_log_off`` fault; under ``audit_clock_skewed`` entries are stamped an hour late.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

#: How late the audit log's clock runs under ``audit_clock_skewed``.
AUDIT_SKEW = timedelta(hours=1)


def skewed(time: str, by: timedelta) -> str:
    """A time of :func:`utc_now` moved by ``by``, in the same format."""
    moved = datetime.fromisoformat(time.replace("Z", "+00:00")) + by
    return moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    """Audit entries in the store."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    def record(self, who: Principal, action: str, resource: str, result: str,
               status: int) -> None:
        """One audit entry (nothing under the ``audit_log_off`` fault)."""
        if Fault.AUDIT_LOG_OFF in self.faults:
            return
        now = utc_now()
        if Fault.AUDIT_CLOCK_SKEWED in self.faults:
            now = skewed(now, AUDIT_SKEW)
        self.store.put("audit", {
            "id": new_id("audit"),
            "time": now,
            "created_at": now,
            "actor": who.user_id,
            "tenant_id": who.tenant_id,
            "role": who.role,
            "action": action,
            "resource": resource,
            "result": result,
            "status_code": status,
            "labels": {},
        })

    def entries(self, tenant_id: str | None, since: str | None, actor: str | None,
                action: str | None) -> list[Document]:
        """Entries of one tenant (all when ``None``), filtered."""
        return [
            e for e in self.store.list("audit", tenant_id=tenant_id)
            if (since is None or e["time"] >= since)
            and (actor is None or e["actor"] == actor)
            and (action is None or e["action"] == action)
        ]
