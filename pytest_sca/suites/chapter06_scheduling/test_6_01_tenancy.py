"""6.1 多租户管理 Multi-tenant management."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.capabilities import RefusalReason, Refused
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ..library import PROBE_COMMAND, SMALL, refusal_of


@pytest.mark.clause("6.1.a")
@pytest.mark.mutating
def test_tenants_are_isolated(sca: CheckContext, probe_tenant: Any, probe_image: str,
                              cleanup: Cleanup) -> None:
    """Two probe tenants: B's user cannot see, read or stop A's job, its logs or its users."""
    owner = probe_tenant("iso-a")
    other = probe_tenant("iso-b")
    job = owner.jobs.submit(sca.name("iso-job"), probe_image, PROBE_COMMAND, SMALL,
                            labels=sca.labels)
    attempts = {
        "get the job": lambda: other.jobs.get(job["id"]),
        "read its logs": lambda: other.jobs.logs(job["id"]),
        "read its events": lambda: other.jobs.events(job["id"]),
        "stop it": lambda: other.jobs.stop(job["id"]),
        "list the tenant's users": lambda: other.tenancy.list_users(owner.tenant_id),
    }
    leaks = [what for what, call in attempts.items() if refusal_of(call) is None]
    listed = [j["id"] for j in other.jobs.list_jobs()]
    if job["id"] in listed:
        leaks.append("list the job")
    sca.evidence("cross-tenant attempts", {"job": job["id"], "allowed": leaks})
    assert not leaks, (f"[6.1.a] tenant B's user could {', '.join(leaks)} of tenant A "
                       f"(job {job['id']})")


@pytest.mark.clause("6.1.b")
@pytest.mark.mutating
def test_quota_is_enforced(sca: CheckContext, tenancy: Any, probe_tenant: Any,
                           probe_image: str, cleanup: Cleanup) -> None:
    """Quota of 1 accelerator: a job requesting 2 is refused or queued, never running."""
    user = probe_tenant("quota")
    tenancy.set_quota(user.tenant_id, accelerators=1)
    over = {**SMALL, "accelerators": 2}
    try:
        job = user.jobs.submit(sca.name("over-quota"), probe_image,
                               ["python", "-c", "import time; time.sleep(5)"], over,
                               labels=sca.labels)
    except Refused as refusal:
        sca.evidence("refusal", str(refusal))
        assert refusal.reason is RefusalReason.QUOTA, (
            f"[6.1.b] the job above the quota was refused, but not for the quota: {refusal}")
        return
    seen = user.jobs.wait(job["id"], until={"running", "succeeded", "failed"}, timeout=5.0) \
        if job["status"] != "running" else job
    sca.evidence("job above quota", seen)
    assert seen["status"] not in ("running", "succeeded"), (
        f"[6.1.b] quota 1 accelerator not enforced: job {job['id']} requesting 2 "
        f"reached {seen['status']}")


@pytest.mark.clause("6.1.c")
@pytest.mark.mutating
def test_readonly_user_reads_but_cannot_create(sca: CheckContext, probe_tenant: Any,
                                               probe_image: str, cleanup: Cleanup) -> None:
    """A read-only user of a tenant can list its jobs and users but cannot submit a job."""
    admin = probe_tenant("roles", role="tenant_admin")
    reader = probe_tenant("roles", role="readonly", tenant_id=admin.tenant_id)
    assert reader.user["role"] == "readonly"
    assert refusal_of(reader.jobs.list_jobs) is None, "[6.1.c] a read-only user cannot list jobs"
    refusal = None
    try:
        reader.jobs.submit(sca.name("ro-job"), probe_image, PROBE_COMMAND, SMALL,
                           labels=sca.labels)
    except Refused as exc:
        refusal = exc
    sca.evidence("read-only submit", str(refusal) if refusal else "accepted")
    assert refusal is not None and refusal.status in (401, 403), (
        "[6.1.c] a read-only user could submit a job"
        + (f" (answered {refusal.status})" if refusal else ""))
