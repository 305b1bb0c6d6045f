"""9.3 集群性能 Cluster performance: scalability and scheduling performance."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_sca.capabilities import RUN_LABEL, Job, Jobs, Metrics, TargetError, wait_for
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling
from pytest_sca.probes.results import TrainResult, paced_result, progress_marks, train_result

from ..library import time_resolution
from .probe_jobs import (
    epoch,
    finished_probe,
    is_cpu_target,
    job_timeout,
    listed_or_read,
    probe_output,
    submit_probe,
    wait_all,
)

#: Device time of one paced sub-task: 20 steps of 50 ms.
SUBTASK = {"steps": 20, "step_seconds": 0.05}
#: The k sub-tasks of a round are submitted one after another but start their work together,
#: at a moment set before the first submission: the makespan then measures the platform
#: running them, not the check's submitting them. The lead to that moment follows what the
#: platform showed: at least LEAD_FLOOR_S and LEAD_MARGIN × the longest launch delay seen
#: (a submission until its probe process ran), plus twice the longest submission per
#: sub-task. Before any delay is seen, START_LEAD_S plus half a second per sub-task. A round
#: of one sub-task needs no common start (its makespan is its own run): it starts at once and
#: gives the first delay. A fixed lead was too long on a platform that starts work in a tenth
#: of a second (9.5 of the check's 10 s on the sandbox) and too short where pods take seconds.
START_LEAD_S = 2.0
LEAD_FLOOR_S = 1.0
LEAD_MARGIN = 3.0
#: The probe waits at most 120 s for the common start (``probes/paced.py``).
LEAD_MOST_S = 100.0
#: How long a busy probe job runs after its first progress mark before its utilisation is
#: read (its start-up — a pull, imports, allocation — is not its steady state, and a job can
#: be ``running`` long before its work starts: the settle counts from the job's own mark, not
#: from its status; a fixed 3 s from ``running`` until 2026-11-30), how long it is then
#: watched, how often it is read and how many reads with samples it takes at least (one read
#: is not a measurement).
UTILISATION_SETTLE_S = 1.0
UTILISATION_WINDOW = 1.5
UTILISATION_EVERY_S = 0.25
UTILISATION_READS = 2
UTILISATION_METRIC = "sca_accelerator_utilization_ratio"
#: Jobs submitted at once to time admission and start-up.
BATCH = 4
#: Slack of the start-up cross-check beyond the platform's timestamp resolution (s).
STARTUP_SLACK_S = 0.05


class _Pace:
    """When a round of 9.3.a's sub-tasks starts its work: the launch delays and submission
    times the platform showed so far set the lead (module constants above)."""

    def __init__(self) -> None:
        self.delay: float | None = None     # the longest launch delay seen
        self.submission = 0.0               # the longest single submission seen

    def start_at(self, k: int) -> float | None:
        """The common start of a round of ``k`` sub-tasks (epoch seconds); None for one."""
        if k == 1:
            return None
        if self.delay is None:
            lead = START_LEAD_S + 0.5 * k
        else:
            lead = max(LEAD_FLOOR_S, LEAD_MARGIN * self.delay) + 2 * self.submission * k
        return time.time() + min(lead, LEAD_MOST_S)

    def submitted(self, seconds: float) -> None:
        self.submission = max(self.submission, seconds)

    def launched(self, delay: float) -> None:
        """A probe ran ``delay`` s after its submission began (its node's clock against the
        check's: a negative figure, a clock behind, counts as none)."""
        self.delay = max(self.delay or 0.0, delay, 0.0)


@pytest.mark.clause("9.3.a")
@pytest.mark.measuring
@pytest.mark.mutating
def test_parallel_subtasks_scale(sca: CheckContext, jobs: Jobs, probe_image: str) -> None:
    """Runs k = 1, 2, 4… identical sub-tasks at once as jobs; aggregate throughput X(k) =
    steps / makespan from the probes' own start/end times; S(k)/k at the largest k within
    limits."""
    minimum = sca.threshold("perf.scaling.min_efficiency")
    ks = sca.settings.perf.scaling.k
    work = sca.settings.perf.scaling.work
    steps = SUBTASK["steps"] if work == "paced" else 200
    args = {**SUBTASK, "work": work, "size": 256, "steps": steps}
    rates: dict[int, float] = {}
    pace = _Pace()
    for k in ks:
        start_at = pace.start_at(k)
        submitted_at: dict[str, float] = {}
        for i in range(k):
            before = time.time()
            job = submit_probe(sca, jobs, probe_image, "paced",
                               {**args, "start_at": start_at}, suffix=f"scale-k{k}-{i}",
                               accelerators=0 if is_cpu_target(sca) else 1)
            pace.submitted(time.time() - before)
            submitted_at[job["id"]] = before
        ids = list(submitted_at)
        done = wait_all(jobs, f"{RUN_LABEL}={sca.run_id}", ids, job_timeout(sca))
        failed = [i for i in ids if done[i].get("status") != "succeeded"]
        if failed:
            raise TargetError(f"sub-task jobs {failed} of k={k} did not succeed")
        results = [probe_output(jobs, i, paced_result) for i in ids]
        if any(r["steps"] != steps for r in results):
            raise TargetError(f"sub-tasks of k={k} did {[r['steps'] for r in results]} steps "
                              f"of {steps}")
        makespan = max(r["finished"] for r in results) - min(r["started"] for r in results)
        # A makespan shorter than one sub-task's own run is impossible: clocks disagree.
        if makespan <= 0 or makespan < max(r["seconds"] for r in results) * 0.95:
            raise TargetError(f"k={k}: the probes' start/end times give a makespan of "
                              f"{makespan:.3f} s, shorter than one sub-task's own run")
        rates[k] = sum(r["steps"] for r in results) / makespan
        for job_id, result in zip(ids, results, strict=True):
            pace.launched(result["launched"] - submitted_at[job_id])
        late = sum(1 for r in results if start_at is not None and r["launched"] > start_at)
        sca.measure(f"aggregate throughput X({k})", rates[k], "steps/s",
                    reference=f"{k} sub-task(s), {work} work"
                              f"{' on simulated cards' if work == 'paced' else ''}, makespan "
                              f"{makespan:.2f} s, "
                              + (f"{late} started after the common start" if start_at
                                 else "started at once"))
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


def _utilisation(sca: CheckContext, jobs: Jobs, probe_image: str,
                 request: pytest.FixtureRequest) -> None:
    """A busy job holding one card: its utilisation in the platform's metrics, read several
    times over a window; the median of the readings against the minimum."""
    metrics: Metrics = request.getfixturevalue("metrics")
    min_util = sca.threshold("perf.scheduling.min_utilisation")
    busy = submit_probe(sca, jobs, probe_image, "paced",
                        {"work": "compute", "size": 256, "steps": 10**6}, suffix="util",
                        accelerators=1)
    jobs.wait(busy["id"], until={"running"}, timeout=job_timeout(sca))
    wait_for(lambda: progress_marks(jobs.logs(busy["id"])), bool, job_timeout(sca),
             lambda marks: f"job {busy['id']} is running but its log shows no progress mark "
                           "(sca-progress:) of the probe's work",
             first=0.05, longest=0.5)
    time.sleep(UTILISATION_SETTLE_S)
    readings: list[list[float]] = []
    watched_until = time.monotonic() + UTILISATION_WINDOW

    def read() -> list[list[float]]:
        values = [s.value for s in metrics.samples(UTILISATION_METRIC, {"job": busy["id"]})]
        if values:
            readings.append(values)
        return readings

    wait_for(read, lambda found: len(found) >= UTILISATION_READS
             and time.monotonic() >= watched_until, UTILISATION_WINDOW + 30.0,
             lambda found: f"{len(found)} reads of {UTILISATION_METRIC} for job {busy['id']} "
                           f"with samples ({metrics.source})",
             first=UTILISATION_EVERY_S, longest=UTILISATION_EVERY_S)
    values = [value for reading in readings for value in reading]
    if not all(0.0 <= value <= 1.0 for value in values):
        raise TargetError(f"{UTILISATION_METRIC} of job {busy['id']} is not a ratio: "
                          f"{sorted(set(values))[:10]}")
    seen = scaling.percentile(values, 50)
    sca.measure("accelerator utilisation of a busy job (metrics)", seen, "ratio",
                threshold=min_util.value, comparison=">=", threshold_source=min_util.source,
                reference=f"{UTILISATION_METRIC}, median of {len(values)} samples in "
                          f"{len(readings)} reads ({metrics.source})")
    assert seen >= min_util.value, (
        f"[9.3.b] a busy job's card utilisation is {seen:.0%} in the platform's metrics, "
        f"below {min_util.value:.0%}")


def _startup(sca: CheckContext, jobs: Jobs, probe_image: str,
             request: pytest.FixtureRequest) -> None:
    """A batch of jobs submitted at once: start-up latency (created → started) p50/p99 and
    jobs started per second, each job's reported latency checked against what the check saw
    (still pending, already started) on its own clock."""
    max_p99 = sca.threshold("perf.scheduling.max_startup_p99_s")
    submitted: dict[str, tuple[float, float]] = {}
    for index in range(BATCH):
        before = time.monotonic()
        job = submit_probe(sca, jobs, probe_image, "paced", {"steps": 1},
                           suffix=f"start-{index}")
        submitted[job["id"]] = (before, time.monotonic())
    last_pending: dict[str, float] = {}
    first_started: dict[str, float] = {}

    def listed() -> dict[str, Job]:
        began = time.monotonic()
        found = listed_or_read(jobs, f"{RUN_LABEL}={sca.run_id}", submitted)
        answered = time.monotonic()
        for job_id, job in found.items():
            if job.get("status") == "pending":
                last_pending[job_id] = began
            else:
                first_started.setdefault(job_id, answered)
        return found

    done = wait_for(listed, lambda found: set(found) == set(submitted) and all(
        job.get("status") in ("succeeded", "failed", "stopped") for job in found.values()),
        job_timeout(sca), lambda found: f"jobs of the batch not finished: {found}",
        first=0.05, longest=0.5)
    latencies: list[float] = []
    misreported: list[str] = []
    for job_id, job in done.items():
        created, started = job.get("created_at") or "", job.get("started_at") or ""
        reported = (epoch(started, f"job {job_id} started_at")
                    - epoch(created, f"job {job_id} created_at"))
        latencies.append(reported)
        slack = time_resolution(created, started) + STARTUP_SLACK_S
        before, after = submitted[job_id]
        at_least = last_pending[job_id] - after if job_id in last_pending else 0.0
        at_most = first_started[job_id] - before
        if not at_least - slack <= reported <= at_most + slack:
            misreported.append(f"job {job_id} reports {reported:.2f} s, the check saw it start "
                               f"between {max(at_least, 0):.2f} s and {at_most:.2f} s")
    sca.evidence("start-up latencies (platform-reported, s)", sorted(latencies))
    first = min(epoch(j.get("created_at"), "created_at") for j in done.values())
    last = max(epoch(j.get("started_at"), "started_at") for j in done.values())
    p99 = scaling.percentile(latencies, 99)
    sca.measure("job start-up latency p50", scaling.percentile(latencies, 50), "s")
    sca.measure("job start-up latency p99", p99, "s", threshold=max_p99.value, comparison="<=",
                threshold_source=max_p99.source, reference=f"{BATCH} jobs submitted at once")
    sca.measure("start-up latencies contradicted by what the check saw", len(misreported),
                "jobs", threshold=0, comparison="<=", threshold_source="the requirement")
    if last > first:
        sca.measure("jobs started per second", scaling.admitted_per_second(BATCH, first, last),
                    "jobs/s")
    assert not misreported, (f"[9.3.b] start-up latency misreported: "
                             f"{'; '.join(misreported)}")
    assert p99 <= max_p99.value, (
        f"[9.3.b] job start-up latency p99 {p99:.2f} s exceeds {max_p99.value:g} s")


def _rank_rate(result: TrainResult) -> list[float]:
    """Samples per second of each epoch of one rank's training."""
    model = result["models"][0]
    return [len(epoch_) * model["batch"] / sum(step["total"] for step in epoch_)
            for epoch_ in model["epochs"]]


def _speedup(sca: CheckContext, jobs: Jobs, probe_image: str,
             request: pytest.FixtureRequest) -> None:
    """The training probe on 1 and on 2 cards (data parallel): S(2) from the summed
    throughput of every rank, at least the declared minimum; per-epoch throughput and stage
    shares on 1 card."""
    min_speedup = sca.threshold("perf.scheduling.min_speedup")
    train = {"models": ["language"], "epochs": 2, "steps_per_epoch": 3, "batch": 256,
             "max_seconds": 3.0}
    cards = 0 if is_cpu_target(sca) else 1
    throughput: dict[int, float] = {}
    for workers in (1, 2):
        job = submit_probe(sca, jobs, probe_image, "train", train, suffix=f"speedup-{workers}",
                           workers=workers, accelerators=cards)
        _, first = finished_probe(sca, jobs, job, train_result)
        ranks = [first] + [probe_output(jobs, job["id"], train_result, worker)
                           for worker in range(1, workers)]
        if sorted(r["rank"] for r in ranks) != list(range(workers)) or any(
                r["world_size"] != workers or not r["models"] for r in ranks):
            raise TargetError(f"the {workers}-worker training job's ranks report "
                              f"{[(r['rank'], r['world_size']) for r in ranks]}")
        throughput[workers] = sum(scaling.mean(_rank_rate(r)) for r in ranks)
        if workers == 1:
            model = first["models"][0]
            for number, rate in enumerate(_rank_rate(first), 1):
                sca.measure(f"epoch {number} throughput (1 card)", rate, "samples/s")
            totals = {n: sum(s[n] for e in model["epochs"] for s in e) for n in model["stages"]}
            for name, share in scaling.stage_shares(totals).items():
                sca.measure(f"{name} share of a step (1 card)", share, "ratio")
    speedup = scaling.speedup(throughput[2], throughput[1])
    sca.measure("multi-card speedup S(2)", speedup, "x", threshold=min_speedup.value,
                comparison=">=", threshold_source=min_speedup.source,
                reference="data-parallel training probe: samples/s summed over the ranks on "
                          f"2 cards ({throughput[2]:.0f}) vs 1 ({throughput[1]:.0f})")
    assert speedup >= min_speedup.value, (
        f"[9.3.b] multi-card speedup S(2) {speedup:.2f} is below {min_speedup.value:g}: the "
        f"training probe on 2 cards does {throughput[2]:.0f} samples/s, on 1 "
        f"{throughput[1]:.0f}")


SCHEDULING: dict[str, Callable[[CheckContext, Jobs, str, pytest.FixtureRequest], None]] = {
    "utilisation": _utilisation, "start-up": _startup, "speedup": _speedup}


@pytest.mark.clause("9.3.b")
@pytest.mark.measuring
@pytest.mark.mutating
@pytest.mark.parametrize("aspect", list(SCHEDULING))
def test_scheduling_performance(sca: CheckContext, jobs: Jobs, probe_image: str, aspect: str,
                                request: pytest.FixtureRequest) -> None:
    """Card utilisation of a busy probe job read from the platform's metrics; start-up latency
    of a batch of jobs (p50/p99, jobs/s) cross-checked with what the check saw; multi-card
    speedup, per-epoch throughput and stage shares of the training probe on 1 and 2 cards."""
    SCHEDULING[aspect](sca, jobs, probe_image, request)
