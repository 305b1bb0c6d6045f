"""9.2 训练性能 Training performance."""

from __future__ import annotations

import statistics

import pytest

from pytest_sca.capabilities import Jobs, TargetError
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling
from pytest_sca.metrics.flops import hardware_flops_utilisation, palm_flops_per_token
from pytest_sca.metrics.peaks import accelerator_peak_tflops
from pytest_sca.probes.results import TrainModel, train_result

from .probe_jobs import (
    cpu_peak,
    finished_probe,
    is_cpu_target,
    submit_probe,
)

#: Executed training FLOPs over forward FLOPs: forward + backward ≈ 3 forwards (backward
#: computes two GEMMs per forward GEMM; the first layer needs no gradient of its input).
TRAINING_OVER_FORWARD = (2.5, 3.5)
#: Counted FLOPs per token over PaLM's ``6·N + 12·L·H·Q·T``.
COUNTED_OVER_PALM = (0.7, 1.5)
#: A step's stages (data, forward, backward, optimizer, communication) over its total time.
STAGES_OVER_TOTAL = (0.5, 1.05)


def _step_times(model: TrainModel) -> list[float]:
    times = [step["total"] for epoch in model["epochs"] for step in epoch]
    if not times or min(times) <= 0:
        raise TargetError(f"the train probe timed no positive step of {model['model']}: "
                          f"{times[:5]}")
    return times


def _checked_flops(model: TrainModel) -> float:
    """The probe's counted FLOPs per step, after comparing them with the formulas: training
    ≈ 3 × forward, and for a language model PaLM's FLOPs per token (docs/chapter09.md)."""
    flop = model["flop_per_step"]
    forward = model.get("forward_flop_per_step")
    if flop <= 0 or not forward or not (
            TRAINING_OVER_FORWARD[0] <= flop / forward <= TRAINING_OVER_FORWARD[1]):
        raise TargetError(f"the train probe counted {flop:.4g} FLOPs per training step of "
                          f"{model['model']} and {forward} per forward pass: training is about "
                          "3 forward passes, the count is wrong")
    tokens, params = model.get("tokens_per_step"), model.get("params")
    if model["kind"] == "language" and tokens and params:
        per_token = palm_flops_per_token(params, model.get("layers", 0), model.get("heads", 0),
                                         model.get("head_dim", 0), model.get("seq", 0))
        ratio = flop / tokens / per_token
        if not COUNTED_OVER_PALM[0] <= ratio <= COUNTED_OVER_PALM[1]:
            raise TargetError(f"the train probe counted {flop / tokens:.4g} FLOPs per token of "
                              f"{model['model']}, {ratio:.2f} × PaLM's 6·N + 12·L·H·Q·T = "
                              f"{per_token:.4g}: the count is wrong")
    return flop


