"""6.1 多租户管理 Multi-tenant management."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from functools import partial

import pytest

from pytest_sca.capabilities import (
    Job,
    JobEvent,
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
from ..library import PROBE_COMMAND, READ_DENIED, SMALL, jobs_named, refusal_of
from .conftest import sleeper, wait_or_last

#: How long the probe jobs that must stay up run: far longer than any attempt takes (the
#: check stops them itself; the adapter removes them at the end).
HOLD_S = 600
#: Least time a job above the quota is watched for starting: longer still when a job within
#: the quota took longer to start.
OVER_QUOTA_WATCH_S = 5.0
#: Scheduler reason codes that name a limit of the tenant's account: Slurm's pending reasons
#: for an association's or QOS's limits (squeue(1), "JOB REASON CODES": ``AssocGrpGRES``,
#: ``QOSMaxGRESPerUser``, ``AssociationResourceLimit``…), Slurm's word for a quota.
_LIMIT_REASON = re.compile(r"^(?:Assoc|QOS)\w*(?:Grp|Max|Limit)")


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
    start_wait = sca.settings.jobs.start_timeout_s
    owner = probe_tenant("iso-a")
    other = probe_tenant("iso-b")
    job = owner.jobs.submit(sca.name("iso-job"), probe_image, sleeper(HOLD_S), SMALL,
                            labels=sca.labels)
    owner.jobs.wait(job["id"], until={"running"}, timeout=start_wait)
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
    or held — never placed or started — for 5 s or twice the time the 1-card job took to
    start, and the hold is said to be for the quota (an event or pending reason)."""
    start_wait = sca.settings.jobs.start_timeout_s
    user = probe_tenant("quota")
    quota = tenancy.set_quota(user.tenant_id, accelerators=1)
    assert quota.get("accelerators") == 1, (
        f"[6.1.b] a quota of 1 accelerator was set; the platform reports "
        f"{quota.get('accelerators')}")
    one: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1}
    began = time.monotonic()
    within = user.jobs.submit(sca.name("within-quota"), probe_image, sleeper(HOLD_S), one,
                              labels=sca.labels)
    user.jobs.wait(within["id"], until={"running"}, timeout=start_wait)
    took = time.monotonic() - began
    user.jobs.stop(within["id"])
    user.jobs.wait(within["id"], timeout=start_wait)
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
    events = user.jobs.events(job["id"])
    status = seen.get("status")
    started = [w.get("rank") for w in seen.get("workers") or [] if w.get("started_at")]
    placed = _placements(seen, events)
    held_for = _quota_event(events)
    sca.evidence("job above quota", {"job": seen, "events": events,
                                     "watched for s": round(watch, 2),
                                     "1-card job started after s": round(took, 2)})
    assert status not in ("running", "succeeded") and not started, (
        f"[6.1.b] quota 1 accelerator not enforced: job {job['id']} requesting 2 "
        f"reached {status}" + (f" (workers {started} started)" if started else ""))
    # Placed on cards is admitted past the quota, whatever ended the job afterwards.
    assert not placed, (
        f"[6.1.b] quota 1 accelerator not enforced: job {job['id']} requesting 2 was placed "
        f"({'; '.join(placed)}) and then {status}")
    if held_for is None:
        said = [f"{e.get('type')}/{e.get('reason')}: {e.get('message')}" for e in events]
        raise TargetError(
            f"[6.1.b] job {job['id']} above the quota is {status}, but neither its events nor "
            f"its reason name the quota ({said or 'no event'}): a hold for the quota cannot be "
            "told from one for another reason (a bad image, a crash, no capacity)")


def _quota_event(events: Sequence[JobEvent]) -> JobEvent | None:
    """The first event that says the job is held or refused for its tenant's quota: its reason
    or message names the quota, or its reason is a scheduler's code for an account limit."""
    for event in events:
        reason, message = str(event.get("reason") or ""), str(event.get("message") or "")
        if "quota" in f"{reason} {message}".lower() or _LIMIT_REASON.match(reason):
            return event
    return None


def _placements(job: Job, events: Sequence[JobEvent]) -> list[str]:
    """Where the job was placed, as its workers' records and its events tell: a worker on a
    node or holding cards, a ``Scheduled`` event."""
    placed = [f"worker {w.get('rank')} on {w.get('node_id')} cards {w.get('accelerators')}"
              for w in job.get("workers") or [] if w.get("node_id") or w.get("accelerators")]
    placed += [f"event {e.get('type')}: {e.get('message')}" for e in events
               if e.get("type") == "Scheduled"]
    return placed


@pytest.mark.clause("6.1.c")
@pytest.mark.mutating
def test_readonly_user_reads_but_cannot_create(sca: CheckContext, probe_tenant: MakeProbeUser,
                                               probe_image: str) -> None:
    """In one probe tenant an admin submits a job; a read-only user lists and reads it and
    lists the tenant's users, but its own identical submission is refused as unauthorised,
    and the refusal holds: the tenant lists no job of that name afterwards."""
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
    name = sca.name("roles-reader")
    try:
        reader.jobs.submit(name, probe_image, PROBE_COMMAND, SMALL, labels=sca.labels)
    except Refused as exc:
        refusal = exc
    # What the tenant's admin sees: the refusal must have left no job behind.
    left = jobs_named(admin.jobs, name)
    sca.evidence("read-only user", {"reads": reads, "left behind": left,
                                    "submit": str(refusal) if refusal else "accepted"})
    unread = [what for what, ok in reads.items() if not ok]
    assert not unread, (f"[6.1.c] a read-only user's reads miss what its tenant has: "
                        f"{', '.join(unread)} (job {job['id']})")
    assert refusal is not None, "[6.1.c] a read-only user could submit a job"
    assert refusal.is_authorization, (
        f"[6.1.c] a read-only user's submission was refused, but not as unauthorised "
        f"(the admin's identical one was accepted): {refusal}")
    assert not left, (f"[6.1.c] a read-only user's submission was refused ({refusal.status}) "
                      f"but left job(s) {left} behind")
