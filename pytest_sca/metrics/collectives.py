"""Collective bandwidth as nccl-tests reports it (nccl-tests ``doc/PERFORMANCE.md``).

``algbw = S / t`` (bytes over seconds); ``busbw = algbw × factor`` with the factor of each
collective for n ranks: all-reduce ``2(n−1)/n``, all-gather and reduce-scatter ``(n−1)/n``,
broadcast and reduce 1. busbw is comparable with the hardware's link bandwidth whatever n is.
"""

from __future__ import annotations


def bus_factor(collective: str, ranks: int) -> float:
    """The nccl-tests bus-bandwidth factor of ``collective`` over ``ranks`` ranks."""
    if ranks < 1:
        raise ValueError("ranks must be positive")
    factors = {
        "all_reduce": 2 * (ranks - 1) / ranks,
        "all_gather": (ranks - 1) / ranks,
        "reduce_scatter": (ranks - 1) / ranks,
        "alltoall": (ranks - 1) / ranks,
        "broadcast": 1.0,
        "reduce": 1.0,
    }
    try:
        return factors[collective]
    except KeyError:
        raise ValueError(f"unknown collective {collective!r}: {sorted(factors)}") from None


def algorithm_bandwidth(size_bytes: float, seconds: float) -> float:
    """``algbw = S / t`` in bytes per second."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    return size_bytes / seconds


def bus_bandwidth(collective: str, ranks: int, size_bytes: float, seconds: float) -> float:
    """``busbw = algbw × factor`` in bytes per second."""
    return algorithm_bandwidth(size_bytes, seconds) * bus_factor(collective, ranks)
