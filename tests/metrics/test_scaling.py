"""Speedup, efficiency, jitter, trend, percentiles, stage shares, bus bandwidth, CPU peak."""

from __future__ import annotations

import pytest

from pytest_sca.metrics import collectives, peaks, scaling


def test_speedup_and_efficiency() -> None:
    # S(n) = X(n)/X(1), efficiency S(n)/n: X(1)=100, X(8)=700 → S=7, efficiency 0.875.
    assert scaling.speedup(700.0, 100.0) == 7.0
    assert scaling.parallel_efficiency(7.0, 8) == 0.875
    with pytest.raises(ValueError):
        scaling.speedup(1.0, 0.0)


def test_percentiles_match_numpy_linear_method() -> None:
    # numpy.percentile([1, 2, 3, 4], 50) == 2.5 and (…, 99) == 3.97 (method "linear").
    assert scaling.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert scaling.percentile([1.0, 2.0, 3.0, 4.0], 99) == pytest.approx(3.97)


def test_jitter_figures() -> None:
    steady = [0.1] * 100
    assert scaling.coefficient_of_variation(steady) == pytest.approx(0.0, abs=1e-12)
    assert scaling.tail_ratio(steady) == 1.0
    # 2, 4, 4, 4, 5, 5, 7, 9: the textbook population standard deviation 2, mean 5 → CV 0.4.
    assert scaling.coefficient_of_variation([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(0.4)
    spiky = [0.1] * 95 + [1.0] * 5
    assert scaling.tail_ratio(spiky) == pytest.approx(10.0)


def test_trend_and_stage_shares() -> None:
    assert scaling.slope([10.0, 12.0, 14.0, 16.0]) == pytest.approx(2.0)
    assert scaling.slope([5.0]) == 0.0
    shares = scaling.stage_shares({"data": 1.0, "forward": 3.0, "backward": 6.0})
    assert shares == {"data": 0.1, "forward": 0.3, "backward": 0.6}
    assert scaling.admitted_per_second(10, 100.0, 105.0) == 2.0


def test_nccl_tests_bus_bandwidth() -> None:
    """nccl-tests doc/PERFORMANCE.md: busbw = algbw × 2(n−1)/n for all-reduce (1.75 on 8
    ranks), (n−1)/n for all-gather/reduce-scatter, 1 for broadcast."""
    assert collectives.bus_factor("all_reduce", 8) == 1.75
    assert collectives.bus_factor("all_gather", 8) == 0.875
    assert collectives.bus_factor("broadcast", 8) == 1.0
    # 128 MiB all-reduce in 1051 µs on 8 ranks: algbw 127.70 GB/s, busbw 223.48 GB/s.
    algbw = collectives.algorithm_bandwidth(134217728, 1051e-6)
    assert algbw / 1e9 == pytest.approx(127.70, abs=0.01)
    assert collectives.bus_bandwidth("all_reduce", 8, 134217728, 1051e-6) / 1e9 == \
        pytest.approx(223.48, abs=0.01)
    with pytest.raises(ValueError):
        collectives.bus_factor("gossip", 2)


def test_cpu_peak_from_flags() -> None:
    # AVX-512 with 2 FMA pipes: 2 × 16 fp32 lanes × 2 = 64 FLOPs/cycle (Intel optimisation
    # manual, Skylake-SP); AVX2+FMA: 32; fp64 halves the lanes.
    assert peaks.cpu_flops_per_cycle({"avx512f", "fma"}) == 64
    assert peaks.cpu_flops_per_cycle({"avx2", "fma"}) == 32
    assert peaks.cpu_flops_per_cycle({"avx2", "fma"}, "fp64") == 16
    assert peaks.cpu_peak_gflops(2, 2.5, {"avx2", "fma"}) == 160.0


def test_published_peaks_and_overrides() -> None:
    assert peaks.accelerator_peak_tflops("H200", "bf16") == 989.4
    assert peaks.accelerator_peak_tflops("A100", "tf32") == 156.0
    assert peaks.accelerator_peak_tflops("X1", "bf16") is None
    assert peaks.accelerator_peak_tflops("X1", "bf16", {"X1": {"bf16": 123}}) == 123.0
