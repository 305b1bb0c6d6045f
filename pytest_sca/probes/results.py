"""The result lines of the shipped probes as typed records, read and checked for shape.

Each probe prints one JSON line (:func:`pytest_sca.probes.parse_result` finds it); the
readers here check that the fields a check reads are there with the right types, so that a
probe that crashed half-way, or a log that was cut, is reported as such
(:class:`~pytest_sca.probes.ProbeOutputMissing`) instead of as a ``KeyError`` in a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, cast

from . import ProbeOutputMissing, parse_result


class Device(TypedDict, total=False):
    """The device a probe computed on, as it saw it (a CPU's flags, clock and cores)."""

    kind: str
    vendor: str | None
    model: str | None
    count: int
    flags: list[str]
    clock_ghz: float | None
    cores: int
    memory_gib: float


class GemmEntry(TypedDict):
    """One timed operator of the gemm probe: FLOPs of one call and its synchronised times."""

    op: str
    dtype: str
    shape: list[int]
    flop: float
    warmup: int
    iterations: int
    median_s: float
    best_s: float
    spread: float
    tflops_best: float
    tflops_median: float


class GemmResult(TypedDict):
    """The gemm probe's result line."""

    probe: str
    backend: str
    device_type: str
    device: Device
    library: dict[str, str]
    threads: str | None
    results: list[GemmEntry]
    skipped_dtypes: list[str]
    best_tflops: dict[str, float]


class TrainModel(TypedDict, total=False):
    """One model the train probe trained: counted FLOPs, sizes and per-step stage times."""

    kind: str
    model: str
    library: dict[str, str]
    device_type: str
    #: The dtype the matmuls ran in (``bf16`` under autocast on an accelerator, else fp32).
    dtype: str
    device: Device
    flop_per_step: float
    #: FLOPs of the forward pass alone, counted the same way (training ≈ 3 × forward).
    forward_flop_per_step: float
    batch: int
    #: Tokens (language) or samples (vision) one step trains on.
    tokens_per_step: int
    #: Trainable parameters outside the embedding table (PaLM's N).
    params: int
    #: Attention layers, heads, head width and sequence length (PaLM's L, H, Q, T; 0 without).
    layers: int
    heads: int
    head_dim: int
    seq: int
    flop_counted_by: str
    recompute: bool
    stages: list[str]
    #: Per epoch, per step: stage → seconds, and ``total``.
    epochs: list[list[dict[str, float]]]
    #: The card memory the model needed (CUDA only), GiB.
    peak_memory_gib: float


class TrainResult(TypedDict):
    """The train probe's result line (of one rank)."""

    probe: str
    backend: str
    world_size: int
    rank: int
    models: list[TrainModel]


class PacedResult(TypedDict):
    """The paced probe's result line: its own start and end (epoch seconds) and step times."""

    probe: str
    work: str
    steps: int
    step_seconds: float | None
    size: int | None
    simulated: bool
    #: When the process started, and the common start it was asked to wait for (or None).
    launched: float
    start_at: float | None
    started: float
    finished: float
    seconds: float
    steps_per_second: float
    step_times: list[float]


_NUMBER = (int, float)


def _require(record: Mapping[str, object], what: str,
             fields: Mapping[str, type | tuple[type, ...]]) -> None:
    for name, kind in fields.items():
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) and kind == _NUMBER:
            raise ProbeOutputMissing(f"{what} has no valid {name!r} (got {value!r})")


def gemm_result(output: str) -> GemmResult:
    """The gemm probe's result line in ``output``."""
    result = parse_result(output, "gemm")
    _require(result, "the gemm result", {"device_type": str, "device": dict,
                                         "results": list, "best_tflops": dict})
    for entry in result["results"]:
        _require(entry, "a gemm result entry", {
            "op": str, "dtype": str, "shape": list, "flop": _NUMBER, "iterations": int,
            "median_s": _NUMBER, "best_s": _NUMBER, "tflops_best": _NUMBER,
            "tflops_median": _NUMBER})
    return cast(GemmResult, result)


def train_result(output: str) -> TrainResult:
    """The train probe's result line in ``output``."""
    result = parse_result(output, "train")
    _require(result, "the train result", {"world_size": int, "models": list})
    for model in result["models"]:
        _require(model, "a trained model", {
            "kind": str, "model": str, "device_type": str, "flop_per_step": _NUMBER,
            "batch": int, "stages": list, "epochs": list})
    return cast(TrainResult, result)


def paced_result(output: str) -> PacedResult:
    """The paced probe's result line in ``output``."""
    result = parse_result(output, "paced")
    _require(result, "the paced result", {
        "steps": int, "launched": _NUMBER, "started": _NUMBER, "finished": _NUMBER,
        "seconds": _NUMBER,
        "step_times": list})
    return cast(PacedResult, result)


def progress_marks(output: str) -> list[float]:
    """The ``sca-progress: X`` marks a probe printed, in order."""
    marks = []
    for line in output.splitlines():
        if line.startswith("sca-progress:"):
            try:
                marks.append(float(line.split(":", 1)[1]))
            except ValueError:
                continue
    return marks
