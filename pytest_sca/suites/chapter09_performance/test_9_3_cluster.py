"""9.3 集群性能 Cluster performance: scalability and scheduling performance."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling
from pytest_sca.probes import parse_result

from .probe_jobs import (
    finished_probe,
    is_cpu_target,
    job_timeout,
    submit_probe,
    wait_all,
)

#: Device time of one paced sub-task: 20 steps of 50 ms.
SUBTASK = {"steps": 20, "step_seconds": 0.05}
#: How long the utilisation of a busy probe job is watched (seconds).
UTILISATION_WINDOW = 1.5
#: Jobs submitted at once to time admission and start-up.
BATCH = 4


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.clause("9.3.a")
@pytest.mark.mutating
def test_parallel_subtasks_scale(sca: CheckContext, jobs: Any, probe_image: str,
                                 cleanup: Cleanup) -> None:
    """Runs k = 1, 2, 4… identical sub-tasks at once as jobs; aggregate throughput X(k) from
    the probes' own start/end times; the efficiency S(k)/k at the largest k within limits."""
    minimum = sca.threshold("perf.scaling.min_efficiency")
    ks = sca.settings.perf.scaling.k
    work = sca.settings.perf.scaling.work
    args = {**SUBTASK, "work": work, "size": 256, "steps": SUBTASK["steps"] if work == "paced"
            else 200}
    rates: dict[int, float] = {}
    for k in ks:
        label = f"sca-scale={sca.name(f'k{k}')}"
        submitted = [submit_probe(sca, jobs, cleanup, probe_image, "paced", args,
                                  suffix=f"scale-k{k}-{i}",
                                  accelerators=0 if is_cpu_target(sca) else 1)
                     for i in range(k)]
        ids = [job["id"] for job in submitted]
        done = wait_all(jobs, f"sca-run={sca.run_id}", ids, job_timeout(sca))
        failed = [i for i in ids if done[i]["status"] != "succeeded"]
        if failed:
            raise RuntimeError(f"sub-task jobs {failed} did not succeed ({label})")
        results = [parse_result(jobs.logs(i), "paced") for i in ids]
        makespan = max(r["finished"] for r in results) - min(r["started"] for r in results)
        rates[k] = sum(r["steps"] for r in results) / makespan
        sca.measure(f"aggregate throughput X({k})", rates[k], "steps/s",
                    reference=f"{k} sub-task(s), {work} work"
                              f"{' on simulated cards' if work == 'paced' else ''}")
    largest = max(ks)
    for k in ks:
        if k > 1:
            sca.measure(f"speedup S({k})", scaling.speedup(rates[k], rates[1]), "x")
    speedup = scaling.speedup(rates[largest], rates[1])
    efficiency = scaling.parallel_efficiency(speedup, largest)
    sca.measure(f"parallel efficiency S({largest})/{largest}", efficiency, "ratio",
                threshold=minimum.value, comparison=">=", threshold_source=minimum.source)
    assert efficiency >= minimum.value, (
        f"[9.3.a] {largest} parallel sub-tasks scale poorly: speedup {speedup:.2f}, efficiency "
        f"{efficiency:.2f} below {minimum.value:.2f}")


@pytest.mark.clause("9.3.b")
@pytest.mark.mutating
def test_scheduling_performance(sca: CheckContext, jobs: Any, metrics: Any, probe_image: str,
                                cleanup: Cleanup) -> None:
    """Card utilisation of a busy probe job read from the platform's metrics; start-up latency
    of a batch of jobs (p50/p99, jobs/s); multi-card speedup, per-epoch throughput and stage
    shares of the training probe on 1 and 2 cards."""
    min_util = sca.threshold("perf.scheduling.min_utilisation")
    max_p99 = sca.threshold("perf.scheduling.max_startup_p99_s")
    cards = 1
    busy = submit_probe(sca, jobs, cleanup, probe_image, "paced",
                        {"work": "compute", "size": 256, "steps": 10**6}, suffix="util",
                        accelerators=cards)
    jobs.wait(busy["id"], until={"running"}, timeout=job_timeout(sca))
    utilisation: list[float] = []
    watched_until = time.monotonic() + UTILISATION_WINDOW
    while time.monotonic() < watched_until or not utilisation:
        samples = metrics.samples("sca_accelerator_utilization_ratio", {"job": busy["id"]})
        utilisation += [s.value for s in samples]
        if time.monotonic() > watched_until + 30:
            raise RuntimeError(f"no utilisation sample for job {busy['id']} in the metrics")
        time.sleep(0.25)
    jobs.stop(busy["id"])
    seen = utilisation[-1]
    sca.measure("accelerator utilisation of a busy job (metrics)", seen, "ratio",
                threshold=min_util.value, comparison=">=", threshold_source=min_util.source,
                reference="sca_accelerator_utilization_ratio, last sample of "
                          f"{len(utilisation)}")
    assert seen >= min_util.value, (
        f"[9.3.b] a busy job's card utilisation is {seen:.0%} in the platform's metrics, "
        f"below {min_util.value:.0%}")

    submitted = [submit_probe(sca, jobs, cleanup, probe_image, "paced", {"steps": 1},
                              suffix=f"start-{i}") for i in range(BATCH)]
    done = wait_all(jobs, f"sca-run={sca.run_id}", [j["id"] for j in submitted],
                    job_timeout(sca))
    latencies = [_epoch(j["started_at"]) - _epoch(j["created_at"]) for j in done.values()
                 if j.get("started_at")]
    if len(latencies) < BATCH:
        raise RuntimeError("a job of the batch never started")
    first = min(_epoch(j["created_at"]) for j in done.values())
    last = max(_epoch(j["started_at"]) for j in done.values())
    p99 = scaling.percentile(latencies, 99)
    sca.measure("job start-up latency p50", scaling.percentile(latencies, 50), "s")
    sca.measure("job start-up latency p99", p99, "s", threshold=max_p99.value, comparison="<=",
                threshold_source=max_p99.source, reference=f"{BATCH} jobs submitted at once")
    if last > first:
        sca.measure("jobs started per second", scaling.admitted_per_second(BATCH, first, last),
                    "jobs/s")
    assert p99 <= max_p99.value, (
        f"[9.3.b] job start-up latency p99 {p99:.2f} s exceeds {max_p99.value:g} s")

    train = {"models": ["language"], "epochs": 2, "steps_per_epoch": 3, "batch": 256}
    throughput = {}
    for workers in (1, 2):
        job = submit_probe(sca, jobs, cleanup, probe_image, "train", train,
                           suffix=f"speedup-{workers}", workers=workers, accelerators=1)
        _, result = finished_probe(sca, jobs, job, "train")
        model = result["models"][0]
        epochs = model["epochs"]
        per_epoch = [len(e) * model["batch"] / sum(s["total"] for s in e) for e in epochs]
        throughput[workers] = workers * scaling.mean(per_epoch)
        if workers == 1:
            for number, rate in enumerate(per_epoch, 1):
                sca.measure(f"epoch {number} throughput (1 card)", rate, "samples/s")
            totals = {n: sum(s[n] for e in epochs for s in e) for n in model["stages"]}
            for name, share in scaling.stage_shares(totals).items():
                sca.measure(f"{name} share of a step (1 card)", share, "ratio")
    sca.measure("multi-card speedup S(2)", scaling.speedup(throughput[2], throughput[1]), "x",
                reference="data-parallel training probe, samples/s on 2 cards vs 1")
