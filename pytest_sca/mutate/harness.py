"""Run the selected checks through the proxies: once unchanged, then once per operator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pytest_sca.loopback_tls import issue_loopback_tls

from . import operators as ops
from . import targetfile
from .platforms import Platform
from .proxy import OUTSIDE, Control, ControlEndpoint, Proxy, ProxyLoop
from .recorder import CONTROL_ENV, LIMITS_ENV

BASELINE = "none"
#: The unchanged run's time limit (mutated runs get a multiple of what it took).
BASELINE_TIMEOUT = 1800.0
#: After the time limit: SIGINT (pytest writes its reports), then this long before SIGKILL.
INTERRUPT_GRACE = 60.0
#: A check's limit under an operator: this many seconds plus a multiple of its unchanged time.
CHECK_LIMIT_BASE = 30.0
CHECK_LIMIT_FACTOR = 3.0


@dataclass
class Run:
    """One pytest run through the proxies under one operator (``none``: unchanged)."""

    operator: str
    seconds: float
    exit_code: int | None
    timed_out: bool
    restarted: bool
    verdicts: dict[str, str] = field(default_factory=dict)
    chapters: dict[str, int] = field(default_factory=dict)
    tests: dict[str, list[str]] = field(default_factory=dict)
    fired: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def fired_for(self, item: str) -> int:
        return sum(sum(self.fired.get(nodeid, {}).values()) for nodeid in self.tests.get(item, []))

    def complete(self, item: str) -> bool:
        """Every test of the item started and finished within the run."""
        nodeids = self.tests.get(item, [])
        return bool(nodeids) and all(nodeid in self.finished for nodeid in nodeids)

    def hit_limit(self, item: str) -> bool:
        return any(nodeid in self.limited for nodeid in self.tests.get(item, []))

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "seconds": round(self.seconds, 1),
                "exit_code": self.exit_code, "timed_out": self.timed_out,
                "restarted": self.restarted, "note": self.note, "limited": self.limited,
                "changed_outside_checks": sum(self.fired.get(OUTSIDE, {}).values()),
                "requests": sum(self.requests.values())}


class Harness:
    """Proxies in front of a platform, and the pytest runs through them."""

    def __init__(self, platform: Platform, workdir: Path, pytest_args: Sequence[str] = (),
                 seed: int = 0, run_timeout: float | None = None,
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.platform = platform
        self.workdir = workdir
        self.pytest_args = list(pytest_args)
        self.seed = seed
        self.run_timeout = run_timeout
        self.log = log
        self.control = Control()
        self.loop: ProxyLoop | None = None
        self.endpoint: ControlEndpoint | None = None
        self.proxies: list[Proxy] = []
        self.document: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self.target_path = workdir / "target.yaml"
        #: The pytest run in progress (at most one), for :meth:`abort`.
        self._running: list[subprocess.Popen[bytes]] = []
        #: Each check's time limit under an operator (from the unchanged run's durations).
        self.limits: dict[str, float] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Harness:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.loop = ProxyLoop()
        self.endpoint = ControlEndpoint(self.control)
        self.loop.call(self.endpoint.start())
        self._up(*self.platform.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._down()
            if self.endpoint is not None and self.loop is not None:
                self.loop.call(self.endpoint.stop())
        finally:
            self.platform.stop()
            if self.loop is not None:
                self.loop.close()

    def _up(self, document: dict[str, Any], env: dict[str, str]) -> None:
        assert self.loop is not None
        # The harness's own CA: it reaches the sandbox only as a target provider.
        tls = issue_loopback_tls(self.workdir / "tls", "pytest-sca mutation CA",
                                 timedelta(days=1))
        serving = tls.server_context()
        self.document, self.env = document, env
        origins: dict[str, str] = {}
        for upstream in targetfile.upstreams(document):
            proxy = Proxy(self.control, upstream.origin, upstream.ssl_context(),
                          serving if upstream.tls else None)
            self.loop.call(proxy.start())
            self.proxies.append(proxy)
            origins[upstream.origin] = proxy.origin
        rewritten = targetfile.rewrite(document, origins, str(tls.ca))
        rewritten.pop("sandbox", None)
        descriptor = os.open(self.target_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            yaml.safe_dump(rewritten, handle, sort_keys=False, allow_unicode=True)
        self.log(f"proxies: {', '.join(f'{o} → {p}' for o, p in origins.items())}")

    def _down(self) -> None:
        assert self.loop is not None
        for proxy in self.proxies:
            self.loop.call(proxy.stop())
        self.proxies = []

    def restart(self) -> None:
        """A fresh platform (and proxies in front of it)."""
        self._down()
        self._up(*self.platform.restart())

    # --- runs -----------------------------------------------------------------------------

    def run(self, spec: str, timeout: float, number: int) -> Run:
        """Run the selection once with the operator ``spec`` applied to every answer
        (``number``: the run's place in the campaign, naming its folder and run id)."""
        operator = ops.parse(spec)
        folder = self.workdir / f"run-{number:02d}-{operator.name}"
        folder.mkdir(parents=True, exist_ok=True)
        report_path = folder / "sca-report.json"
        self.control.reset(operator, self.seed)
        command = [sys.executable, "-m", "pytest", f"--sca-target={self.target_path}",
                   f"--sca-json={report_path}", f"--sca-run-id=mut{number:02d}",
                   "-p", "pytest_sca.mutate.recorder", "-p", "no:cacheprovider",
                   "-q", "--no-header", "-rN", *self.platform.pytest_options,
                   *self.pytest_args]
        limits = folder / "limits.json"
        limits.write_text(json.dumps(self.limits))
        env = {**os.environ, **self.env, CONTROL_ENV: self.endpoint_url, LIMITS_ENV: str(limits),
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        begun = time.monotonic()
        exit_code, timed_out = _run_bounded(command, folder, env, timeout, self._running)
        seconds = time.monotonic() - begun
        with self.control.lock:
            run = Run(operator=operator.name if spec != BASELINE else BASELINE, seconds=seconds,
                      exit_code=exit_code, timed_out=timed_out, restarted=False,
                      fired={k: dict(v) for k, v in self.control.fired.items()},
                      requests=dict(self.control.requests),
                      started=list(self.control.started),
                      finished=sorted(self.control.finished),
                      limited=sorted(self.control.limited))
        _read_report(run, report_path, folder)
        return run

    @property
    def endpoint_url(self) -> str:
        assert self.endpoint is not None
        return self.endpoint.url

    def campaign(self, specs: Sequence[str], lanes: int = 1) -> tuple[Run, list[Run]]:
        """The unchanged run, then one run per operator (a fresh platform after a run that
        may have left it changed, where the platform can be restarted).

        With ``lanes`` > 1 and a platform the harness starts itself (the sandbox), the
        operator runs share out over that many platforms of their own, each behind its own
        proxies, side by side: the runs mostly wait on the platform, and no run sees
        another's operator or leftovers. A platform described by a file is never run in
        lanes (its runs would see each other's operators' effects)."""
        self.log("run: none (unchanged, through the proxies)")
        baseline = self.run(BASELINE, self.run_timeout or BASELINE_TIMEOUT, number=1)
        self.log(f"  {baseline.seconds:.0f} s, exit {baseline.exit_code}"
                 f"{' (timed out)' if baseline.timed_out else ''}")
        limit = self.run_timeout or max(180.0, 3 * baseline.seconds)
        self.limits = {nodeid: round(CHECK_LIMIT_BASE + CHECK_LIMIT_FACTOR * seconds, 1)
                       for nodeid, seconds in baseline.durations.items()}
        queue = _Queue([(number, spec) for number, spec in enumerate(specs, start=2)])
        lanes = max(1, min(lanes, len(specs))) if self.platform.restartable else 1
        others = [Harness(self.platform.another(), self.workdir / f"lane-{lane}",
                          self.pytest_args, self.seed, self.run_timeout,
                          log=_prefixed(self.log, f"[lane {lane}] "))
                  for lane in range(2, lanes + 1)]
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_lane_of, args=(other, queue, limit, errors),
                                    name=f"mutation-lane-{lane}", daemon=True)
                   for lane, other in enumerate(others, start=2)]
        for other in others:
            other.limits = self.limits
        for thread in threads:
            thread.start()
        try:
            self.work(queue, limit)
        except BaseException:
            # Stopping (Ctrl-C, SIGTERM, a bug): the other lanes' runs go too.
            queue.close()
            for other in others:
                other.abort()
            raise
        finally:
            queue.close()
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        return baseline, queue.results()

    def abort(self) -> None:
        """Kill the pytest run in progress, if any (its lane then ends)."""
        for process in list(self._running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def work(self, queue: _Queue, limit: float) -> None:
        """Take operators from ``queue`` and run them until it is empty, on a fresh platform
        after a run that may have left this one changed."""
        dirty = False
        while (task := queue.take()) is not None:
            number, spec = task
            restarted = False
            if dirty and self.platform.restartable:
                self.restart()
                restarted = True
            self.log(f"run: {spec}{' (fresh platform)' if restarted else ''}")
            run = self.run(spec, limit, number=number)
            run.restarted = restarted
            self.log(f"  {run.seconds:.0f} s, exit {run.exit_code}"
                     f"{' (timed out)' if run.timed_out else ''}")
            queue.done(number, run)
            dirty = ops.parse(spec).dirty


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: log(prefix + line)


class _Queue:
    """The operator runs still to do, shared by the lanes, and the runs done, by number."""

    def __init__(self, tasks: list[tuple[int, str]]) -> None:
        self._tasks = list(tasks)
        self._done: dict[int, Run] = {}
        self._lock = threading.Lock()

    def take(self) -> tuple[int, str] | None:
        with self._lock:
            return self._tasks.pop(0) if self._tasks else None

    def done(self, number: int, run: Run) -> None:
        with self._lock:
            self._done[number] = run

    def close(self) -> None:
        """No more runs are started (the harness is stopping)."""
        with self._lock:
            self._tasks.clear()

    def results(self) -> list[Run]:
        with self._lock:
            return [self._done[number] for number in sorted(self._done)]


def _lane_of(harness: Harness, queue: _Queue, limit: float,
             errors: list[BaseException]) -> None:
    """One more lane: its own platform and proxies, taking runs from the shared queue."""
    try:
        with harness:
            harness.work(queue, limit)
    except BaseException as exc:  # noqa: BLE001 - handed to the main lane, which raises it
        queue.close()
        errors.append(exc)


def _run_bounded(command: list[str], folder: Path, env: dict[str, str], timeout: float,
                 running: list[subprocess.Popen[bytes]]) -> tuple[int | None, bool]:
    """Run pytest in its own session (listed in ``running`` while it runs); past ``timeout``
    interrupt it (its reports are still written), and kill it if it does not end within
    :data:`INTERRUPT_GRACE`."""
    with (folder / "pytest.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        running.append(process)
        try:
            return _wait_bounded(process, timeout)
        finally:
            running.remove(process)


def _wait_bounded(process: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, bool]:
    """Wait for ``process`` up to ``timeout``; then SIGINT, and SIGKILL after the grace."""
    try:
        return process.wait(timeout=timeout), False
    except BaseException as exc:
        if not isinstance(exc, subprocess.TimeoutExpired):
            # The harness itself is stopping: the run goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(timeout=INTERRUPT_GRACE), True
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return process.wait(), True


def _read_report(run: Run, report_path: Path, folder: Path) -> None:
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as exc:
        tail = (folder / "pytest.log").read_text(errors="replace").strip().splitlines()[-5:]
        run.note = f"no JSON report ({exc}): {' | '.join(tail)}"
        return
    for item in report["items"]:
        run.verdicts[item["id"]] = item["verdict"]
        run.chapters[item["id"]] = item["chapter"]
        run.tests[item["id"]] = [test["nodeid"] for test in item["tests"]]
        for test in item["tests"]:
            run.durations[test["nodeid"]] = float(test.get("duration") or 0.0)
