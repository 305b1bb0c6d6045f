"""7.2 分布式任务 Distributed tasks."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ..library import SMALL
from .probes import ALLREDUCE, BUSY, SLEEPER, json_lines, python

#: Frameworks the standard names besides PyTorch; at least one must be offered too.
OTHER_FRAMEWORKS = ("tensorflow", "mpi", "deepspeed")
#: What torch.distributed's env:// rendezvous needs in every worker.
TORCH_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _submit(sca: CheckContext, jobs: Any, cleanup: Cleanup, image: str, script: str,
            suffix: str, *, workers: int = 1, env: dict[str, str] | None = None) -> Any:
    job = jobs.submit(sca.name(suffix), image, python(script), SMALL, workers=workers,
                      env=env, labels=sca.labels)
    return job


def _allreduce_job(sca: CheckContext, jobs: Any, cleanup: Cleanup, image: str,
                   suffix: str) -> tuple[Any, list[dict[str, Any]], float]:
    """A 2-worker all-reduce: (the finished job, each worker's result, the expected sum)."""
    values = [random.randint(1, 1000), random.randint(1, 1000)]
    job = _submit(sca, jobs, cleanup, image, ALLREDUCE, suffix, workers=2,
                  env={"SCA_PROBE_VALUES": ",".join(map(str, values)),
                       "SCA_PROBE_TIMEOUT": str(sca.settings.training.rendezvous_timeout_s)})
    done = jobs.wait(job["id"], timeout=120)
    results = [next(iter(json_lines(jobs.logs(job["id"], worker=rank), "sca_allreduce")), {})
               for rank in range(2)]
    sca.evidence("all-reduce job", {"status": done["status"], "exit_code": done.get("exit_code"),
                                    "workers": done.get("workers"), "results": results})
    return done, results, float(sum(values))


@pytest.mark.clause("7.2.a")
@pytest.mark.mutating
def test_two_worker_job_communicates(sca: CheckContext, jobs: Any, probe_image: str,
                                     cleanup: Cleanup) -> None:
    """A 2-worker job runs both workers and they all-reduce: each prints the sum of both values."""
    done, results, expected = _allreduce_job(sca, jobs, cleanup, probe_image, "dist")
    sums = [r.get("sum") for r in results]
    assert done["status"] == "succeeded" and sums == [expected, expected], (
        f"[7.2.a] the 2 workers did not complete an all-reduce: job {done['status']} "
        f"(exit {done.get('exit_code')}), sums {sums}, expected {expected:g}")


@pytest.mark.clause("7.2.b")
@pytest.mark.mutating
def test_mainstream_frameworks_offered(sca: CheckContext, devtools: Any, jobs: Any,
                                       probe_image: str, cleanup: Cleanup) -> None:
    """PyTorch and one of TF/MPI/DeepSpeed are offered; PyTorch workers get the env:// contract."""
    offered = {str(f.get("name", "")).lower() for f in devtools.frameworks()}
    sca.evidence("frameworks", sorted(offered))
    others = sorted(offered & set(OTHER_FRAMEWORKS))
    assert "pytorch" in offered and others, (
        f"[7.2.b] frameworks offered {sorted(offered)}: PyTorch and one of "
        f"{', '.join(OTHER_FRAMEWORKS)} expected")
    done, results, _ = _allreduce_job(sca, jobs, cleanup, probe_image, "torch-env")
    envs = [r.get("env") or {} for r in results]
    contract = (len(envs) == 2 and all(all(e.get(k) for k in TORCH_ENV) for e in envs)
                and {e.get("RANK") for e in envs} == {"0", "1"}
                and len({(e.get("MASTER_ADDR"), e.get("MASTER_PORT")) for e in envs}) == 1)
    assert contract, (
        f"[7.2.b] PyTorch workers lack a consistent env:// rendezvous ({', '.join(TORCH_ENV)}): "
        f"{envs}")


@pytest.mark.clause("7.2.c")
@pytest.mark.mutating
def test_stop_restart_delete(sca: CheckContext, jobs: Any, probe_image: str,
                             cleanup: Cleanup) -> None:
    """Stop makes a running job stopped, restart runs it again, delete removes it."""
    job = _submit(sca, jobs, cleanup, probe_image, SLEEPER, "lifecycle")
    jobs.wait(job["id"], until={"running"}, timeout=60)
    jobs.stop(job["id"])
    limit = sca.settings.jobs.stop_timeout_s
    try:
        stopped = jobs.wait(job["id"], until={"stopped"}, timeout=limit)
    except WaitTimeout as timeout:
        raise AssertionError(f"[7.2.c] stop did not stop job {job['id']}: still "
                             f"{(timeout.last or {}).get('status')} after {limit:g} s") from None
    jobs.restart(job["id"])
    try:
        again = jobs.wait(job["id"], until={"running"}, timeout=60)
    except WaitTimeout as timeout:
        raise AssertionError(f"[7.2.c] restart did not run job {job['id']} again: "
                             f"{(timeout.last or {}).get('status')}") from None
    jobs.delete(job["id"])
    try:
        left = jobs.get(job["id"])
    except Refused as gone:
        left = None
        assert gone.status in (404, 410), f"[7.2.c] a deleted job answers {gone.status}"
    sca.evidence("life cycle", {"after stop": stopped["status"], "after restart":
                                again["status"], "after delete": left and left.get("status")})
    assert left is None, f"[7.2.c] delete did not remove job {job['id']}: {left.get('status')}"


@pytest.mark.clause("7.2.d")
@pytest.mark.mutating
def test_status_and_events_with_timestamps(sca: CheckContext, jobs: Any, probe_image: str,
                                           cleanup: Cleanup) -> None:
    """A short job ends succeeded; its events and created/started/finished times are in order."""
    job = _submit(sca, jobs, cleanup, probe_image, "print('sca-events')", "events")
    done = jobs.wait(job["id"], timeout=60)
    events = jobs.events(job["id"])
    sca.evidence("events", events)
    assert done["status"] == "succeeded", f"[7.2.d] the probe job ended {done['status']}"
    times = [done.get("created_at"), done.get("started_at"), done.get("finished_at")]
    assert all(times) and times == sorted(times), (
        f"[7.2.d] created/started/finished times missing or out of order: {times}")
    assert events, f"[7.2.d] the job's events list is empty (job {job['id']})"
    stamps = [e.get("time") for e in events]
    assert all(stamps) and stamps == sorted(stamps) and len(events) >= 2, (
        f"[7.2.d] events lack timestamps or are out of order: {stamps}")


@pytest.mark.clause("7.2.e")
@pytest.mark.mutating
def test_job_metrics_over_run_window(sca: CheckContext, jobs: Any, devtools: Any,
                                     probe_image: str, cleanup: Cleanup) -> None:
    """A job that burns CPU for 3 s has a CPU series in its run window that grows over time."""
    job = _submit(sca, jobs, cleanup, probe_image, BUSY.format(seconds=3), "monitor")
    done = jobs.wait(job["id"], timeout=60)
    window = (done.get("started_at"), done.get("finished_at"))
    answer = devtools.job_metrics(job["id"], since=window[0], until=window[1])
    cpu = [s for s in answer.get("series", []) if s.get("name") == "cpu_seconds"]
    points = [p for s in cpu for p in s.get("points", []) if s.get("worker", 0) == 0]
    sca.evidence("cpu series", {"window": window, "points": points[:50]})
    for point in points:
        sca.measure("job cpu seconds", point["value"], "s")
        break
    assert len(points) >= 3, (
        f"[7.2.e] fewer than 3 metric samples in the job's run window: {len(points)}")
    values = [p["value"] for p in points]
    assert values[-1] > values[0], f"[7.2.e] the CPU series of a busy job does not grow: {values}"


@pytest.mark.clause("7.2.f")
@pytest.mark.mutating
def test_logs_show_the_token(sca: CheckContext, jobs: Any, probe_image: str,
                             cleanup: Cleanup) -> None:
    """A job prints 2000 lines then a unique token; the logs API returns the token."""
    token = f"sca-log-token-{sca.run_id}-{random.randint(0, 10**9)}"
    script = f"for i in range(2000):\n    print('filler', i)\nprint({token!r})\n"
    job = _submit(sca, jobs, cleanup, probe_image, script, "logs")
    done = jobs.wait(job["id"], timeout=60)
    text = jobs.logs(job["id"], worker=0)
    sca.evidence("log tail", text[-500:])
    assert token in text, (
        f"[7.2.f] the token the job printed is not in its logs (job {done['status']}, "
        f"{len(text)} characters of logs)")


@pytest.mark.clause("7.2.g")
@pytest.mark.mutating
def test_web_terminal_into_worker(sca: CheckContext, jobs: Any, devtools: Any,
                                  probe_image: str, cleanup: Cleanup) -> None:
    """A terminal into a running worker runs `echo` and shows its computed output."""
    job = _submit(sca, jobs, cleanup, probe_image, SLEEPER, "terminal")
    jobs.wait(job["id"], until={"running"}, timeout=60)
    marker = f"sca-{random.randint(10**5, 10**6)}"
    expected = f"{marker}-42"
    try:
        terminal = devtools.terminal(job["id"], worker=0)
    except Refused as refused:
        raise AssertionError(f"[7.2.g] `echo` did not round-trip through the web terminal: "
                             f"{refused}") from None
    try:
        # The shell computes 42: an echo of the typed line cannot pass for its output.
        terminal.send(f"echo {marker}-$((6*7))\n")
        transcript = terminal.read_until(expected, timeout=15)
    finally:
        terminal.close()
    sca.evidence("terminal transcript", transcript[-1000:])
    assert expected in transcript, (
        f"[7.2.g] `echo` did not round-trip through the web terminal: "
        f"{terminal.closed or 'no output within 15 s'}")
