"""What chapter 9's checks share: probes run as platform jobs, thresholds with their source,
and the CPU or accelerator peak a figure is compared with."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TypeVar

from pytest_sca.capabilities import (
    TERMINAL_JOB_STATUSES,
    Job,
    Jobs,
    Resources,
    TargetError,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics.peaks import cpu_peak_gflops
from pytest_sca.probes import ProbeOutputMissing, job_spec
from pytest_sca.probes.results import Device

#: Single-threaded BLAS: a probe's timing then measures its own core, not a fight for two.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_Result = TypeVar("_Result")


#: The probes that compute with torch where the image has it (``paced`` is numpy or sleeps).
TORCH_PROBES = frozenset({"gemm", "train", "allreduce"})
#: Host memory of a probe job that does not run torch on cards (the paced probe: 40 MiB).
PROBE_MEMORY_GIB = 1.0


def resources(accelerators: int = 0, model: str | None = None,
              memory_gib: float = PROBE_MEMORY_GIB) -> Resources:
    """A probe job's requests per worker: one core, ``memory_gib``, ``accelerators`` cards."""
    wanted: Resources = {"cpu": 1, "memory_gib": memory_gib, "accelerators": accelerators}
    if model:
        wanted["accelerator_model"] = model
    return wanted


def submit_probe(sca: CheckContext, jobs: Jobs, image: str, probe: str,
                 args: Mapping[str, object], *, suffix: str, accelerators: int = 0,
                 workers: int = 1, env: Mapping[str, str] | None = None,
                 model: str | None = None) -> Job:
    """Submit a job that runs ``probe`` (its source in the command), single-threaded; the
    adapter removes it at the end of the check. A torch probe holding cards asks for
    ``perf.accelerator_probe_memory_gib`` of host memory: with 1 GiB (a limit on Kubernetes,
    where requests are limits) torch's CUDA start-up alone would be killed for memory."""
    command, probe_env = job_spec(probe, args, {**ONE_THREAD, **(env or {})})
    memory = (sca.settings.perf.accelerator_probe_memory_gib
              if accelerators and probe in TORCH_PROBES else PROBE_MEMORY_GIB)
    return jobs.submit(sca.name(suffix), image, command, resources(accelerators, model, memory),
                       workers=workers, env=probe_env, labels=sca.labels)


def job_timeout(sca: CheckContext) -> float:
    """How long a probe job may take before the check errors."""
    return sca.settings.perf.job_timeout_s


def probe_output(jobs: Jobs, job_id: str, parse: Callable[[str], _Result],
                 worker: int = 0) -> _Result:
    """The result of the probe one worker of a job ran; ``TargetError`` when its logs hold
    none (the platform lost them, or the probe did not finish)."""
    logs = jobs.logs(job_id, worker=worker)
    try:
        return parse(logs)
    except ProbeOutputMissing as exc:
        raise TargetError(f"job {job_id} worker {worker}: {exc}") from None


def finished_probe(sca: CheckContext, jobs: Jobs, job: Job, parse: Callable[[str], _Result],
                   worker: int = 0) -> tuple[Job, _Result]:
    """Wait for the probe job to end; (job, the probe's result of ``worker``).

    A job that did not succeed raises ``TargetError`` (the check errors: the platform did not
    run the probe, so nothing was measured).
    """
    done = jobs.wait(job["id"], timeout=job_timeout(sca))
    if done.get("status") != "succeeded":
        sca.evidence("probe job logs", jobs.logs(job["id"], worker=worker)[-4000:])
        raise TargetError(f"the probe job {job['id']} ended {done.get('status')} "
                          f"(exit {done.get('exit_code')})")
    return done, probe_output(jobs, job["id"], parse, worker)


