"""6.1 多租户管理 Multi-tenant management."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import pytest

from pytest_sca.capabilities import (
    Jobs,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    Tenancy,
    Unsupported,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser
from ..library import PROBE_COMMAND, READ_DENIED, SMALL, refusal_of
from .conftest import START_WAIT_S, sleeper, wait_or_last

#: How long the probe jobs that must stay up run: far longer than any attempt takes (the
#: check stops them itself; the adapter removes them at the end).
HOLD_S = 600
#: Least time a job above the quota is watched for starting: longer still when a job within
#: the quota took longer to start.
OVER_QUOTA_WATCH_S = 5.0


def _attempt(call: Callable[[], object]) -> Refused | Unsupported | None:
    """The refusal a call met, ``Unsupported`` when the target does not offer it, or None
    when it succeeded."""
    try:
        return refusal_of(call)
    except Unsupported as exc:
        return exc


@pytest.mark.clause("6.1.a")
@pytest.mark.mutating
def test_tenants_are_isolated(sca: CheckContext, probe_tenant: MakeProbeUser,
                              probe_image: str) -> None:
    """While tenant A's job runs, tenant B's user can neither see, read nor stop it, nor list
    A's users or read A's storage keys: only an access refusal (for a read also "not found")
    counts, A itself can do each of these, and A's job is still running afterwards."""
    owner = probe_tenant("iso-a")
    other = probe_tenant("iso-b")
    job = owner.jobs.submit(sca.name("iso-job"), probe_image, sleeper(HOLD_S), SMALL,
                            labels=sca.labels)
    owner.jobs.wait(job["id"], until={"running"}, timeout=START_WAIT_S)
    job_reads: dict[str, Callable[[Jobs], object]] = {
        "get the job": lambda as_user: as_user.get(job["id"]),
        "read its logs": lambda as_user: as_user.logs(job["id"]),
        "read its events": lambda as_user: as_user.events(job["id"]),
    }
    tenant_reads: dict[str, Callable[[Tenancy], object]] = {
        "list tenant A's users": lambda as_user: as_user.list_users(owner.tenant_id),
        "read tenant A's storage keys": lambda as_user: as_user.storage_credentials(
            owner.tenant_id),
    }
    # What A's own user meets doing the same (the control), and what B's user meets.
    own: dict[str, Refused | Unsupported | None] = {}
    seen: dict[str, Refused | Unsupported | None] = {}
    for what, read_job in job_reads.items():
        own[what] = _attempt(partial(read_job, owner.jobs))
        seen[what] = _attempt(partial(read_job, other.jobs))
    for what, read_tenant in tenant_reads.items():
        own[what] = _attempt(partial(read_tenant, owner.tenancy))
        seen[what] = _attempt(partial(read_tenant, other.tenancy))
    listed = {j["id"] for j in other.jobs.list_jobs()}
    stopped_by_other = _attempt(lambda: other.jobs.stop(job["id"]))
    after = owner.jobs.get(job["id"])
    stopped_by_owner = _attempt(lambda: owner.jobs.stop(job["id"])) \
        if after.get("status") == "running" else None

    offered = [what for what in seen if not isinstance(seen[what], Unsupported)]
    leaks = [what for what in offered if seen[what] is None]
    if job["id"] in listed:
        leaks.append("list the job")
    if stopped_by_other is None:
        leaks.append("stop the job")
    sca.evidence("cross-tenant attempts", {
        "job": job["id"], "status after the attempts": after.get("status"),
        "tenant B": {what: str(seen[what] or "allowed") for what in seen}
        | {"list the job": "listed" if job["id"] in listed else "not listed",
           "stop the job": str(stopped_by_other or "allowed")},
        "tenant A (control)": {what: str(own[what] or "allowed") for what in own}
        | {"stop the job": str(stopped_by_owner or "allowed")},
    })
    assert not leaks, (f"[6.1.a] tenant B's user could {', '.join(leaks)} of tenant A "
                       f"(job {job['id']})")
    if after.get("status") != "running":
        raise TargetError(f"[6.1.a] tenant A's job {job['id']} was {after.get('status')} after "
                          "the attempts, not running: B's refusals cannot be told from "
                          "'already finished'")
    uncontrolled = {what: str(refusal) for what, refusal in own.items()
                    if what in offered and isinstance(refusal, Refused)}
    if isinstance(stopped_by_owner, Refused):
        uncontrolled["stop the job"] = str(stopped_by_owner)
    if uncontrolled:
        raise TargetError(f"[6.1.a] tenant A's own user was refused what B tried, so B's "
                          f"refusals prove nothing: {uncontrolled}")
    wrong: dict[str, str] = {}
    for what in offered:
        refusal = seen[what]
        if isinstance(refusal, Refused) and refusal.reason not in READ_DENIED:
            wrong[what] = str(refusal)
    # "Not found" hides the job from B and counts, since the job is seen running after it.
    if isinstance(stopped_by_other, Refused) and stopped_by_other.reason not in READ_DENIED:
        wrong["stop the job"] = str(stopped_by_other)
    assert not wrong, (f"[6.1.a] tenant B's user was refused access to tenant A's running job "
                       f"{job['id']}, but not as unauthorised: {wrong}")


