"""9.1 算子性能 Operator performance."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics.flops import efficiency
from pytest_sca.metrics.peaks import accelerator_peak_tflops

from .probe_jobs import (
    cpu_peak,
    finished_probe,
    is_cpu_target,
    submit_probe,
)

#: Shapes a CPU-only target is measured with (an accelerator gets the probe's default sweep):
#: one large enough that an iteration takes tens of milliseconds.
CPU_SHAPES = [[1024, 1024, 1024]]


def _accelerator_models(compute: Any) -> list[str]:
    return sorted({card["model"] for node in compute.list_nodes()
                   for card in compute.get_node(node["id"]).get("accelerators", [])})


@pytest.mark.clause("9.1.a")
@pytest.mark.mutating
def test_operator_performance_against_peak(sca: CheckContext, jobs: Any, compute: Any,
                                           probe_image: str, cleanup: Cleanup) -> None:
    """Runs the gemm probe (matmul per dtype, attention, conv) as a job on each accelerator
    type — on the CPU for a CPU-only target — and compares the best matmul with the peak."""
    minimum = sca.threshold("perf.operators.min_efficiency")
    if is_cpu_target(sca):
        job = submit_probe(sca, jobs, cleanup, probe_image, "gemm",
                           {"shapes": CPU_SHAPES, "dtypes": ["fp32"], "iterations": 3,
                            "seconds_per_shape": 1.0},
                           suffix="gemm-cpu", one_thread=False)
        _, result = finished_probe(sca, jobs, job, "gemm")
        sca.evidence("gemm probe (cpu)", result, "application/json")
        matmuls = [r for r in result["results"] if r["op"] == "matmul"]
        best = max(r["tflops_best"] for r in matmuls) * 1000.0
        # The median iteration is compared: one lucky iteration does not make a fast chip.
        median = max(r["tflops_median"] for r in matmuls) * 1000.0
        peak, source = cpu_peak(sca, result["device"])
        share = efficiency(median, peak)
        sca.measure("matmul fp32 best throughput (cpu)", best, "GFLOP/s")
        sca.measure("matmul fp32 median throughput (cpu)", median, "GFLOP/s")
        sca.measure("matmul fp32 median share of the best measured", median / best, "ratio",
                    reference="the ceiling measured on the target")
        for entry in result["results"]:
            if entry["op"] != "matmul":
                sca.measure(f"{entry['op']} {entry['dtype']} throughput (cpu)",
                            entry["tflops_best"] * 1000.0, "GFLOP/s")
        sca.measure("matmul fp32 share of the CPU peak", share, "ratio",
                    threshold=minimum.value, comparison=">=", threshold_source=minimum.source,
                    reference=f"CPU peak {peak:.1f} GFLOP/s ({source}); a CPU-only target is "
                              "never compared with an accelerator's peak")
        assert share >= minimum.value, (
            f"[9.1.a] matmul fp32 on the CPU reached {share:.2%} of the declared peak "
            f"{peak:.1f} GFLOP/s (median {median:.2f} GFLOP/s), below {minimum.value:.2%}")
        return
    overrides = sca.settings.perf.peaks
    shortfalls, unmeasured = [], []
    for model in _accelerator_models(compute):
        job = submit_probe(sca, jobs, cleanup, probe_image, "gemm", {"require_accelerator": True},
                           suffix=f"gemm-{model}".lower(), accelerators=1, model=model)
        _, result = finished_probe(sca, jobs, job, "gemm")
        sca.evidence(f"gemm probe ({model})", result, "application/json")
        if result["device_type"] == "cpu":
            unmeasured.append(f"{model}: the probe saw no accelerator (image without torch "
                              "and the vendor's backend?)")
            continue
        for dtype, best in sorted(result["best_tflops"].items()):
            chip_peak = accelerator_peak_tflops(model, dtype, overrides)
            sca.measure(f"matmul {dtype} best throughput ({model})", best, "TFLOP/s")
            if chip_peak is None:
                unmeasured.append(f"{model} {dtype}: no published or declared peak "
                                  f"(declare capabilities.perf.peaks.{model}.{dtype})")
                continue
            share = efficiency(best, chip_peak)
            sca.measure(f"matmul {dtype} share of the peak ({model})", share, "ratio",
                        threshold=minimum.value, comparison=">=",
                        threshold_source=minimum.source, reference=f"peak {chip_peak} TFLOP/s")
            if share < minimum.value:
                shortfalls.append(f"{model} {dtype} {best:.1f} TFLOP/s = {share:.1%} of "
                                  f"the declared peak {chip_peak}")
    assert not shortfalls, (f"[9.1.a] operators below {minimum.value:.0%} of the peak: "
                            f"{'; '.join(shortfalls)}")
    if unmeasured:
        sca.not_assessed("; ".join(unmeasured))
