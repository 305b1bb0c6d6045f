"""Named behavioural faults the sandbox can be started with.

A fault makes the platform really misbehave in one way, so that the project's
tests can show that a check fails when the behaviour it verifies breaks. A
fault is named for the behaviour it breaks, never for a clause id.
"""

from __future__ import annotations

from collections.abc import Iterable

#: fault name → the behaviour it breaks (one line).
FAULTS: dict[str, str] = {
    "quota_not_enforced": "jobs above the tenant quota are admitted",
    "cross_tenant_read": "a tenant's key can read/list other tenants' jobs, users, logs",
    "logs_dropped": "the job logs API returns empty text",
    "usage_not_metered": "no usage records are written for jobs",
    "audit_log_off": "mutations are not recorded in the audit log",
    "readonly_role_can_write": "the readonly role may POST/PUT/DELETE",
    "capacity_not_checked": "jobs are placed on nodes without free accelerators",
}


def check_faults(names: Iterable[str]) -> tuple[str, ...]:
    """Return ``names`` as a tuple, or raise ``ValueError`` naming the first unknown fault."""
    checked = tuple(names)
    for name in checked:
        if name not in FAULTS:
            known = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown sandbox fault {name!r}: known faults are {known}")
    return checked