def listed_or_read(jobs: Jobs, label: str, wanted: Collection[str]) -> dict[str, Job]:
    """The ``wanted`` jobs in one list request (by their run ``label``); each one the list
    leaves out (a page the adapter did not reach, a list that lags behind its creation) read
    by its id."""
    found = {job["id"]: job for job in jobs.list_jobs(label=label) if job["id"] in wanted}
    for job_id in sorted(set(wanted) - set(found)):
        found[job_id] = jobs.get(job_id)
    return found


def wait_all(jobs: Jobs, label: str, ids: Collection[str], timeout: float) -> dict[str, Job]:
    """Wait for several jobs with ONE list request per round (no per-job polling); the jobs
    as last listed. A job the list leaves out (a page the adapter did not reach, a list that
    lags behind its creation) is read by its id in that round, so an incomplete list slows
    the wait but neither stalls it nor decides it. ``TargetError`` when they do not all end
    in time."""
    wanted = set(ids)

    def listed() -> dict[str, Job]:
        return listed_or_read(jobs, label, wanted)

    def unfinished(found: dict[str, Job]) -> list[str]:
        return sorted(job_id for job_id in wanted
                      if found.get(job_id, {}).get("status") not in TERMINAL_JOB_STATUSES)

    try:
        return wait_for(listed, lambda found: not unfinished(found), timeout,
                        lambda found: f"jobs {unfinished(found)} not finished", longest=1.0)
    except WaitTimeout as timeout_error:
        raise TargetError(str(timeout_error)) from None


def epoch(text: str | None, what: str) -> float:
    """An RFC 3339 timestamp of the platform as epoch seconds; ``TargetError`` if it is none."""
    if not text:
        raise TargetError(f"{what} is missing")
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise TargetError(f"{what} is not an RFC 3339 time: {text!r}") from None


def cpu_peak(sca: CheckContext, device: Device, cores_used: int) -> tuple[float, str]:
    """The CPU peak (GFLOP/s) of the ``cores_used`` cores a CPU figure was measured on, and
    where it came from.

    The declared peak (``perf.cpu.peak_gflops``) covers ``perf.cpu.cores`` cores (else every
    core the probe saw); a figure measured on fewer cores is compared with their share, so
    that a single-threaded probe is never held to, nor excused by, the whole chip's peak.
    """
    peak_gflops = sca.settings.perf.cpu.peak_gflops
    cores = sca.settings.perf.cpu.cores
    source = sca.settings.perf.cpu.source
    seen = int(device.get("cores") or 0)
    if peak_gflops is not None:
        covered = cores or seen
        if not covered:
            sca.not_assessed("the probe could not count the CPU's cores: declare "
                             "capabilities.perf.cpu.cores with the peak")
        where = (f"declared in the target file{': ' + source if source else ''}"
                 f"; {cores_used} of {covered} cores"
                 f"{'' if cores else ' (cores as the probe saw them)'}")
        return float(peak_gflops) * cores_used / covered, where
    clock = float(device.get("clock_ghz") or 0.0)
    if clock <= 0:
        sca.not_assessed("the probe could not read the CPU clock: declare "
                         "capabilities.perf.cpu.peak_gflops in the target file")
    peak = cpu_peak_gflops(cores_used, clock, device.get("flags") or [])
    return peak, f"{cores_used} core(s) × {clock:.2f} GHz × FLOPs/cycle from the CPU flags"


def is_cpu_target(sca: CheckContext) -> bool:
    """The target declares its compute device to be the CPU (no accelerator to measure)."""
    return sca.settings.perf.compute_device == "cpu"


def share_of_peak(what: str, achieved: float, peak: float) -> float:
    """``achieved / peak``; ``TargetError`` when the figure exceeds the peak, which no
    hardware does: the declared peak or the probe's timing is wrong, nothing is known."""
    share = achieved / peak
    if share > 1.0:
        raise TargetError(f"{what}: {achieved:.4g} is {share:.0%} of the peak {peak:.4g}: a "
                          "measurement above the peak means the peak or the timing is wrong (a "
                          "virtual machine shows its nominal clock, not its boost: declare "
                          "capabilities.perf.cpu.peak_gflops)")
    return share