@pytest.mark.clause("6.1.b")
@pytest.mark.mutating
def test_quota_is_enforced(sca: CheckContext, tenancy: Tenancy, probe_tenant: MakeProbeUser,
                           probe_image: str) -> None:
    """Quota of 1 accelerator: a 1-card job runs, then a 2-card job is refused for the quota
    or held — never started — for 5 s or twice the time the 1-card job took to start."""
    user = probe_tenant("quota")
    quota = tenancy.set_quota(user.tenant_id, accelerators=1)
    assert quota.get("accelerators") == 1, (
        f"[6.1.b] a quota of 1 accelerator was set; the platform reports "
        f"{quota.get('accelerators')}")
    one: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1}
    began = time.monotonic()
    within = user.jobs.submit(sca.name("within-quota"), probe_image, sleeper(HOLD_S), one,
                              labels=sca.labels)
    user.jobs.wait(within["id"], until={"running"}, timeout=START_WAIT_S)
    took = time.monotonic() - began
    user.jobs.stop(within["id"])
    user.jobs.wait(within["id"], timeout=START_WAIT_S)
    over: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 2}
    try:
        job = user.jobs.submit(sca.name("over-quota"), probe_image, sleeper(HOLD_S), over,
                               labels=sca.labels)
    except Refused as refusal:
        sca.evidence("refusal", str(refusal))
        assert refusal.reason is RefusalReason.QUOTA, (
            f"[6.1.b] the job above the quota was refused, but not for the quota: {refusal}")
        return
    watch = max(OVER_QUOTA_WATCH_S, 2 * took)
    seen = wait_or_last(user.jobs, job["id"], {"running", "succeeded"}, watch)
    started = [w.get("rank") for w in seen.get("workers") or [] if w.get("started_at")]
    sca.evidence("job above quota", {"job": seen, "watched for s": round(watch, 2),
                                     "1-card job started after s": round(took, 2)})
    assert seen.get("status") not in ("running", "succeeded") and not started, (
        f"[6.1.b] quota 1 accelerator not enforced: job {job['id']} requesting 2 "
        f"reached {seen.get('status')}" + (f" (workers {started} started)" if started else ""))


@pytest.mark.clause("6.1.c")
@pytest.mark.mutating
def test_readonly_user_reads_but_cannot_create(sca: CheckContext, probe_tenant: MakeProbeUser,
                                               probe_image: str) -> None:
    """In one probe tenant an admin submits a job; a read-only user lists and reads it and
    lists the tenant's users, but its own identical submission is refused as unauthorised."""
    admin = probe_tenant("roles", role="tenant_admin")
    reader = probe_tenant("roles", role="readonly", tenant_id=admin.tenant_id)
    assert reader.user.get("role") == "readonly", (
        f"[6.1.c] a user created as readonly has role {reader.user.get('role')!r}")
    job = admin.jobs.submit(sca.name("roles-admin"), probe_image, PROBE_COMMAND, SMALL,
                            labels=sca.labels)
    reads: dict[str, object] = {}
    try:
        reads["list jobs"] = job["id"] in {j["id"] for j in reader.jobs.list_jobs()}
        reads["get the job"] = reader.jobs.get(job["id"]).get("id") == job["id"]
        users = {u.get("id") for u in reader.tenancy.list_users(admin.tenant_id)}
        reads["list users"] = {admin.user.get("id"), reader.user.get("id")} <= users
    except Refused as denied:
        pytest.fail(f"[6.1.c] a read-only user cannot read its tenant: {denied}")
    refusal = None
    try:
        reader.jobs.submit(sca.name("roles-reader"), probe_image, PROBE_COMMAND, SMALL,
                           labels=sca.labels)
    except Refused as exc:
        refusal = exc
    sca.evidence("read-only user", {"reads": reads,
                                    "submit": str(refusal) if refusal else "accepted"})
    unread = [what for what, ok in reads.items() if not ok]
    assert not unread, (f"[6.1.c] a read-only user's reads miss what its tenant has: "
                        f"{', '.join(unread)} (job {job['id']})")
    assert refusal is not None, "[6.1.c] a read-only user could submit a job"
    assert refusal.is_authorization, (
        f"[6.1.c] a read-only user's submission was refused, but not as unauthorised "
        f"(the admin's identical one was accepted): {refusal}")