@pytest.mark.clause("9.2.a")
@pytest.mark.measuring
@pytest.mark.mutating
@pytest.mark.parametrize("kind", ["language", "vision"], ids=["language-model", "vision-model"])
def test_training_hfu_of_vision_and_language_models(sca: CheckContext, jobs: Jobs,
                                                    probe_image: str, kind: str) -> None:
    """Trains a small language or vision model as a job; HFU = executed FLOPs per second
    (counted, checked against the formulas) / (devices × peak of the chip in the dtype it
    trained in; a CPU target: one core's peak); each must reach the declared minimum."""
    minimum = sca.threshold("perf.training.min_hfu")
    cpu = is_cpu_target(sca)
    chip = sca.settings.perf.training.chip
    args = {"models": [kind], "epochs": 1,
            "steps_per_epoch": sca.settings.perf.training.steps_per_epoch,
            "batch": sca.settings.perf.training.batch, "max_seconds": 1.0,
            "require_accelerator": not cpu}
    job = submit_probe(sca, jobs, probe_image, "train", args, suffix=f"hfu-{kind}",
                       accelerators=0 if cpu else 1, model=None if cpu else chip or None)
    _, result = finished_probe(sca, jobs, job, train_result)
    sca.evidence("train probe", result, "application/json")
    model = next((m for m in result["models"] if m["kind"] == kind), None)
    if model is None:
        raise TargetError(f"the train probe's result holds no {kind} model")
    dtype = model.get("dtype") or "fp32"
    label = f"{kind} model {model['model']} ({result['backend']}, {model['device_type']}, {dtype})"
    if cpu:
        # Single-threaded probe (OMP_NUM_THREADS=1): one core per device.
        peak, source = cpu_peak(sca, model.get("device") or {}, cores_used=1)
        peak_flops = peak * 1e9
    elif model["device_type"] == "cpu":
        sca.not_assessed(f"{label}: trained without an accelerator")
    else:
        tflops = accelerator_peak_tflops(chip, dtype, sca.settings.perf.peaks)
        if tflops is None:
            sca.not_assessed(f"{label}: no {dtype} peak for chip {chip!r} (declare "
                             "capabilities.perf.training.chip and perf.peaks)")
        peak_flops, source = tflops * 1e12, f"{chip} {dtype} peak {tflops} TFLOP/s"
    times = _step_times(model)
    executed = _checked_flops(model) * len(times)
    devices = result["world_size"]
    hfu = hardware_flops_utilisation(executed, sum(times), devices, peak_flops)
    if hfu > 1.0:
        raise TargetError(f"[9.2.a] the {label} computed {hfu:.0%} of {devices} × the peak "
                          f"({source}): the peak or the probe's timing is wrong")
    sca.measure(f"{label} executed FLOP/s", executed / sum(times) / 1e9, "GFLOP/s",
                reference=f"{model['flop_per_step']:.3g} FLOPs/step counted by "
                          f"{model['flop_counted_by']}, {len(times)} steps")
    sca.measure(f"{label} HFU", hfu, "ratio", threshold=minimum.value, comparison=">=",
                threshold_source=minimum.source,
                reference=f"{devices} device(s) × {source}")
    assert hfu >= minimum.value, (f"[9.2.a] training HFU below {minimum.value:.2%}: "
                                  f"{label} HFU {hfu:.2%}")


def _check_stage_times(sca: CheckContext, model: TrainModel) -> None:
    """The probe's stage times against its step totals: stages longer than their step are
    impossible (``error``), and so is a typical (median) step whose stages miss half of it
    (the stage timing is broken). A single step whose stages miss much of it is the process
    not running between two stages (descheduled, paused): the jitter this check measures,
    reported, not an error."""
    ratios = [sum(step.get(name, 0.0) for name in model["stages"]) / step["total"]
              for epoch in model["epochs"] for step in epoch]
    low, high = STAGES_OVER_TOTAL
    over = [ratio for ratio in ratios if ratio > high]
    if over or statistics.median(ratios) < low:
        worst = max(over) if over else statistics.median(ratios)
        raise TargetError(f"the train probe's stages add up to {worst:.2f} of "
                          f"{'a' if over else 'the median'} step's total: its stage times "
                          "are wrong")
    short = sum(1 for ratio in ratios if ratio < low)
    sca.measure("steps with time outside their stages", short, "steps",
                reference=f"stages below {low:.0%} of the step's total, of {len(ratios)} steps")


@pytest.mark.clause("9.2.b")
@pytest.mark.measuring
@pytest.mark.mutating
def test_training_jitter_and_stage_distribution(sca: CheckContext, jobs: Jobs,
                                                probe_image: str) -> None:
    """Trains the small language model for several epochs as a job; records each stage's
    time per step, its share and trend per epoch; step-time jitter (CV) within the maximum."""
    maximum = sca.threshold("perf.training.max_step_cv")
    args = {"models": ["language"], "epochs": 3, "steps_per_epoch": 12,
            "batch": sca.settings.perf.training.jitter_batch, "max_seconds": 4.0}
    job = submit_probe(sca, jobs, probe_image, "train", args, suffix="train-jitter",
                       accelerators=0 if is_cpu_target(sca) else 1)
    _, result = finished_probe(sca, jobs, job, train_result)
    if not result["models"]:
        raise TargetError("the train probe's result holds no model")
    model = result["models"][0]
    times = _step_times(model)
    _check_stage_times(sca, model)
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
