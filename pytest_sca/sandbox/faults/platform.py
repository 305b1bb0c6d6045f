"""Faults of the platform core: tenancy, quotas, jobs, metering, audit."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "quota_not_enforced": "jobs above the tenant quota are admitted",
    "cross_tenant_read": "a tenant's key can read/list other tenants' jobs, users, logs",
    "logs_dropped": "the job logs API returns empty text",
    "usage_not_metered": "no usage records are written for jobs",
    "audit_log_off": "mutations are not recorded in the audit log",
    "readonly_role_can_write": "the readonly role may POST/PUT/DELETE",
    "capacity_not_checked": "jobs are placed on nodes without free accelerators",
}
