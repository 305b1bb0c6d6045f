"""What the benchmarks share: running a child process and reading what it cost.

Not a benchmark itself (no ``bench_`` prefix). The benchmarks run the thing they measure
in a child process, so that its wall time, CPU time and peak memory are its own.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The repository: children import ``pytest_sca`` from here, whatever is installed.
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ChildRun:
    """What one child process cost: wall and CPU seconds, peak resident memory."""

    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_mib: float
    output: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: this checkout first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def run_measured(args: Sequence[str], *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 600.0) -> ChildRun:
    """Run ``args`` to its end and read its own cost from ``wait4``: wall time, user+system
    CPU time and peak RSS. Output goes to a file under ``cwd`` (or is discarded), so that
    no pipe can fill; a child past ``timeout`` is killed (return code -9)."""
    log = (cwd / ".child-output.txt") if cwd is not None else None
    sink = open(log, "w+", encoding="utf-8") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), cwd=cwd, env=dict(env or child_env()),
                                   stdout=sink, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output = ""
        if log is not None:
            sink.seek(0)  # type: ignore[union-attr]
            output = sink.read()  # type: ignore[union-attr]
    finally:
        if log is not None:
            sink.close()  # type: ignore[union-attr]
            log.unlink(missing_ok=True)
    # ru_maxrss is in KiB on Linux.
    return ChildRun(process.returncode, wall, usage.ru_utime + usage.ru_stime,
                    usage.ru_maxrss / 1024.0, output)


def summary(samples: Sequence[float]) -> dict[str, float]:
    """min, median and max of samples, rounded for a JSON line."""
    return {"min": round(min(samples), 4), "median": round(statistics.median(samples), 4),
            "max": round(max(samples), 4)}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: a figure is only as good as the machine was
    quiet (``uptime``)."""
    return [round(x, 2) for x in os.getloadavg()]


def python() -> str:
    """The interpreter the children run: this one."""
    return sys.executable
