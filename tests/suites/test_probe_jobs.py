"""Chapter 9's helpers for its probe jobs, on answers written here (no platform)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from pytest_sca.capabilities import Jobs
from pytest_sca.fixtures import CheckContext
from pytest_sca.settings import Capabilities
from pytest_sca.suites.chapter09_performance.probe_jobs import submit_probe, wait_all


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


class _Submissions:
    """A jobs capability that records what each submission asked for."""

    def __init__(self) -> None:
        self.asked: dict[str, dict[str, Any]] = {}

    def submit(self, name: str, image: str, command: list[str], resources: dict[str, Any],
               **_: Any) -> dict[str, Any]:
        self.asked[name] = dict(resources)
        return {"id": name, "status": "pending"}


def test_a_torch_probe_holding_cards_asks_for_the_host_memory_torch_needs() -> None:
    """torch with CUDA took 1.2-1.3 GiB of host memory on an H200 (docs/chapter09.md): with
    the 1 GiB other probe jobs ask for, Kubernetes (requests are limits) kills it."""
    settings = Capabilities.model_validate({"perf": {"accelerator_probe_memory_gib": 6}})
    sca = SimpleNamespace(name=lambda suffix: suffix, labels={}, settings=settings)
    platform = _Submissions()
    for probe, cards in (("gemm", 1), ("train", 1), ("allreduce", 2), ("paced", 1),
                         ("gemm", 0)):
        submit_probe(cast(CheckContext, sca), cast(Jobs, platform), "image", probe, {},
                     suffix=f"{probe}-{cards}", accelerators=cards)
    assert {name: wanted["memory_gib"] for name, wanted in platform.asked.items()} == {
        "gemm-1": 6, "train-1": 6, "allreduce-2": 6, "paced-1": 1.0, "gemm-0": 1.0}
    assert Capabilities().perf.accelerator_probe_memory_gib == 4.0
