"""Probe: matrix-multiply and attention throughput on the best device this process can see.

Self-contained (shipped to the target as ``python -c <source>``); arguments come as JSON in
the ``SCA_PROBE_ARGS`` environment variable; prints ONE JSON line starting with
``{"probe": "gemm"``. torch when importable (CUDA, or a vendor backend such as torch_npu /
torch_mlu, detected, not assumed), numpy otherwise. Times are synchronised wall-clock.
"""

import importlib
import json
import os
import statistics
import time

from pytest_sca.probes.host import cpu_info  # sca: inline

ARGS = json.loads(os.environ.get("SCA_PROBE_ARGS") or "{}")
#: Square matmul sizes of the sweep, per device kind, unless the arguments name ``shapes``.
#: An accelerator needs large products: on an H200 a 1024³ bf16 product takes a few µs, so
#: its synchronised wall time is mostly launch and sync (about 10 % of the peak measured,
#: docs/chapter09.md), while 8192³ takes over a millisecond and reaches the chip's rate.
CPU_SHAPES = [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024]]
ACCELERATOR_SHAPES = [[2048, 2048, 2048], [4096, 4096, 4096], [8192, 8192, 8192]]
SHAPES = ARGS.get("shapes")
DTYPES = ARGS.get("dtypes") or ["fp32", "bf16", "fp16", "tf32"]
#: An accelerator's first products run at idle clocks: it gets more warm-up calls and more
#: timed ones (each one is short) than a CPU, unless the arguments say otherwise.
WARMUP = ARGS.get("warmup")
ITERATIONS = ARGS.get("iterations")
BUDGET = float(ARGS.get("seconds_per_shape", 2.0))
BACKEND = ARGS.get("backend", "auto")
#: Only an accelerator's figures are wanted: on the CPU, report the device and stop.
REQUIRE_ACCELERATOR = bool(ARGS.get("require_accelerator", False))


