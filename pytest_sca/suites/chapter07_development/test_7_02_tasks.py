"""7.2 分布式任务 Distributed tasks."""

from __future__ import annotations

import datetime as dt
import json
import random
import re

import pytest

from pytest_sca.capabilities import (
    DevTools,
    Framework,
    Images,
    Job,
    Jobs,
    RefusalReason,
    Refused,
    TargetError,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

from ..library import SMALL, python, run_allreduce
from .workloads import BUSY, SLEEPER

#: Frameworks the standard names besides PyTorch; at least one must be offered too.
OTHER_FRAMEWORKS = ("tensorflow", "mpi", "deepspeed")
#: What torch.distributed's env:// rendezvous needs in every worker.
TORCH_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
#: How long a stopped job is watched for output (its heartbeat prints every 0.5 s).
QUIET_WATCH_S = 2.5
#: Clocks of the platform's parts may differ by this much (events, samples vs the job's times).
CLOCK_SLACK = dt.timedelta(seconds=5)
#: How far the platform's clock may differ from the evaluator's (both kept by NTP, well within).
EVALUATOR_SKEW = dt.timedelta(seconds=30)


def _submit(sca: CheckContext, jobs: Jobs, image: str, script: str, suffix: str) -> Job:
    return jobs.submit(sca.name(suffix), image, python(script), SMALL, labels=sca.labels)


def _instant(value: object, what: str) -> dt.datetime:
    """An ISO 8601 time the platform gave (``Z`` or an offset; naive means UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise TargetError(f"{what} is not a time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@pytest.mark.clause("7.2.a")
@pytest.mark.mutating
def test_two_worker_job_communicates(sca: CheckContext, jobs: Jobs, probe_image: str) -> None:
    """A 2-worker job runs both workers and they all-reduce (the shipped probe: gloo, or TCP):
    each rank prints the sum of both workers' random values."""
    run = run_allreduce(sca, jobs, probe_image, "dist", SMALL)
    finished = run.ranks_with_the_sum()
    printed = [(r.get("sum"), r.get("error")) if r else None for r in run.results]
    assert run.job.get("status") == "succeeded" and finished == [0, 1], (
        f"[7.2.a] the 2 workers did not complete an all-reduce: job {run.job.get('status')} "
        f"(exit {run.job.get('exit_code')}), ranks with the sum {finished}, expected "
        f"{run.expected:g} on both, printed (sum, error) {printed}")


@pytest.mark.clause("7.2.b")
@pytest.mark.mutating
@pytest.mark.parametrize("case", ["catalogue", "pytorch-env"])
def test_mainstream_frameworks_offered(sca: CheckContext, devtools: DevTools, jobs: Jobs,
                                       probe_image: str, request: pytest.FixtureRequest,
                                       case: str) -> None:
    """[catalogue] PyTorch and one of TF/MPI/DeepSpeed are offered for distributed jobs, and,
    where the target's image catalogue has a preset image of one of them, a 2-worker job in
    it finds that framework installed (its Python distribution, at a version the framework
    catalogue lists) in both workers, with the variables the catalogue promises its workers
    (without such an image the evidence says the other framework was not run);
    [pytorch-env] the workers of a 2-worker job get every variable the catalogue promises
    PyTorch workers and a consistent env:// rendezvous (RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    frameworks = {str(f.get("name", "")).lower(): f for f in devtools.frameworks()}
    sca.evidence("frameworks", frameworks)
    if case == "catalogue":
        distributed = {name for name, f in frameworks.items() if f.get("distributed") is not False}
        others = sorted(distributed & set(OTHER_FRAMEWORKS))
        assert "pytorch" in distributed and others, (
            f"[7.2.b] frameworks offered for distributed jobs {sorted(distributed)}: PyTorch "
            f"and one of {', '.join(OTHER_FRAMEWORKS)} expected")
        _run_second_framework(sca, request, jobs, frameworks)
        return
    pytorch = frameworks.get("pytorch")
    assert pytorch is not None, "[7.2.b] PyTorch is not in the framework catalogue"
    promised = sorted(set(TORCH_ENV) | set(pytorch.get("worker_env") or ()))
    run = run_allreduce(sca, jobs, probe_image, "torch-env", SMALL, env_names=promised)
    if any(result is None for result in run.results):
        raise TargetError(f"[7.2.b] a worker of the 2-worker job printed nothing: could not see "
                          f"its environment (job {run.job.get('status')})")
    envs = [(result or {}).get("env") or {} for result in run.results]
    lacking = {rank: [name for name in promised if not env.get(name)]
               for rank, env in enumerate(envs)}
    consistent = ([env.get("RANK") for env in envs] == ["0", "1"]
                  and all(env.get("WORLD_SIZE") == "2" for env in envs)
                  and len({(env.get("MASTER_ADDR"), env.get("MASTER_PORT")) for env in envs}) == 1)
    assert consistent and not any(lacking.values()), (
        f"[7.2.b] PyTorch workers lack a consistent env:// rendezvous or variables the "
        f"catalogue promises ({', '.join(promised)}): lacking {lacking}, seen {envs}")


#: framework → the Python distributions that install it (MPI: its Python binding).
FRAMEWORK_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel"),
    "deepspeed": ("deepspeed",),
    "mpi": ("mpi4py",),
}
#: Each worker reports the distributions installed (argv) and its rendezvous variables.
FRAMEWORK_PROBE = (
    "import importlib.metadata as m, json, os, sys\n"
    "def version(name):\n"
    "    try:\n"
    "        return m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        return None\n"
    "names = json.loads(os.environ['SCA_ENV_NAMES'])\n"
    "print('sca-framework', json.dumps({'installed': {n: version(n) for n in sys.argv[1:]},\n"
    "      'env': {n: os.environ.get(n) for n in names}}), flush=True)\n")
#: How long the second framework's job may take: a cold node pulls its image first.
FRAMEWORK_RUN_WAIT_S = 600.0


def _release_of(installed: str, versions: list[str]) -> bool:
    """Whether an installed version (``2.17.0``, ``0.15.4+cpu``) is one the catalogue lists
    (``2.17.0``, or ``0.15`` for any 0.15.x)."""
    found = re.search(r"\d+(\.\d+)+", installed)
    release = found.group(0) if found else installed
    return any(release == v or release.startswith(f"{v}.") for v in versions)


def _framework_line(text: str) -> dict[str, dict[str, str | None]] | None:
    for line in reversed(text.splitlines()):
        head, _, tail = line.strip().partition(" ")
        if head == "sca-framework":
            try:
                found = json.loads(tail)
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _run_second_framework(sca: CheckContext, request: pytest.FixtureRequest, jobs: Jobs,
                          frameworks: dict[str, Framework]) -> None:
    """Run the first other framework offered that has a preset image, in a 2-worker job; where
    none can be run, the evidence says why (the catalogue's claim then stands alone)."""
    offered = [name for name in OTHER_FRAMEWORKS
               if name in frameworks and frameworks[name].get("distributed") is not False]
    try:
        images: Images = request.getfixturevalue("images")
    except NotAssessed as no_images:
        sca.evidence("other framework not run", f"no image catalogue to find the preset image "
                                                f"of {', '.join(offered)} in: {no_images}")
        return
    presets = [i for i in images.list_images() if i.get("preset")]
    pick = next(((name, image) for name in offered for image in presets
                 if name in f"{image.get('framework') or ''} {image.get('name') or ''}".lower()),
                None)
    if pick is None:
        sca.evidence("other framework not run", f"the image catalogue has no preset image of "
                                                f"{', '.join(offered)} to run it in")
        return
    name, image = pick
    reference = f"{image.get('name')}:{image.get('tag')}"
    promised = sorted({"RANK", "WORLD_SIZE"} | set(frameworks[name].get("worker_env") or ()))
    job = jobs.submit(sca.name(f"fw-{name}"), reference,
                      [*python(FRAMEWORK_PROBE), *FRAMEWORK_DISTRIBUTIONS[name]], SMALL,
                      workers=2, env={"SCA_ENV_NAMES": json.dumps(promised)},
                      labels=sca.labels)
    done = jobs.wait(job["id"], timeout=FRAMEWORK_RUN_WAIT_S)
    reports = [_framework_line(jobs.logs(job["id"], worker=rank)) for rank in (0, 1)]
    sca.evidence(f"{name} workers", {"image": reference, "job": done.get("status"),
                                     "reports": reports})
    if any(report is None for report in reports):
        raise TargetError(f"[7.2.b] a worker of the 2-worker job in {reference} reported "
                          f"nothing (job {done.get('status')}): could not see inside it")
    seen = [report or {} for report in reports]
    installed = [{k: v for k, v in (r.get("installed") or {}).items() if v} for r in seen]
    lacking = [rank for rank, found in enumerate(installed) if not found]
    assert not lacking, (
        f"[7.2.b] {name} is offered for distributed jobs but its preset image {reference} has "
        f"it not installed in workers {lacking} (none of "
        f"{', '.join(FRAMEWORK_DISTRIBUTIONS[name])})")
    versions = [str(v) for v in frameworks[name].get("versions") or []]
    other = [found for found in installed
             if versions and not any(_release_of(str(v), versions) for v in found.values())]
    assert not other, (f"[7.2.b] the {name} workers run {other[0]}, not a version the "
                       f"catalogue lists ({versions})")
    envs = [r.get("env") or {} for r in seen]
    missing = {rank: [n for n in promised if not env.get(n)] for rank, env in enumerate(envs)}
    assert [env.get("RANK") for env in envs] == ["0", "1"] and all(
        env.get("WORLD_SIZE") == "2" for env in envs) and not any(missing.values()), (
        f"[7.2.b] {name} workers lack a consistent rank environment or variables the "
        f"catalogue promises ({', '.join(promised)}): lacking {missing}, seen {envs}")


def _output(jobs: Jobs, job_id: str) -> str | None:
    """What worker 0 printed so far; None when the platform holds no output any more (the
    workers of a stopped job are gone)."""
    try:
        return jobs.logs(job_id, worker=0)
    except Refused as refusal:
        if refusal.reason is RefusalReason.NOT_FOUND:
            return None
        raise


def _beats(text: str | None) -> int:
    return sum(1 for line in (text or "").splitlines() if line.startswith("sca-heartbeat"))


def _gone(jobs: Jobs, job_id: str) -> Job | Refused:
    try:
        return jobs.get(job_id)
    except Refused as refusal:
        return refusal


@pytest.mark.clause("7.2.c")
@pytest.mark.mutating
def test_stop_restart_delete(sca: CheckContext, jobs: Jobs, probe_image: str) -> None:
    """Stop makes a running job stopped and its worker falls silent; restart runs it again
    (new output); delete removes it (it then answers not found)."""
    job = _submit(sca, jobs, probe_image, SLEEPER, "lifecycle")
    jobs.wait(job["id"], until={"running"}, timeout=60)
    try:
        wait_for(lambda: _beats(_output(jobs, job["id"])), bool, 30,
                 lambda _: f"job {job['id']} printed no heartbeat")
    except WaitTimeout as waited:
        raise TargetError(f"[7.2.c] cannot watch the job's output: {waited}") from None
    jobs.stop(job["id"])
    limit = sca.settings.jobs.stop_timeout_s
    try:
        stopped = jobs.wait(job["id"], until={"stopped"}, timeout=limit)
    except WaitTimeout as timeout:
        raise AssertionError(f"[7.2.c] stop did not stop job {job['id']}: still "
                             f"{(timeout.last or {}).get('status')} after {limit:g} s") from None
    silent = _output(jobs, job["id"])
    try:
        louder = wait_for(lambda: _output(jobs, job["id"]),
                          lambda text: _beats(text) > _beats(silent), QUIET_WATCH_S,
                          lambda text: f"{_beats(text)} heartbeats")
    except WaitTimeout:
        louder = None
    assert louder is None, (
        f"[7.2.c] stop did not stop job {job['id']}: it shows {stopped.get('status')} but its "
        f"worker kept printing ({_beats(silent)} → {_beats(louder)} heartbeats)")
    jobs.restart(job["id"])
    try:
        again = jobs.wait(job["id"], until={"running"}, timeout=60)
        wait_for(lambda: _output(jobs, job["id"]),
                 lambda text: text != silent and _beats(text) > 0, 30,
                 lambda _: "no new heartbeat")
    except WaitTimeout as timeout:
        raise AssertionError(f"[7.2.c] restart did not run job {job['id']} again: "
                             f"{timeout}") from None
    jobs.delete(job["id"])
    try:
        left = wait_for(lambda: _gone(jobs, job["id"]), lambda v: isinstance(v, Refused), limit,
                        lambda v: f"job {job['id']} still {v.get('status')}"
                        if isinstance(v, dict) else str(v))
    except WaitTimeout as timeout:
        raise AssertionError(f"[7.2.c] delete did not remove job {job['id']}: "
                             f"{timeout}") from None
    sca.evidence("life cycle", {"after stop": stopped.get("status"),
                                "after restart": again.get("status"), "after delete": str(left)})
    assert isinstance(left, Refused) and left.reason is RefusalReason.NOT_FOUND, (
        f"[7.2.c] the deleted job {job['id']} answers {left}, not 'not found'")


@pytest.mark.clause("7.2.d")
@pytest.mark.mutating
def test_status_and_events_with_timestamps(sca: CheckContext, jobs: Jobs,
                                           probe_image: str) -> None:
    """A short job ends succeeded; its created/started/finished times are in order and lie
    between the check's submitting it and seeing it end (on the check's own clock, within a
    clock skew), and its events (at least two) carry times in order within the job's life."""
    submitted = dt.datetime.now(dt.timezone.utc)
    job = _submit(sca, jobs, probe_image, "print('sca-events')", "events")
    done = jobs.wait(job["id"], timeout=60)
    seen_done = dt.datetime.now(dt.timezone.utc)
    if done.get("status") != "succeeded":
        raise TargetError(f"[7.2.d] the probe job ended {done.get('status')}")
    events = jobs.events(job["id"])
    sca.evidence("events", {"job": done, "events": events})
    stamps = [done.get("created_at"), done.get("started_at"), done.get("finished_at")]
    assert all(stamps), f"[7.2.d] the job lacks created/started/finished times: {stamps}"
    created, started, finished = (_instant(s, "a job time") for s in stamps)
    assert created <= started <= finished, (
        f"[7.2.d] created/started/finished times out of order: {stamps}")
    assert submitted - EVALUATOR_SKEW <= created and finished <= seen_done + EVALUATOR_SKEW, (
        f"[7.2.d] the job's times {stamps[0]} to {stamps[2]} lie outside the time the check "
        f"saw it live ({submitted.isoformat()} to {seen_done.isoformat()}, "
        f"±{EVALUATOR_SKEW.total_seconds():g} s of clock skew)")
    assert events, f"[7.2.d] the job's events list is empty (job {job['id']})"
    assert all(e.get("time") for e in events) and len(events) >= 2, (
        f"[7.2.d] {len(events)} event(s), or events without a time: "
        f"{[e.get('time') for e in events]}")
    times = [_instant(e.get("time"), "an event time") for e in events]
    outside = [str(t) for t in times if not created - CLOCK_SLACK <= t <= finished + CLOCK_SLACK]
    assert times == sorted(times) and not outside, (
        f"[7.2.d] event times out of order or outside the job's life ({stamps[0]} to "
        f"{stamps[2]}): {[e.get('time') for e in events]}")


@pytest.mark.clause("7.2.e")
@pytest.mark.mutating
def test_job_metrics_over_run_window(sca: CheckContext, jobs: Jobs, devtools: DevTools,
                                     probe_image: str) -> None:
    """A job that burns CPU for 3 s has a CPU series in its run window: at least 3 samples,
    with increasing times inside the window, whose value grows by what the probe burned: no
    more than the CPU seconds the probe reports it burned (with what a launcher adds), no less
    than a quarter of its mean share of a core over the part of the run the samples span."""
    job = _submit(sca, jobs, probe_image, BUSY.format(seconds=3), "monitor")
    done = jobs.wait(job["id"], timeout=60)
    if done.get("status") != "succeeded" or not done.get("started_at") \
            or not done.get("finished_at"):
        raise TargetError(f"[7.2.e] the busy probe job ended {done.get('status')} without a run "
                          f"window ({done.get('started_at')} to {done.get('finished_at')})")
    start, end = done.get("started_at"), done.get("finished_at")
    answer = devtools.job_metrics(job["id"], since=start, until=end)
    points = [p for s in answer.get("series") or [] if s.get("name") == "cpu_seconds"
              and s.get("worker", 0) == 0 for p in s.get("points") or []]
    sca.evidence("cpu series", {"window": [start, end], "points": points[:50]})
    assert len(points) >= 3, (
        f"[7.2.e] fewer than 3 metric samples in the job's run window: {len(points)}")
    times = [_instant(p.get("time"), "a sample time") for p in points]
    begin, finish = _instant(start, "started_at"), _instant(end, "finished_at")
    assert all(a < b for a, b in zip(times, times[1:], strict=False)) and \
        begin - CLOCK_SLACK <= times[0] and times[-1] <= finish + CLOCK_SLACK, (
            f"[7.2.e] the samples' times are not increasing within the run window {start} to "
            f"{end}: {[p.get('time') for p in points]}")
    values = [float(p.get("value", 0.0)) for p in points]
    growth = values[-1] - values[0]
    sca.measure("CPU time sampled in the job's run window", growth, "s")
    assert values[-1] > values[0], f"[7.2.e] the CPU series of a busy job does not grow: {values}"
    burned, looped = _busy_account(jobs, job["id"])
    # The samples' span inside the run window, less the second a platform's times may be
    # truncated to (Kubernetes' started_at/finished_at): the probe was busy all along it.
    spanned = max(0.0, (min(times[-1], finish) - max(times[0], begin)).total_seconds()
                  - TIME_RESOLUTION_S)
    share = min(1.0, burned / looped) if looped > 0 else 0.0
    most = BURN_OVERHEAD_FACTOR * burned + BURN_OVERHEAD_S
    least = BURN_SHARE_FLOOR * share * spanned
    sca.evidence("cpu account", {
        "probe's own CPU seconds": burned, "probe's loop seconds": looped,
        "samples' growth": growth, "seconds spanned in the run": spanned,
        "allowed growth": [least, most]})
    assert growth <= most, (
        f"[7.2.e] the CPU series grew by {growth:g} s while the probe burned {burned:.2f} s of "
        f"CPU in all (at most {most:.2f} s allowed): not the job's CPU seconds")
    assert growth >= least, (
        f"[7.2.e] the CPU series grew by {growth:g} s over {spanned:.2f} s of the run while "
        f"the probe burned {share:.0%} of a core on average (at least {least:.2f} s expected): "
        f"not the job's CPU seconds")


#: The CPU series counts the job's container (its cgroup): besides the probe's own CPU time it
#: holds what the runtime's init, a shell or a launcher burned, which a real platform keeps
#: well under as much again plus a second (a launcher that imports a framework).
BURN_OVERHEAD_FACTOR = 2.0
BURN_OVERHEAD_S = 1.0
#: Over the samples' span the single-threaded busy loop burns at its mean share of a core; a
#: quarter of that leaves room for a contended node's share varying over the run and for
#: counters read a little before their timestamps, while a series in other units (minutes)
#: or of an idle container (a pause container, a sidecar) stays far below.
BURN_SHARE_FLOOR = 0.25
#: The coarsest resolution of a platform's job times (Kubernetes keeps whole seconds).
TIME_RESOLUTION_S = 1.0


def _busy_account(jobs: Jobs, job_id: str) -> tuple[float, float]:
    """The busy probe's own last line: the CPU seconds it burned and how long it looped."""
    text = jobs.logs(job_id, worker=0)
    for line in reversed(text.splitlines()):
        head, _, tail = line.strip().partition(" ")
        if head != "sca-busy-done":
            continue
        try:
            account = json.loads(tail)
            return float(account["cpu_s"]), float(account["wall_s"])
        except (ValueError, TypeError, KeyError):
            break
    raise TargetError(f"[7.2.e] the busy probe's logs lack its own CPU account (the "
                      f"'sca-busy-done' line; {len(text)} characters of logs)")


@pytest.mark.clause("7.2.f")
@pytest.mark.mutating
def test_logs_show_the_token(sca: CheckContext, jobs: Jobs, probe_image: str) -> None:
    """A job prints 2000 lines then a unique token; the logs API returns the token."""
    token = f"sca-log-token-{sca.run_id}-{random.randint(0, 10**9)}"
    script = f"for i in range(2000):\n    print('filler', i)\nprint({token!r})\n"
    job = _submit(sca, jobs, probe_image, script, "logs")
    done = jobs.wait(job["id"], timeout=60)
    if done.get("status") != "succeeded":
        raise TargetError(f"[7.2.f] the printing job ended {done.get('status')}")
    text = jobs.logs(job["id"], worker=0)
    sca.evidence("log tail", text[-500:])
    assert token in text, (
        f"[7.2.f] the token the job printed is not in its logs (job {done.get('status')}, "
        f"{len(text)} characters of logs)")


@pytest.mark.clause("7.2.g")
@pytest.mark.mutating
def test_web_terminal_into_worker(sca: CheckContext, jobs: Jobs, devtools: DevTools,
                                  probe_image: str) -> None:
    """A terminal into a running worker runs `echo` and shows its computed output."""
    job = _submit(sca, jobs, probe_image, SLEEPER, "terminal")
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
