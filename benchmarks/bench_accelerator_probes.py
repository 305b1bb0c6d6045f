"""Chapter 9's probes on this machine's accelerator, as the checks submit them, beside the peaks.

Runs the shipped probes (``pytest_sca/probes``) in local subprocesses with the arguments
9.1.a, 9.2.a and 9.2.b give them, and computes what those checks compute: each dtype's
median matmul throughput as a share of the chip's published peak (9.1.a), each model's
hardware FLOPs utilisation from the counted FLOPs and the step times (9.2.a), the step-time
jitter (9.2.b); plus the all-reduce probe (one rank per card this machine has) and, as a
ceiling the probes are compared with, one 8192³ bf16 product timed with CUDA events.

``--cpu-sized`` also runs them with the CPU's sizes (the only sizes the probes had before
2026-11-30): the figures an accelerator got from them. ``--sweep`` tries larger and smaller
training models (for sizing the defaults; each reports the card memory it needed).

No pytest, no target: it needs torch with an accelerator, and pydantic for the checks'
default thresholds. Run: ``python benchmarks/bench_accelerator_probes.py --chip H200
--out figures.jsonl``; prints one JSON line per figure (and appends it to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_sca import probes  # noqa: E402
from pytest_sca.metrics import scaling  # noqa: E402
from pytest_sca.metrics.flops import (  # noqa: E402
    hardware_flops_utilisation,
    palm_flops_per_token,
)
from pytest_sca.metrics.peaks import accelerator_peak_tflops  # noqa: E402
from pytest_sca.settings import PerfSettings  # noqa: E402

DEFAULTS = PerfSettings()
#: 9.2.a's arguments (test_9_2_training.py), with the documented defaults.
HFU_ARGS = {"epochs": 1, "steps_per_epoch": DEFAULTS.training.steps_per_epoch,
            "batch": DEFAULTS.training.batch, "max_seconds": 1.0, "require_accelerator": True}
#: 9.2.b's arguments.
JITTER_ARGS = {"models": ["language"], "epochs": 3, "steps_per_epoch": 12,
               "batch": DEFAULTS.training.jitter_batch, "max_seconds": 4.0}
#: What the probes do on a CPU (their own tables), asked of an accelerator.
_GEMM, _TRAIN = probes.module("gemm"), probes.module("train")
_CPU_WARMUP, _CPU_ITERATIONS = _GEMM["repetitions"](False)
CPU_SIZED_GEMM = {"shapes": _GEMM["CPU_SHAPES"], "warmup": _CPU_WARMUP,
                  "iterations": _CPU_ITERATIONS}
CPU_SIZED_MODELS = {"language_model": _TRAIN["LANGUAGE_SIZES"]["cpu"],
                    "vision_model": _TRAIN["VISION_SIZES"]["cpu"]}
SWEEP = [
    {"language_model": {"vocab": 8192, "seq": 256, "width": 2048, "heads": 16, "depth": 2}},
    {"language_model": {"vocab": 8192, "seq": 256, "width": 2048, "heads": 16, "depth": 4}},
    {"language_model": {"vocab": 8192, "seq": 512, "width": 1536, "heads": 12, "depth": 4}},
]


def emit(out: Path | None, record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if out is not None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def gemm_figures(label: str, chip: str, args: dict[str, Any]) -> dict[str, Any]:
    """9.1.a's figures: per dtype the best median matmul throughput and its share of the peak."""
    started = time.perf_counter()
    result = probes.run_here("gemm", {"require_accelerator": True, **args}, timeout=600)
    medians: dict[str, float] = {}
    for entry in result["results"]:
        if entry["op"] == "matmul":
            medians[entry["dtype"]] = max(medians.get(entry["dtype"], 0.0),
                                          entry["tflops_median"])
    shares = {}
    for dtype, median in sorted(medians.items()):
        peak = accelerator_peak_tflops(chip, dtype)
        shares[dtype] = {"median_tflops": round(median, 1), "peak_tflops": peak,
                         "share": round(median / peak, 3) if peak else None}
    others = {f"{e['op']} {e['dtype']} {e['shape']}": round(e["tflops_median"], 1)
              for e in result["results"] if e["op"] != "matmul"}
    minimum = DEFAULTS.operators.min_efficiency
    return {"figure": "9.1.a operator throughput", "run": label, "chip": chip,
            "device": result["device"], "matmul": shares, "other_ops_tflops": others,
            "per_shape": [(e["dtype"], e["shape"][0], round(e["tflops_median"], 1))
                          for e in result["results"] if e["op"] == "matmul"],
            "min_efficiency": minimum,
            "verdict": "pass" if shares and all(
                s["share"] is not None and s["share"] >= minimum for s in shares.values())
            else "fail", "seconds": round(time.perf_counter() - started, 1)}


