"""Chapter 9's helpers for its probe jobs, on answers written here (no platform)."""

from __future__ import annotations

from typing import Any, cast

from pytest_sca.capabilities import Jobs
from pytest_sca.suites.chapter09_performance.probe_jobs import wait_all


class _ListLeavesOneOut:
    """A jobs capability whose list shows only j1 (j2 on a later page, or behind a lagging
    index), while reading any job by id works; every job has ended."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def list_jobs(self, label: str) -> list[dict[str, Any]]:
        return [{"id": "j1", "status": "succeeded"}]

    def get(self, job_id: str) -> dict[str, Any]:
        self.reads.append(job_id)
        return {"id": job_id, "status": "succeeded"}


def test_a_job_the_list_leaves_out_is_read_by_its_id_instead_of_waited_for() -> None:
    platform = _ListLeavesOneOut()
    done = wait_all(cast(Jobs, platform), "sca-run=r1", ["j1", "j2"], timeout=60.0)
    assert {job_id: job["status"] for job_id, job in done.items()} == {
        "j1": "succeeded", "j2": "succeeded"}
    assert platform.reads == ["j2"]
