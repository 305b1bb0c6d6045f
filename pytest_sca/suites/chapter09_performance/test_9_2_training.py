"""9.2 训练性能 Training performance."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling
from pytest_sca.metrics.flops import hardware_flops_utilisation
from pytest_sca.metrics.peaks import accelerator_peak_tflops

from .probe_jobs import cpu_peak, finished_probe, is_cpu_target, submit_probe


def _step_times(model: dict[str, Any]) -> list[float]:
    return [step["total"] for epoch in model["epochs"] for step in epoch]


@pytest.mark.clause("9.2.a")
@pytest.mark.mutating
def test_training_hfu_of_vision_and_language_models(sca: CheckContext, jobs: Any,
                                                    probe_image: str, cleanup: Cleanup) -> None:
    """Trains a small language and a small vision model as a job; HFU = executed FLOPs per
    second (counted) / (devices × peak of the chip); each must reach the declared minimum."""
    minimum = sca.threshold("perf.training.min_hfu")
    cpu = is_cpu_target(sca)
    args = {"models": ["language", "vision"], "epochs": 1,
            "steps_per_epoch": sca.settings.perf.training.steps_per_epoch,
            "batch": sca.settings.perf.training.batch, "max_seconds": 1.0,
            "require_accelerator": not cpu}
    job = submit_probe(sca, jobs, cleanup, probe_image, "train", args, suffix="train-hfu",
                       accelerators=0 if cpu else 1)
    _, result = finished_probe(sca, jobs, job, "train")
    sca.evidence("train probe", result, "application/json")
    shortfalls, unmeasured = [], []
    for model in result["models"]:
        label = f"{model['kind']} model {model['model']} ({result['backend']}, " \
                f"{model['device_type']})"
        times = _step_times(model)
        executed = model["flop_per_step"] * len(times)
        if cpu:
            peak, source = cpu_peak(sca, model.get("device") or {}, cores_used=1)
            peak_flops = peak * 1e9
        elif model["device_type"] == "cpu":
            unmeasured.append(f"{label}: trained without an accelerator")
            continue
        else:
            chip = sca.settings.perf.training.chip
            tflops = accelerator_peak_tflops(chip, "bf16", sca.settings.perf.peaks)
            if tflops is None:
                unmeasured.append(f"{label}: no bf16 peak for chip {chip!r} (declare "
                                  "capabilities.perf.training.chip and perf.peaks)")
                continue
            peak_flops, source = tflops * 1e12, f"{chip} bf16 peak {tflops} TFLOP/s"
        hfu = hardware_flops_utilisation(executed, sum(times), result["world_size"], peak_flops)
        sca.measure(f"{label} executed FLOP/s", executed / sum(times) / 1e9, "GFLOP/s",
                    reference=f"{model['flop_per_step']:.3g} FLOPs/step counted by "
                              f"{model['flop_counted_by']}")
        sca.measure(f"{label} HFU", hfu, "ratio", threshold=minimum.value, comparison=">=",
                    threshold_source=minimum.source, reference=source)
        if hfu < minimum.value:
            shortfalls.append(f"{label} HFU {hfu:.2%}")
    assert not shortfalls, (f"[9.2.a] training HFU below {minimum.value:.2%}: "
                            f"{'; '.join(shortfalls)}")
    if unmeasured:
        sca.not_assessed("; ".join(unmeasured))


@pytest.mark.clause("9.2.b")
@pytest.mark.mutating
def test_training_jitter_and_stage_distribution(sca: CheckContext, jobs: Any,
                                                probe_image: str, cleanup: Cleanup) -> None:
    """Trains the small language model for several epochs as a job; records each stage's
    time per step, its share and trend per epoch; step-time jitter (CV) within the maximum."""
    maximum = sca.threshold("perf.training.max_step_cv")
    args = {"models": ["language"], "epochs": 3, "steps_per_epoch": 12,
            "batch": sca.settings.perf.training.jitter_batch, "max_seconds": 4.0}
    job = submit_probe(sca, jobs, cleanup, probe_image, "train", args, suffix="train-jitter",
                       accelerators=0 if is_cpu_target(sca) else 1)
    _, result = finished_probe(sca, jobs, job, "train")
    model = result["models"][0]
    times = _step_times(model)
    epoch_seconds = [sum(step["total"] for step in epoch) for epoch in model["epochs"]]
    for number, epoch in enumerate(model["epochs"], 1):
        stages = {name: sum(step[name] for step in epoch) for name in model["stages"]}
        for name, share in scaling.stage_shares(stages).items():
            sca.measure(f"epoch {number} {name} share", share, "ratio")
    sca.measure("epoch time trend", scaling.slope(epoch_seconds), "s/epoch",
                reference=f"epoch times {[round(s, 3) for s in epoch_seconds]}")
    sca.measure("step time p99/p50", scaling.tail_ratio(times), "ratio")
    cv = scaling.coefficient_of_variation(times)
    sca.measure("step time coefficient of variation", cv, "ratio", threshold=maximum.value,
                comparison="<=", threshold_source=maximum.source,
                reference=f"{len(times)} steps of {model['model']}, median "
                          f"{scaling.percentile(times, 50) * 1000:.1f} ms")
    sca.evidence("step times (s)", [round(t, 5) for t in times])
    assert cv <= maximum.value, (
        f"[9.2.b] training step-time jitter CV {cv:.2f} exceeds {maximum.value:.2f} "
        f"(p99/p50 {scaling.tail_ratio(times):.1f}, median "
        f"{scaling.percentile(times, 50) * 1000:.1f} ms over {len(times)} steps)")