def torch_device(torch):
    """(device string, synchronise function, info) of the best torch device."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return "cuda", torch.cuda.synchronize, {
            "kind": "accelerator", "vendor": "nvidia" if torch.version.hip is None else "amd",
            "model": props.name, "count": torch.cuda.device_count(),
            "clock_ghz": None, "memory_gib": round(props.total_memory / 2**30, 1)}
    for module_name, attribute, vendor in (("torch_npu", "npu", "huawei"),
                                           ("torch_mlu", "mlu", "cambricon")):
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue
        backend = getattr(torch, attribute, None)
        if backend is not None and backend.is_available():
            return attribute, backend.synchronize, {
                "kind": "accelerator", "vendor": vendor, "model": attribute,
                "count": backend.device_count(), "clock_ghz": None}
    return "cpu", lambda: None, cpu_info()


def repetitions(accelerator):
    """(warm-up calls, timed calls) of each operator: the arguments', else the device's."""
    return (int(WARMUP if WARMUP is not None else 3 if accelerator else 1),
            int(ITERATIONS if ITERATIONS is not None else 10 if accelerator else 3))


def timed(run, sync, accelerator=False):
    warmup, iterations = repetitions(accelerator)
    for _ in range(warmup):
        run()
    sync()
    times = []
    spent = 0.0
    while len(times) < iterations and (not times or spent < BUDGET):
        start = time.perf_counter()
        run()
        sync()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
    return times


def summary(op, dtype, shape, flop, times, accelerator=False):
    median = statistics.median(times)
    best = min(times)
    return {"op": op, "dtype": dtype, "shape": shape, "flop": flop,
            "warmup": repetitions(accelerator)[0],
            "iterations": len(times), "median_s": median, "best_s": best,
            "spread": (max(times) - best) / median if median else 0.0,
            "tflops_best": flop / best / 1e12, "tflops_median": flop / median / 1e12}


def with_torch(torch):
    device, sync, info = torch_device(torch)
    if REQUIRE_ACCELERATOR and device == "cpu":
        return device, info, {"torch": torch.__version__}, [], list(DTYPES)
    kinds = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
             "tf32": torch.float32}
    accelerator = device != "cpu"
    results, skipped = [], []
    for dtype in DTYPES:
        if device == "cpu" and dtype in ("fp16", "tf32"):
            skipped.append(dtype)
            continue
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        for m, n, k in SHAPES or (ACCELERATOR_SHAPES if accelerator else CPU_SHAPES):
            a = torch.randn(m, k, device=device, dtype=kinds[dtype])
            b = torch.randn(k, n, device=device, dtype=kinds[dtype])
            times = timed(lambda a=a, b=b: torch.matmul(a, b), sync, accelerator)
            results.append(summary("matmul", dtype, [m, n, k], 2.0 * m * n * k, times,
                                   accelerator))
            del a, b
    # Attention and convolution as training runs them: bf16 at a model's sizes on an
    # accelerator, fp32 at small sizes on a CPU.
    layer_dtype = "bf16" if accelerator else "fp32"
    batch, heads, seq, dim = (4, 16, 2048, 128) if accelerator else (1, 8, 512, 64)
    q = torch.randn(batch, heads, seq, dim, device=device, dtype=kinds[layer_dtype])
    attention = torch.nn.functional.scaled_dot_product_attention
    times = timed(lambda: attention(q, q, q), sync, accelerator)
    results.append(summary("attention", layer_dtype, [batch, heads, seq, dim],
                           4.0 * batch * heads * seq * seq * dim, times, accelerator))
    images, channels, side = (64, 256, 56) if accelerator else (8, 64, 56)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device, kinds[layer_dtype])
    image = torch.randn(images, channels, side, side, device=device, dtype=kinds[layer_dtype])
    if accelerator:
        conv = conv.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        times = timed(lambda: conv(image), sync, accelerator)
    results.append(summary("conv2d", layer_dtype, [images, channels, side, side, 3],
                           2.0 * images * channels * side * side * channels * 9, times,
                           accelerator))
    return device, info, {"torch": torch.__version__}, results, skipped


def with_numpy():
    import numpy as np

    info = cpu_info()
    results, skipped = [], []
    if REQUIRE_ACCELERATOR:
        return "cpu", info, {"numpy": np.__version__}, results, list(DTYPES)
    for dtype in DTYPES:
        if dtype != "fp32":
            skipped.append(dtype)
            continue
        for m, n, k in SHAPES or CPU_SHAPES:
            a = np.random.rand(m, k).astype(np.float32)
            b = np.random.rand(k, n).astype(np.float32)
            times = timed(lambda a=a, b=b: a @ b, lambda: None)
            results.append(summary("matmul", dtype, [m, n, k], 2.0 * m * n * k, times))
    heads, seq, dim = 8, 256, 64
    q = np.random.rand(heads, seq, dim).astype(np.float32)

    def attention():
        scores = q @ q.transpose(0, 2, 1) / np.sqrt(dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return (scores / scores.sum(axis=-1, keepdims=True)) @ q

    times = timed(attention, lambda: None)
    results.append(summary("attention", "fp32", [heads, seq, dim], 4.0 * heads * seq * seq * dim,
                           times))
    return "cpu", info, {"numpy": np.__version__}, results, skipped


def main():
    torch = None
    if BACKEND in ("auto", "torch"):
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            if BACKEND == "torch":
                raise
    device, info, library, results, skipped = with_torch(torch) if torch else with_numpy()
    best = {}
    for entry in results:
        if entry["op"] == "matmul":
            best[entry["dtype"]] = max(best.get(entry["dtype"], 0.0), entry["tflops_best"])
    print(json.dumps({"probe": "gemm", "backend": "torch" if torch else "numpy",
                      "device_type": device, "device": info, "library": library,
                      "threads": os.environ.get("OMP_NUM_THREADS"), "results": results,
                      "skipped_dtypes": skipped, "best_tflops": best}), flush=True)


if __name__ == "__main__":
    main()
