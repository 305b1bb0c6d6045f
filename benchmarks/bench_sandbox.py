"""Sandbox start-up time and a job's submit→running latency (median of 5 runs each).

Run: ``python benchmarks/bench_sandbox.py``. Prints one JSON line per measurement.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_sca.sandbox import SandboxProcess, launch  # noqa: E402

RUNS = 5
POLL = 0.005


def _api(sandbox: SandboxProcess) -> tuple[str, dict[str, str]]:
    target = yaml.safe_load(sandbox.target_path.read_text())
    base = target["adapters"]["platform"]["url"] + "api/v1"
    return base, {"Authorization": f"Bearer {sandbox.env['SCA_SANDBOX_TOKEN']}"}


def startup_seconds() -> float:
    """launch() until the ready file exists, then stop."""
    started = time.perf_counter()
    sandbox = launch(timeout=30)
    elapsed = time.perf_counter() - started
    sandbox.stop()
    return elapsed


def submit_to_running_seconds(base: str, headers: dict[str, str]) -> float:
    """POST /jobs until GET /jobs/{id} first says running (polled every 5 ms)."""
    body = {"name": "bench", "image": "pytorch", "command": ["sleep", "5"]}
    started = time.perf_counter()
    job = requests.post(f"{base}/jobs", json=body, headers=headers, timeout=10).json()
    deadline = started + 10
    status = job["status"]
    while status != "running":
        if time.perf_counter() > deadline:
            raise RuntimeError(f"job {job['id']} not running after 10 s")
        time.sleep(POLL)
        status = requests.get(f"{base}/jobs/{job['id']}", headers=headers, timeout=10).json()[
            "status"
        ]
    elapsed = time.perf_counter() - started
    requests.delete(f"{base}/jobs/{job['id']}", headers=headers, timeout=10)
    return elapsed


def _report(name: str, samples: list[float]) -> None:
    print(json.dumps({
        "benchmark": name,
        "unit": "s",
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
        "runs": len(samples),
    }), flush=True)


def main() -> int:
    """Run both measurements and print them."""
    _report("sandbox_startup", [startup_seconds() for _ in range(RUNS)])
    sandbox = launch(timeout=30)
    try:
        base, headers = _api(sandbox)
        _report("job_submit_to_running", [submit_to_running_seconds(base, headers)
                                          for _ in range(RUNS)])
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
