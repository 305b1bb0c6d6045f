"""What chapter 9's checks share: probes run as platform jobs, thresholds with their source,
and the CPU or accelerator peak a figure is compared with."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_sca.capabilities import TERMINAL_JOB_STATUSES
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics.peaks import cpu_peak_gflops
from pytest_sca.probes import job_spec, parse_result

#: Single-threaded BLAS: a probe's timing then measures its own core, not a fight for two.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def resources(accelerators: int = 0, model: str | None = None) -> dict[str, Any]:
    """A probe job's requests per worker."""
    wanted: dict[str, Any] = {"cpu": 1, "memory_gib": 1, "accelerators": accelerators}
    if model:
        wanted["accelerator_model"] = model
    return wanted


def submit_probe(sca: CheckContext, jobs: Any, cleanup: Cleanup, image: str, probe: str,
                 args: Mapping[str, Any], *, suffix: str, accelerators: int = 0,
                 workers: int = 1, env: Mapping[str, str] | None = None,
                 model: str | None = None, one_thread: bool = True) -> dict[str, Any]:
    """Submit a job that runs ``probe`` (its source in the command); removed at teardown."""
    command, probe_env = job_spec(probe, args,
                                  {**(ONE_THREAD if one_thread else {}), **(env or {})})
    job = jobs.submit(sca.name(suffix), image, command, resources(accelerators, model),
                      workers=workers, env=probe_env, labels=sca.labels)
    return dict(job)


def job_timeout(sca: CheckContext) -> float:
    return sca.settings.perf.job_timeout_s


def finished_probe(sca: CheckContext, jobs: Any, job: Mapping[str, Any], probe: str,
                   worker: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait for the probe job to end; (job, the probe's result of ``worker``).

    A job that did not succeed raises (the check errors: the platform did not run the probe).
    """
    done = jobs.wait(job["id"], timeout=job_timeout(sca))
    logs = jobs.logs(job["id"], worker=worker)
    if done["status"] != "succeeded":
        sca.evidence(f"{probe} probe logs", logs[-4000:])
        raise RuntimeError(f"the {probe} probe job {job['id']} ended {done['status']} "
                           f"(exit {done.get('exit_code')})")
    return done, parse_result(logs, probe)


def wait_all(jobs: Any, label: str, ids: Sequence[str], timeout: float,
             ) -> dict[str, dict[str, Any]]:
    """Wait for several jobs with ONE list request per round (no per-job polling)."""
    deadline = time.monotonic() + timeout
    interval = 0.1
    while True:
        listed = {j["id"]: j for j in jobs.list_jobs(label=label) if j["id"] in ids}
        if len(listed) == len(ids) and all(j["status"] in TERMINAL_JOB_STATUSES
                                           for j in listed.values()):
            return listed
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs {sorted(ids)} not finished after {timeout:g} s")
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)


def cpu_peak(sca: CheckContext, device: Mapping[str, Any], cores_used: int | None = None,
             ) -> tuple[float, str]:
    """The CPU peak (GFLOP/s) a CPU figure is compared with, and where it came from.

    ``cores_used``: the cores the probe computed on (a single-threaded probe: 1); the
    default is every core of the CPU.
    """
    declared = sca.settings.perf.cpu.peak_gflops
    if declared is not None:
        source = sca.settings.perf.cpu.source
        total_cores = sca.settings.perf.cpu.cores or 0
        peak = float(declared)
        where = f"declared in the target file{': ' + source if source else ''}"
        if cores_used and total_cores:
            peak = peak * cores_used / total_cores
            where += f"; {cores_used} of {total_cores} cores"
        return peak, where
    cores = int(cores_used or device.get("cores") or 1)
    clock = float(device.get("clock_ghz") or 0.0)
    if clock <= 0:
        sca.not_assessed("the probe could not read the CPU clock: declare "
                         "capabilities.perf.cpu.peak_gflops in the target file")
    peak = cpu_peak_gflops(cores, clock, device.get("flags") or [])
    return peak, f"{cores} cores × {clock:.2f} GHz × FLOPs/cycle from the CPU flags"


def is_cpu_target(sca: CheckContext) -> bool:
    """The target declares its compute device to be the CPU (no accelerator to measure)."""
    return sca.settings.perf.compute_device == "cpu"
