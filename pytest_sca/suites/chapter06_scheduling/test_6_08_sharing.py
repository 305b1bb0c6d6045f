"""6.8 算力共享与异构 Accelerator sharing and heterogeneous jobs."""

from __future__ import annotations

import contextlib

import pytest

from pytest_sca.capabilities import Job, Jobs, Resources, TargetError, WaitTimeout, wait_for
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser
from ..library import fields, lines, python
from .conftest import cards_listed
from .workloads import RESOURCES_PROBE, SHARE_PROBE

#: How long each half-card probe stays up: both must be seen running at once.
SHARE_SECONDS = 20
STARTED = {"running", "succeeded", "failed", "stopped"}
#: How long the probe of a job with cards and CPUs stays up after it printed what it saw: long
#: enough to be seen running.
HETERO_SECONDS = 3


def _held(job: Job) -> list[str]:
    """The cards the job's first worker holds, as ``node:index`` (empty when unknown)."""
    worker = (job.get("workers") or [{}])[0]
    return [f"{worker.get('node_id')}:{card}" for card in worker.get("accelerators") or []]


def _printed(jobs: Jobs, job_id: str, prefix: str) -> str:
    """The last ``prefix`` line the job's worker 0 printed; TargetError when none came."""
    try:
        found = wait_for(lambda: lines(jobs.logs(job_id), prefix), bool, 15,
                         lambda _: f"no {prefix} line in the logs of job {job_id}")
    except WaitTimeout as waited:
        raise TargetError(f"could not read what the process of job {job_id} saw: "
                          f"{waited}") from None
    return found[-1]


@pytest.mark.clause("6.8.a")
@pytest.mark.mutating
def test_two_jobs_share_one_card_with_declared_fractions(sca: CheckContext,
                                                         probe_tenant: MakeProbeUser,
                                                         probe_image: str) -> None:
    """Two jobs each declaring half a card run at the same time on the same physical card,
    each recorded with its 0.5 share; each process sees one card, and a fraction it is told
    (none under time slicing) is 0.5."""
    user = probe_tenant("share")
    wanted: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1,
                         "accelerator_share": 0.5}
    submitted = [user.jobs.submit(sca.name(f"half-{half}"), probe_image, python(SHARE_PROBE),
                                  wanted, env={"SCA_PROBE_SECONDS": str(SHARE_SECONDS)},
                                  labels=sca.labels)
                 for half in ("a", "b")]
    for job in submitted:
        # One still pending (no second share of the card) is seen below, with its partner.
        with contextlib.suppress(WaitTimeout):
            user.jobs.wait(job["id"], until=STARTED, timeout=30)
    both = [user.jobs.get(job["id"]) for job in submitted]
    assert all(j.get("status") == "running" for j in both), (
        f"[6.8.a] two half-card jobs did not run side by side: "
        f"{[j.get('status') for j in both]}")
    cards = [_held(j) for j in both]
    recorded = [(j.get("resources") or {}).get("accelerator_share") for j in both]
    seen = [fields(_printed(user.jobs, j["id"], "sca-share")) for j in both]
    sca.evidence("two half-card jobs", {"jobs": both, "seen by the processes": seen})
    assert cards[0] == cards[1] and len(cards[0]) == 1, (
        f"[6.8.a] two jobs declaring 0.5 of a card each were given {cards[0] or 'no card'} and "
        f"{cards[1] or 'no card'}, not one shared card")
    assert recorded == [0.5, 0.5], (
        f"[6.8.a] the jobs sharing card {cards[0][0]} are recorded with shares {recorded}, "
        f"declared 0.5 each")
    visible = [[c for c in s.get("accelerators", "").split(",") if c not in ("", "none")]
               for s in seen]
    told = [s.get("share") for s in seen]
    assert all(len(v) == 1 for v in visible) and all(t in ("none", "0.5") for t in told), (
        f"[6.8.a] the processes sharing a card see cards {visible} and were told fractions "
        f"{told}, declared 0.5")


@pytest.mark.clause("6.8.b")
@pytest.mark.mutating
def test_job_combines_accelerators_and_cpus(sca: CheckContext, probe_tenant: MakeProbeUser,
                                            probe_image: str) -> None:
    """A job asking for 2 accelerators and 2 CPUs is admitted with both and runs; its process
    sees 2 cards and may run on at least 2 CPUs, within a CPU limit (if it has one) of at
    least 2."""
    user = probe_tenant("hetero")
    wanted: Resources = {"cpu": 2, "memory_gib": 2, "accelerators": 2}
    job = user.jobs.submit(sca.name("hetero"), probe_image, python(RESOURCES_PROBE), wanted,
                           env={"SCA_PROBE_SECONDS": str(HETERO_SECONDS)}, labels=sca.labels)
    # Seen running: a record of a running job says which cards it holds (Slurm forgets the
    # cards of a job that ended before it was read).
    with contextlib.suppress(WaitTimeout):
        user.jobs.wait(job["id"], until=STARTED, timeout=60)
    done = user.jobs.wait(job["id"], timeout=60)
    assert done.get("status") == "succeeded", (
        f"[6.8.b] a job asking for 2 accelerators and 2 CPUs did not run: {done.get('status')}")
    seen = fields(_printed(user.jobs, job["id"], "sca-resources"))
    sca.evidence("job with accelerators and CPUs", {"job": done, "seen by the process": seen})
    admitted = done.get("resources") or {}
    held = (cards_listed(done) or [None])[0]
    if held is None:
        # What was admitted is no record of what the worker held.
        raise TargetError(f"[6.8.b] the record of job {job['id']} does not say which cards its "
                          "worker held")
    visible = [c for c in seen.get("accelerators", "").split(",") if c]
    cpus = int(seen.get("cpus") or 0)
    limit = seen.get("cpu_limit", "none")
    assert held == 2 and len(visible) == 2, (
        f"[6.8.b] the job holds {held} accelerator(s) of the 2 it asked for and its process "
        f"saw {visible or 'none'}")
    assert admitted.get("cpu") == 2 and cpus >= 2 and (limit == "none" or float(limit) >= 2), (
        f"[6.8.b] the job asked for 2 CPUs: admitted with {admitted.get('cpu')}, its process "
        f"may run on {cpus} CPU(s) with a limit of {limit}")
