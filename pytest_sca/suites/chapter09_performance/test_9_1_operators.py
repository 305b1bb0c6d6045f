"""9.1 算子性能 Operator performance."""

from __future__ import annotations

import math

import pytest

from pytest_sca.capabilities import Compute, Jobs, TargetError
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics.flops import gemm_flops
from pytest_sca.metrics.peaks import accelerator_peak_tflops
from pytest_sca.probes.results import GemmEntry, GemmResult, gemm_result

from .probe_jobs import cpu_peak, finished_probe, is_cpu_target, share_of_peak, submit_probe

#: Shapes a CPU-only target is measured with (an accelerator gets the probe's default sweep):
#: one large enough that an iteration takes tens of milliseconds.
CPU_SHAPES = [[1024, 1024, 1024]]


def _accelerator_models(compute: Compute) -> list[str]:
    return sorted({str(card["model"]) for node in compute.list_nodes()
                   for card in compute.get_node(node["id"]).get("accelerators", [])
                   if card.get("model")})


def _checked(result: GemmResult, what: str) -> list[GemmEntry]:
    """The probe's matmul lines, each recomputed from its own raw figures: FLOPs = 2·M·N·K of
    its shape, throughput = FLOPs / time. A line that disagrees is not a measurement."""
    matmuls = [entry for entry in result["results"] if entry["op"] == "matmul"]
    for entry in matmuls:
        m, n, k = (int(v) for v in entry["shape"])
        expected = gemm_flops(m, n, k)
        median = entry["flop"] / entry["median_s"] / 1e12 if entry["median_s"] > 0 else math.inf
        if entry["flop"] != expected or entry["iterations"] < 1 or not math.isclose(
                median, entry["tflops_median"], rel_tol=1e-6) or entry["best_s"] <= 0:
            raise TargetError(f"[9.1.a] the {what} gemm probe's matmul {entry['dtype']} "
                              f"{entry['shape']} line is inconsistent: {entry['flop']} FLOPs "
                              f"(2·M·N·K = {expected:.0f}) in a median {entry['median_s']} s "
                              f"reported as {entry['tflops_median']} TFLOP/s")
    return matmuls


@pytest.mark.clause("9.1.a")
@pytest.mark.measuring
@pytest.mark.mutating
def test_operator_performance_against_peak(sca: CheckContext, jobs: Jobs, compute: Compute,
                                           probe_image: str) -> None:
    """Runs the gemm probe (matmul per dtype, attention, conv) as a job on each accelerator
    type — single-threaded on the CPU for a CPU-only target — and compares the median matmul
    throughput (recomputed from the probe's FLOPs and times) with that device's peak."""
    minimum = sca.threshold("perf.operators.min_efficiency")
    if is_cpu_target(sca):
        job = submit_probe(sca, jobs, probe_image, "gemm",
                           {"shapes": CPU_SHAPES, "dtypes": ["fp32"], "iterations": 3,
                            "seconds_per_shape": 1.0}, suffix="gemm-cpu")
        _, result = finished_probe(sca, jobs, job, gemm_result)
        sca.evidence("gemm probe (cpu)", result, "application/json")
        matmuls = _checked(result, "cpu")
        if not matmuls:
            raise TargetError("[9.1.a] the gemm probe measured no fp32 matmul on the CPU")
        # The median iteration is compared: one lucky iteration does not make a fast chip.
        median = max(r["tflops_median"] for r in matmuls) * 1000.0
        best = max(r["tflops_best"] for r in matmuls) * 1000.0
        # The probe ran single-threaded (one core): it is held to one core's share of the peak.
        peak, source = cpu_peak(sca, result["device"], cores_used=1)
        share = share_of_peak("[9.1.a] matmul fp32 on one CPU core", median, peak)
        sca.measure("matmul fp32 median throughput (cpu, 1 core)", median, "GFLOP/s")
        sca.measure("matmul fp32 best throughput (cpu, 1 core)", best, "GFLOP/s")
        sca.measure("matmul fp32 median share of the best measured", median / best, "ratio",
                    reference="the ceiling measured on the target")
        for entry in result["results"]:
            if entry["op"] != "matmul":
                gflops = entry["tflops_median"] * 1000.0
                sca.measure(f"{entry['op']} {entry['dtype']} median throughput (cpu)", gflops,
                            "GFLOP/s", reference=f"{gflops / peak:.1%} of the same peak")
        sca.measure("matmul fp32 share of the CPU peak", share, "ratio",
                    threshold=minimum.value, comparison=">=", threshold_source=minimum.source,
                    reference=f"CPU peak {peak:.1f} GFLOP/s ({source}); a CPU-only target is "
                              "never compared with an accelerator's peak")
        assert share >= minimum.value, (
            f"[9.1.a] matmul fp32 on the CPU reached {share:.2%} of the declared peak "
            f"{peak:.1f} GFLOP/s (median {median:.2f} GFLOP/s), below {minimum.value:.2%}")
        return
    overrides = sca.settings.perf.peaks
    shortfalls: list[str] = []
    unmeasured: list[str] = []
    models = _accelerator_models(compute)
    if not models:
        sca.not_assessed("the platform lists no accelerator to measure; a CPU-only target "
                         "declares capabilities.perf.compute_device: cpu")
    for model in models:
        job = submit_probe(sca, jobs, probe_image, "gemm", {"require_accelerator": True},
                           suffix=f"gemm-{model}".lower(), accelerators=1, model=model)
        _, result = finished_probe(sca, jobs, job, gemm_result)
        sca.evidence(f"gemm probe ({model})", result, "application/json")
        if result["device_type"] == "cpu":
            unmeasured.append(f"{model}: the probe saw no accelerator (image without torch "
                              "and the vendor's backend?)")
            continue
        medians: dict[str, float] = {}
        for entry in _checked(result, model):
            medians[entry["dtype"]] = max(medians.get(entry["dtype"], 0.0),
                                          entry["tflops_median"])
        for dtype, median in sorted(medians.items()):
            chip_peak = accelerator_peak_tflops(model, dtype, overrides)
            sca.measure(f"matmul {dtype} median throughput ({model})", median, "TFLOP/s")
            if chip_peak is None:
                unmeasured.append(f"{model} {dtype}: no published or declared peak "
                                  f"(declare capabilities.perf.peaks.{model}.{dtype})")
                continue
            share = share_of_peak(f"[9.1.a] matmul {dtype} on {model}", median, chip_peak)
            sca.measure(f"matmul {dtype} share of the peak ({model})", share, "ratio",
                        threshold=minimum.value, comparison=">=",
                        threshold_source=minimum.source, reference=f"peak {chip_peak} TFLOP/s")
            if share < minimum.value:
                shortfalls.append(f"{model} {dtype} {median:.1f} TFLOP/s = {share:.1%} of "
                                  f"the declared peak {chip_peak}")
        for entry in result["results"]:
            if entry["op"] != "matmul":
                chip_peak = accelerator_peak_tflops(model, entry["dtype"], overrides)
                sca.measure(f"{entry['op']} {entry['dtype']} median throughput ({model})",
                            entry["tflops_median"], "TFLOP/s",
                            reference=f"{entry['tflops_median'] / chip_peak:.1%} of the peak "
                                      f"{chip_peak}" if chip_peak else "no peak known")
    assert not shortfalls, (f"[9.1.a] operators below {minimum.value:.0%} of the peak: "
                            f"{'; '.join(shortfalls)}")
    if unmeasured:
        sca.not_assessed("; ".join(unmeasured))