def train_figures(label: str, chip: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """9.2.a's figures per model: HFU, the FLOP counts' checks, the card memory needed."""
    started = time.perf_counter()
    result = probes.run_here("train", {**HFU_ARGS, **args}, timeout=900)
    records = []
    for model in result["models"]:
        times = [step["total"] for epoch in model["epochs"] for step in epoch]
        dtype = model.get("dtype") or "fp32"
        peak = accelerator_peak_tflops(chip, dtype)
        flop = model["flop_per_step"]
        record: dict[str, Any] = {
            "figure": "9.2.a training HFU", "run": label, "model": model["model"],
            "kind": model["kind"], "dtype": dtype, "steps": len(times),
            "median_step_ms": round(scaling.percentile(times, 50) * 1000, 2) if times else None,
            "flop_per_step": flop, "peak_tflops": peak,
            "peak_memory_gib": model.get("peak_memory_gib"),
            "training_over_forward": round(flop / model["forward_flop_per_step"], 3)}
        if model["kind"] == "language" and model.get("tokens_per_step"):
            per_token = palm_flops_per_token(model["params"], model["layers"], model["heads"],
                                             model["head_dim"], model["seq"])
            record["counted_over_palm"] = round(flop / model["tokens_per_step"] / per_token, 3)
        if times and peak:
            hfu = hardware_flops_utilisation(flop * len(times), sum(times),
                                             result["world_size"], peak * 1e12)
            record["executed_tflops"] = round(flop * len(times) / sum(times) / 1e12, 1)
            record["hfu"] = round(hfu, 3)
            record["min_hfu"] = DEFAULTS.training.min_hfu
            record["verdict"] = "pass" if hfu >= DEFAULTS.training.min_hfu else "fail"
        records.append(record)
    for record in records:
        record["seconds"] = round(time.perf_counter() - started, 1)
    return records


def jitter_figures(label: str, args: dict[str, Any]) -> dict[str, Any]:
    """9.2.b's figures: step-time CV and p99/p50 of the language model over three epochs."""
    result = probes.run_here("train", {**JITTER_ARGS, **args}, timeout=900)
    model = result["models"][0]
    times = [step["total"] for epoch in model["epochs"] for step in epoch]
    cv = scaling.coefficient_of_variation(times)
    return {"figure": "9.2.b step-time jitter", "run": label, "model": model["model"],
            "steps": len(times), "median_step_ms": round(scaling.percentile(times, 50) * 1000, 2),
            "cv": round(cv, 4), "p99_over_p50": round(scaling.tail_ratio(times), 3),
            "peak_memory_gib": model.get("peak_memory_gib"),
            "max_step_cv": DEFAULTS.training.max_step_cv,
            "verdict": "pass" if cv <= DEFAULTS.training.max_step_cv else "fail"}


def allreduce_figures(ranks: int) -> dict[str, Any]:
    """The all-reduce probe's bandwidth with one rank per card (nccl on CUDA)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    command, env = probes.job_spec("allreduce", {"sizes": [2**20, 2**24, 2**28],
                                                 "iterations": 10})
    workers = [subprocess.Popen(  # noqa: S603 - our own probe
        [sys.executable, *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, **env, "RANK": str(rank), "LOCAL_RANK": str(rank),
                        "WORLD_SIZE": str(ranks), "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(port)}) for rank in range(ranks)]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    result = probes.parse_result(outputs[0], "allreduce")
    return {"figure": "all-reduce bandwidth", "ranks": ranks, "library": result["library"],
            "rows": [(row["bytes"], round(row["algbw_gbps"], 1), round(row["busbw_gbps"], 1))
                     for row in result["results"]],
            "note": "one rank: nothing crosses a link (busbw is 0 by definition)"
            if ranks == 1 else ""}


def reference_matmul() -> dict[str, Any]:
    """One 8192³ bf16 product, 3 warm-ups then 20 timed with CUDA events: the ceiling."""
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        a @ b
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000 / 20
    return {"figure": "reference bf16 8192^3 matmul (CUDA events)",
            "tflops": round(2 * 8192**3 / seconds / 1e12, 1),
            "device": torch.cuda.get_device_name(0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chip", required=True,
                        help="the chip's name in pytest_sca/metrics/peaks.yaml (e.g. H200)")
    parser.add_argument("--out", type=Path, help="also append each JSON line to this file")
    parser.add_argument("--cpu-sized", action="store_true",
                        help="also run the probes with the CPU's sizes")
    parser.add_argument("--sweep", action="store_true", help="also try other model sizes")
    options = parser.parse_args()
    try:
        import torch
    except ImportError:
        parser.error("needs torch (pip install 'pytest-sca[probes]') and a CUDA accelerator")
    if not torch.cuda.is_available():
        parser.error("torch sees no CUDA accelerator on this machine")
    steps: list[tuple[str, Any]] = [
        ("reference", reference_matmul),
        ("gemm", lambda: gemm_figures("as 9.1.a submits it", options.chip, {})),
        ("train", lambda: train_figures("as 9.2.a submits it", options.chip,
                                        {"models": ["language", "vision"]})),
        ("jitter", lambda: jitter_figures("as 9.2.b submits it", {})),
    ]
    if options.cpu_sized:
        steps += [
            ("gemm cpu-sized", lambda: gemm_figures("CPU-sized sweep", options.chip,
                                                    CPU_SIZED_GEMM)),
            ("train cpu-sized", lambda: train_figures(
                "CPU-sized models", options.chip,
                {"models": ["language", "vision"], **CPU_SIZED_MODELS})),
        ]
    if options.sweep:
        for sizes in SWEEP:
            models = [name.split("_")[0] for name in sizes]
            steps.append((f"sweep {sizes}", lambda sizes=sizes, models=models: train_figures(
                f"sweep {sizes}", options.chip, {"models": models, **sizes})))
            if "language_model" in sizes:  # its memory at 9.2.b's larger batch
                steps.append((f"sweep jitter {sizes}", lambda sizes=sizes: jitter_figures(
                    f"sweep {sizes}", sizes)))
    steps.append(("allreduce", lambda: allreduce_figures(max(1, torch.cuda.device_count()))))
    failed = 0
    for name, step in steps:
        try:
            figures = step()
        except Exception as exc:  # noqa: BLE001 - report it and go on with the next figure
            failed += 1
            figures = {"figure": name, "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()[-2000:]}
        for record in figures if isinstance(figures, list) else [figures]:
            emit(options.out, record)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
