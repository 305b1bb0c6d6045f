"""9.4.2 稳定性 Stability: management service, long jobs, topology, monitoring at scale."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling

from .probe_jobs import (
    finished_probe,
    job_timeout,
    resources,
    submit_probe,
)

#: Cards per metrics query: a fleet of thousands is read in a few requests, not one per card.
SERIES_BATCH = 200
INVENTORY_PAGE = 500
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]


def _epoch(moment: float | str) -> float:
    """Unix time of a sample: the capability gives epoch seconds or an ISO 8601 text."""
    if isinstance(moment, int | float):
        return float(moment)
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


@pytest.mark.clause("9.4.2.a")
def test_management_api_available_under_steady_load(sca: CheckContext, compute: Any,
                                                    jobs: Any) -> None:
    """Sends a steady, bounded load of read requests (info, nodes, jobs) to the management
    API; the share answered successfully must reach the declared ratio."""
    minimum = sca.threshold("perf.availability.min_success_ratio")
    seconds = sca.settings.perf.availability.seconds
    rate = sca.settings.perf.availability.rate_per_s
    calls = [compute.platform_info, compute.list_nodes, lambda: jobs.list_jobs(status="running")]
    count = max(1, int(seconds * rate))
    failures: list[str] = []
    latencies: list[float] = []
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        began = time.monotonic()
        try:
            calls[index % len(calls)]()
            latencies.append(time.monotonic() - began)
        except Exception as exc:  # noqa: BLE001 - every failed request counts against availability
            failures.append(f"{type(exc).__name__}: {str(exc)[:120]}")
    ratio = (count - len(failures)) / count
    sca.measure("management API success ratio", ratio, "ratio", threshold=minimum.value,
                comparison=">=", threshold_source=minimum.source,
                reference=f"{count} requests at {rate:g}/s over {seconds:g} s")
    if latencies:
        sca.measure("management API latency p99", scaling.percentile(latencies, 99), "s")
    if failures:
        sca.evidence("failed requests", failures[:20])
    assert ratio >= minimum.value, (
        f"[9.4.2.a] management API answered {ratio:.1%} of {count} requests, below "
        f"{minimum.value:.1%} (first failure: {failures[0] if failures else '-'})")


@pytest.mark.clause("9.4.2.b")
@pytest.mark.mutating
def test_long_job_is_not_interrupted(sca: CheckContext, jobs: Any, probe_image: str,
                                     cleanup: Cleanup) -> None:
    """Runs a probe job of the declared length; it must complete on its first attempt, with
    no restart or failure event and every step done."""
    seconds = sca.settings.perf.long_job.seconds
    steps = max(1, int(seconds / 0.5))
    job = submit_probe(sca, jobs, cleanup, probe_image, "paced",
                       {"work": "paced", "steps": steps, "step_seconds": seconds / steps},
                       suffix="long")
    done = jobs.wait(job["id"], timeout=seconds * 3 + job_timeout(sca))
    events = [f"{e['type']}:{e['reason']}" for e in jobs.events(job["id"])]
    sca.evidence("job events", events)
    sca.measure("long job length", seconds, "s", reference="capabilities.perf.long_job.seconds")
    interruptions = [e for e in events if e.split(":")[0] in ("Failed", "Restarted", "Stopped")]
    sca.measure("platform interruptions", len(interruptions) + (done.get("attempt", 1) - 1),
                "count", threshold=0, comparison="<=", threshold_source="the requirement")
    assert done["status"] == "succeeded" and not interruptions and done.get("attempt", 1) == 1, (
        f"[9.4.2.b] the {seconds:g} s probe job was interrupted: status {done['status']} "
        f"(exit {done.get('exit_code')}, attempt {done.get('attempt')}), events {events}")
    _, result = finished_probe(sca, jobs, done, "paced")
    assert result["steps"] == steps, f"[9.4.2.b] the probe job did {result['steps']} of {steps}"


@pytest.mark.clause("9.4.2.c")
@pytest.mark.mutating
def test_job_topology_matches_placement(sca: CheckContext, jobs: Any, topology: Any,
                                        probe_image: str, cleanup: Cleanup) -> None:
    """Runs a 2-worker job with 2 cards each; its topology must show exactly the nodes,
    cards and ranks where the workers run, with links only between them."""
    job = jobs.submit(sca.name("topo-job"), probe_image, SLEEPER, resources(accelerators=2),
                      workers=2, labels=sca.labels)
    running = jobs.wait(job["id"], until={"running"}, timeout=job_timeout(sca))
    placed = {(w["node_id"], int(c)) for w in running["workers"] for c in w["accelerators"]}
    ranks = {w["rank"]: w["node_id"] for w in running["workers"]}
    view = topology.of_job(job["id"])
    sca.evidence("job topology", view)
    shown = {(n["id"], int(c["index"])) for n in view.get("nodes", [])
             for c in n.get("accelerators", [])}
    shown_ranks = {r: n["id"] for n in view.get("nodes", []) for r in n.get("workers", [])}
    endpoints = {n["id"] for n in view.get("nodes", [])} | {f"{n}/{c}" for n, c in shown}
    dangling = [link for link in view.get("links", [])
                if link.get("from") not in endpoints or link.get("to") not in endpoints]
    sca.measure("cards placed vs shown", len(placed & shown) / max(1, len(placed)), "ratio",
                threshold=1.0, comparison=">=", threshold_source="the requirement")
    assert shown == placed and shown_ranks == ranks and not dangling, (
        f"[9.4.2.c] topology of job {job['id']} does not match where it runs: placed "
        f"{sorted(placed)} ranks {ranks}, shown {sorted(shown)} ranks {shown_ranks}"
        f"{f', links to unknown ends {dangling[:3]}' if dangling else ''}")


@pytest.mark.clause("9.4.2.d")
def test_fleet_monitoring_is_fresh_at_scale(sca: CheckContext, telemetry: Any) -> None:
    """Lists every node and card the platform reports, then reads each card's metric series in
    batches; every card must have a sample no older than the declared staleness, at the
    declared scale (≥ 1000 cards on the sandbox's simulated fleet)."""
    max_age = sca.threshold("perf.monitoring.max_staleness_s")
    min_cards = sca.threshold("perf.monitoring.min_cards")
    cards: list[str] = []
    offset, requests = 0, 0
    while True:
        page = telemetry.inventory_page(offset, INVENTORY_PAGE)
        requests += 1
        cards += [f"{n['id']}/{c['index']}" for n in page["items"] for c in n["accelerators"]]
        offset += len(page["items"])
        if not page["items"] or offset >= int(page.get("total", offset)):
            break
    now = time.time()
    stale: dict[str, float | None] = {}
    ages: list[float] = []
    for first in range(0, len(cards), SERIES_BATCH):
        requests += 1
        for series in telemetry.card_series(cards[first:first + SERIES_BATCH]):
            last = series.get("last_sample_at")
            age = now - _epoch(last) if last else None
            if age is not None:
                ages.append(age)
            if age is None or age > max_age.value:
                stale[series["card"]] = age
    sca.measure("cards reported", len(cards), "cards", threshold=min_cards.value,
                comparison=">=", threshold_source=min_cards.source)
    sca.measure("cards with stale or missing metrics", len(stale), "cards", threshold=0,
                comparison="<=", threshold_source="the requirement")
    sca.measure("oldest last sample", max(ages) if ages else 0.0, "s", threshold=max_age.value,
                comparison="<=", threshold_source=max_age.source,
                reference=f"{requests} requests for {len(cards)} cards")
    if stale:
        sca.evidence("stale cards", dict(list(stale.items())[:50]))
    assert len(cards) >= min_cards.value, (
        f"[9.4.2.d] the platform reports {len(cards)} cards, fewer than the declared "
        f"{min_cards.value:g}")
    worst = max((a for a in stale.values() if a is not None), default=None)
    assert not stale, (
        f"[9.4.2.d] {len(stale)} of {len(cards)} cards have stale or missing metrics "
        f"(oldest sample {worst:.0f} s, threshold {max_age.value:g} s)" if worst is not None
        else f"[9.4.2.d] {len(stale)} of {len(cards)} cards have no metric series")
