"""Run the selected checks through the proxies: once unchanged, then once per operator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
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
        self._count = 0
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

    def run(self, spec: str, timeout: float) -> Run:
        """Run the selection once with the operator ``spec`` applied to every answer."""
        operator = ops.parse(spec)
        self._count += 1
        folder = self.workdir / f"run-{self._count:02d}-{operator.name}"
        folder.mkdir(parents=True, exist_ok=True)
        report_path = folder / "sca-report.json"
        self.control.reset(operator, self.seed)
        command = [sys.executable, "-m", "pytest", f"--sca-target={self.target_path}",
                   f"--sca-json={report_path}", f"--sca-run-id=mut{self._count:02d}",
                   "-p", "pytest_sca.mutate.recorder", "-p", "no:cacheprovider",
                   "-q", "--no-header", "-rN", *self.platform.pytest_options,
                   *self.pytest_args]
        limits = folder / "limits.json"
        limits.write_text(json.dumps(self.limits))
        env = {**os.environ, **self.env, CONTROL_ENV: self.endpoint_url, LIMITS_ENV: str(limits),
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        begun = time.monotonic()
        exit_code, timed_out = _run_bounded(command, folder, env, timeout)
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

    def campaign(self, specs: Sequence[str]) -> tuple[Run, list[Run]]:
        """The unchanged run, then one run per operator (a fresh platform after a run that
        may have left it changed, where the platform can be restarted)."""
        self.log("run: none (unchanged, through the proxies)")
        baseline = self.run(BASELINE, self.run_timeout or BASELINE_TIMEOUT)
        self.log(f"  {baseline.seconds:.0f} s, exit {baseline.exit_code}"
                 f"{' (timed out)' if baseline.timed_out else ''}")
        limit = self.run_timeout or max(180.0, 3 * baseline.seconds)
        self.limits = {nodeid: round(CHECK_LIMIT_BASE + CHECK_LIMIT_FACTOR * seconds, 1)
                       for nodeid, seconds in baseline.durations.items()}
        runs: list[Run] = []
        dirty = False
        for spec in specs:
            restarted = False
            if dirty and self.platform.restartable:
                self.restart()
                restarted = True
            self.log(f"run: {spec}{' (fresh platform)' if restarted else ''}")
            run = self.run(spec, limit)
            run.restarted = restarted
            self.log(f"  {run.seconds:.0f} s, exit {run.exit_code}"
                     f"{' (timed out)' if run.timed_out else ''}")
            runs.append(run)
            dirty = ops.parse(spec).dirty
        return baseline, runs


def _run_bounded(command: list[str], folder: Path, env: dict[str, str],
                 timeout: float) -> tuple[int | None, bool]:
    """Run pytest in its own session; past ``timeout`` interrupt it (its reports are still
    written), and kill it if it does not end within :data:`INTERRUPT_GRACE`."""
    with (folder / "pytest.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
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
