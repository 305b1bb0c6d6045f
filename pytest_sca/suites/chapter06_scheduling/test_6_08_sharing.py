"""6.8 算力共享与异构 Accelerator sharing and heterogeneous jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ._jobs_support import RESOURCES_PROBE, SHARE_PROBE, fields, lines, poll, python


def _deleter(jobs: Any, job_id: str) -> Callable[[], None]:
    return lambda: jobs.delete(job_id)


def _share_lines(jobs: Any, job_id: str) -> Callable[[], list[str]]:
    return lambda: lines(jobs.logs(job_id), "sca-share")


@pytest.mark.clause("6.8.a")
@pytest.mark.mutating
def test_two_jobs_share_one_card_with_declared_fractions(sca: CheckContext, probe_tenant: Any,
                                                         probe_image: str,
                                                         cleanup: Cleanup) -> None:
    """Two jobs each declaring half a card run side by side on the same physical card, and
    each process is told its fraction."""
    user = probe_tenant("share")
    wanted = {"cpu": 1, "memory_gib": 1, "accelerators": 1, "accelerator_share": 0.5}
    submitted = []
    for half in ("a", "b"):
        job = user.jobs.submit(sca.name(f"half-{half}"), probe_image, python(SHARE_PROBE),
                               wanted, labels=sca.labels)
        submitted.append(job)
    both = [user.jobs.wait(j["id"], until={"running", "succeeded", "failed", "stopped"},
                           timeout=30) for j in submitted]
    assert all(j["status"] == "running" for j in both), (
        f"[6.8.a] two half-card jobs did not run side by side: "
        f"{[j['status'] for j in both]}")
    cards = [(j["workers"][0]["node_id"], tuple(j["workers"][0].get("accelerators", [])))
             for j in both]
    seen = [poll(_share_lines(user.jobs, j["id"]), bool, 10) for j in both]
    shares = [fields(found[-1]).get("share") if found else None for found in seen]
    sca.evidence("two half-card jobs", {"jobs": both, "seen by the processes": seen})
    assert cards[0] == cards[1] and len(cards[0][1]) == 1, (
        f"[6.8.a] two jobs declaring 0.5 of a card each were given {cards[0][0]}:"
        f"{list(cards[0][1])} and {cards[1][0]}:{list(cards[1][1])}, not one shared card")
    assert shares == ["0.5", "0.5"], (
        f"[6.8.a] the processes sharing a card were told fractions {shares}, declared 0.5")


@pytest.mark.clause("6.8.b")
@pytest.mark.mutating
def test_job_combines_accelerators_and_cpus(sca: CheckContext, probe_tenant: Any,
                                            probe_image: str, cleanup: Cleanup) -> None:
    """A job asking for 2 accelerators and 2 CPUs is admitted, holds both, and its process
    sees the 2 cards it holds and usable CPUs."""
    user = probe_tenant("hetero")
    wanted = {"cpu": 2, "memory_gib": 2, "accelerators": 2}
    job = user.jobs.submit(sca.name("hetero"), probe_image, python(RESOURCES_PROBE), wanted,
                           labels=sca.labels)
    done = user.jobs.wait(job["id"], timeout=60)
    seen = lines(user.jobs.logs(job["id"]), "sca-resources")
    sca.evidence("job with accelerators and CPUs", {"job": done, "seen by the process": seen})
    assert done["status"] == "succeeded" and seen, (
        f"[6.8.b] a job asking for 2 accelerators and 2 CPUs did not run: {done['status']}")
    held = sorted(str(i) for i in done["workers"][0].get("accelerators", []))
    visible = sorted(c for c in fields(seen[-1]).get("accelerators", "").split(",") if c)
    cpus = int(fields(seen[-1]).get("cpus", "0"))
    assert len(held) == 2 and visible == held and cpus >= 1, (
        f"[6.8.b] the job held accelerators {held} but its process saw {visible or 'none'} "
        f"and {cpus} CPU(s)")
