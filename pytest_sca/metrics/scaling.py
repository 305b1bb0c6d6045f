"""Speedup, parallel efficiency, jitter, stage shares, trend and scheduling latency.

Definitions (the usual ones, as in Amdahl/Gustafson-style scaling studies):
``S(n) = X(n) / X(1)`` for throughputs X, parallel efficiency ``S(n) / n``; jitter as the
coefficient of variation (population standard deviation / mean) and the p99/p50 ratio of
step times; percentiles by linear interpolation between closest ranks (numpy's default,
Hyndman & Fan method 7); trend as the least-squares slope.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def speedup(throughput_n: float, throughput_1: float) -> float:
    """``S(n) = X(n) / X(1)``."""
    if throughput_1 <= 0:
        raise ValueError("the single-unit throughput must be positive")
    return throughput_n / throughput_1


def parallel_efficiency(speedup_n: float, n: int) -> float:
    """``S(n) / n``: 1.0 is perfect linear scaling."""
    if n <= 0:
        raise ValueError("n must be positive")
    return speedup_n / n


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean."""
    if not values:
        raise ValueError("no values")
    return sum(values) / len(values)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Population standard deviation / mean."""
    average = mean(values)
    if average == 0:
        raise ValueError("mean is zero")
    variance = sum((v - average) ** 2 for v in values) / len(values)
    return math.sqrt(variance) / average


def tail_ratio(values: Sequence[float]) -> float:
    """p99 / p50 of step times: how much slower the slow steps are than a typical one."""
    return percentile(values, 99) / percentile(values, 50)


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against their index (change per epoch)."""
    count = len(values)
    if count < 2:
        return 0.0
    x_mean = (count - 1) / 2
    y_mean = mean(values)
    numerator = sum((i - x_mean) * (v - y_mean) for i, v in enumerate(values))
    denominator = sum((i - x_mean) ** 2 for i in range(count))
    return numerator / denominator


def stage_shares(stage_seconds: Mapping[str, float]) -> dict[str, float]:
    """Each stage's share of the total time (data, forward, backward, optimizer, comm…)."""
    total = sum(stage_seconds.values())
    if total <= 0:
        raise ValueError("no time recorded")
    return {stage: seconds / total for stage, seconds in stage_seconds.items()}


def admitted_per_second(count: int, first_submit: float, last_running: float) -> float:
    """Jobs admitted to running per second over a batch submission."""
    if last_running <= first_submit:
        raise ValueError("the batch must take time")
    return count / (last_running - first_submit)
