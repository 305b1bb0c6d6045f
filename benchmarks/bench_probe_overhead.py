"""Overhead of the probes' timing loop against the bare operation (budget: 2 %).

The gemm probe times each iteration (perf_counter around the call, a device
synchronisation, a list append). This compares, for the same matmul, the
total time of that loop with one perf_counter around a bare ``for`` loop,
interleaving the two (AB, BA, AB…) so that a loaded machine slows both alike,
and compares the fastest round of each (as ``timeit`` advises: slower rounds
measure the machine's other work, not the loop).

Run: ``python benchmarks/bench_probe_overhead.py``. Prints one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_sca.probes import module  # noqa: E402

ROUNDS = 30
ITERATIONS = 20
SIZE = 256
BUDGET = 0.02


def probe_timing_loop() -> Any:
    """The gemm probe's own ``timed`` function, taken from its source (its main() not run)."""
    namespace = module("gemm")
    namespace.update(WARMUP=0, ITERATIONS=ITERATIONS, BUDGET=1e9)
    return namespace["timed"]


def main() -> None:
    timed = probe_timing_loop()
    a = np.random.rand(SIZE, SIZE).astype(np.float32)

    def operation() -> None:
        a @ a

    for _ in range(ITERATIONS):
        operation()
    bare: list[float] = []
    probe: list[float] = []

    def run_bare() -> None:
        start = time.perf_counter()
        for _ in range(ITERATIONS):
            operation()
        bare.append(time.perf_counter() - start)

    def run_probe() -> None:
        start = time.perf_counter()
        timed(operation, lambda: None)
        probe.append(time.perf_counter() - start)

    for index in range(ROUNDS):
        for run in (run_bare, run_probe) if index % 2 else (run_probe, run_bare):
            run()
    overhead = min(probe) / min(bare) - 1.0
    print(json.dumps({"name": "probe_timing_overhead", "operation": f"matmul fp32 {SIZE}^3",
                      "iterations": ITERATIONS, "rounds": ROUNDS,
                      "bare_min_s": min(bare), "probe_min_s": min(probe),
                      "bare_median_s": statistics.median(bare),
                      "probe_median_s": statistics.median(probe), "overhead": overhead,
                      "budget": BUDGET, "within_budget": overhead <= BUDGET}))


if __name__ == "__main__":
    main()
