"""Probe: train a language model and a vision model; time every stage of every step.

Self-contained (``python -c <source>``), arguments as JSON in ``SCA_PROBE_ARGS``; prints ONE
JSON line starting with ``{"probe": "train"``. The models are small on a CPU and sized to keep
an accelerator busy on one (``LANGUAGE_SIZES``, ``VISION_SIZES``). Per model: framework,
device, executed FLOPs per step (counted: ``torch.utils.flop_counter.FlopCounterMode`` with
torch; the dense layers' GEMMs, forward + both backward GEMMs, with numpy), per-step stage
times (data, forward, backward, optimizer, communication), epochs, and on CUDA the card
memory the model needed. With ``WORLD_SIZE`` > 1 and torch, gradients are all-reduced (gloo
on CPU) and that time is the communication stage.
"""

import contextlib
import importlib
import json
import os
import time

from pytest_sca.probes.host import cpu_info  # sca: inline

ARGS = json.loads(os.environ.get("SCA_PROBE_ARGS") or "{}")
MODELS = ARGS.get("models") or ["language", "vision"]
EPOCHS = int(ARGS.get("epochs", 2))
STEPS = int(ARGS.get("steps_per_epoch", 15))
BATCH = int(ARGS.get("batch", 64))
BACKEND = ARGS.get("backend", "auto")
#: A model's training stops after this many seconds (at least one step per epoch is kept).
MAX_SECONDS = float(ARGS.get("max_seconds", 600))
#: Only an accelerator's figures are wanted: on the CPU, report the device and stop.
REQUIRE_ACCELERATOR = bool(ARGS.get("require_accelerator", False))
STAGES = ("data", "forward", "backward", "optimizer", "communication")
#: The models' sizes per device kind, each overridable by the arguments (``language_model``,
#: ``vision_model``). An accelerator trains models that keep it busy: on an H200 the CPU's
#: 2×128 transformer spends its steps launching kernels (HFU 0.004) and its CNN reaches
#: 0.017. The accelerator's sizes were chosen on an H200 (docs/chapter09.md): HFU 0.44 and
#: 0.49, 9 GiB and 8 GiB of card memory at batch 512, 18 GiB at 9.2.b's batch of 1,024, so
#: they fit a 24 GiB card; an 8×1024 transformer at sequence 1,024 reached only 0.32 and
#: needed 109 GiB at batch 1,024.
LANGUAGE_SIZES = {
    "cpu": {"vocab": 512, "seq": 64, "width": 128, "heads": 4, "depth": 2},
    "accelerator": {"vocab": 8192, "seq": 256, "width": 2048, "heads": 16, "depth": 2},
}
VISION_SIZES = {
    "cpu": {"channels": 32, "side": 32, "layers": 1, "classes": 10},
    "accelerator": {"channels": 256, "side": 64, "layers": 4, "classes": 1000},
}


def model_sizes(table, kind, device):
    """The sizes of the ``kind`` model on ``device``: the table's, updated by the arguments."""
    sizes = dict(table["cpu" if device == "cpu" else "accelerator"])
    sizes.update(ARGS.get(f"{kind}_model") or {})
    return sizes


def run_epochs(step):
    """Call ``step()`` (returns stage → seconds) EPOCHS × STEPS times; per-step records."""
    epochs = []
    deadline = time.perf_counter() + MAX_SECONDS
    for _ in range(EPOCHS):
        steps = []
        for _ in range(STEPS):
            if steps and time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            stages = step()
            stages["total"] = time.perf_counter() - start
            steps.append(stages)
        epochs.append(steps)
    return epochs


def numpy_model(kind):
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "language":
        vocab, context, embed, hidden = 512, 8, 32, 512
        sizes = [context * embed, hidden, vocab]
        table = rng.standard_normal((vocab, embed)).astype(np.float32) * 0.1
    else:
        sizes = [16 * 16 * 3, 512, 10]
    layers = [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    weights = [rng.standard_normal((a, b)).astype(np.float32) * (1.0 / a) ** 0.5
               for a, b in layers]
    forward_flop = sum(2.0 * BATCH * a * b for a, b in layers)
    flop = 3 * forward_flop
    sizes_info = {"forward_flop_per_step": forward_flop, "tokens_per_step": BATCH,
                  "params": sum(a * b for a, b in layers), "layers": 0, "heads": 0,
                  "head_dim": 0, "seq": 0, "dtype": "fp32"}

    def step():
        t0 = time.perf_counter()
        if kind == "language":
            tokens = rng.integers(0, vocab, size=(BATCH, context + 1))
            x = table[tokens[:, :-1]].reshape(BATCH, -1)
            target = tokens[:, -1]
        else:
            x = rng.standard_normal((BATCH, sizes[0])).astype(np.float32)
            target = rng.integers(0, sizes[-1], size=BATCH)
        t1 = time.perf_counter()
        hidden_in = x
        hidden_act = np.maximum(hidden_in @ weights[0], 0.0)
        logits = hidden_act @ weights[1]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        t2 = time.perf_counter()
        grad_logits = probs
        grad_logits[np.arange(BATCH), target] -= 1.0
        grad_logits /= BATCH
        grad_w1 = hidden_act.T @ grad_logits
        grad_hidden = (grad_logits @ weights[1].T) * (hidden_act > 0)
        grad_w0 = hidden_in.T @ grad_hidden
        _ = grad_hidden @ weights[0].T  # gradient to the inputs: the third GEMM of backward
        t3 = time.perf_counter()
        weights[0] -= 0.01 * grad_w0
        weights[1] -= 0.01 * grad_w1
        t4 = time.perf_counter()
        return {"data": t1 - t0, "forward": t2 - t1, "backward": t3 - t2,
                "optimizer": t4 - t3, "communication": 0.0}

    name = "mlp-lm" if kind == "language" else "mlp-vision"
    return name, flop, step, {"numpy": np.__version__}, "cpu", sizes_info


def torch_model(kind, torch):
    from torch.utils.flop_counter import FlopCounterMode

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # On an accelerator the matmuls run in bf16 (autocast), as training does there; on the
    # CPU in fp32. The check divides by the peak of the dtype reported here.
    dtype = "bf16" if device == "cuda" else "fp32"

    def autocast():
        if dtype == "bf16":
            return torch.autocast(device_type=device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    nn = torch.nn
    sizes_info = {"dtype": dtype, "layers": 0, "heads": 0, "head_dim": 0, "seq": 0}
    if kind == "language":
        sizes = model_sizes(LANGUAGE_SIZES, kind, device)
        vocab, seq, width, heads, depth = (sizes[name] for name in
                                           ("vocab", "seq", "width", "heads", "depth"))
        sizes_info.update(layers=depth, heads=heads, head_dim=width // heads, seq=seq,
                          tokens_per_step=(BATCH // 4) * seq)

        class TinyLM(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, width)
                layer = nn.TransformerEncoderLayer(width, heads, 4 * width, batch_first=True)
                self.body = nn.TransformerEncoder(layer, depth)
                self.head = nn.Linear(width, vocab)

            def forward(self, tokens):
                return self.head(self.body(self.embed(tokens)))

        model = TinyLM().to(device)

        def batch():
            tokens = torch.randint(0, vocab, (BATCH // 4, seq + 1), device=device)
            return tokens[:, :-1], tokens[:, 1:]

        def loss_of(inputs, target):
            with autocast():
                logits = model(inputs)
            return nn.functional.cross_entropy(logits.float().reshape(-1, vocab),
                                               target.reshape(-1))
        name = f"transformer-lm-{depth}x{width}"
        params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embed"))
    else:
        sizes = model_sizes(VISION_SIZES, kind, device)
        channels, side, layers, classes = (sizes[name] for name in
                                           ("channels", "side", "layers", "classes"))
        # A stem to ``channels``, then ``layers`` same-width 3×3 convolutions at full
        # resolution, pooled into a classifier.
        blocks = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
        for _ in range(layers):
            blocks += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        model = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(channels, classes)).to(device)
        layout = torch.channels_last if device != "cpu" else torch.contiguous_format
        model = model.to(memory_format=layout)

        def batch():
            images = torch.randn(BATCH, 3, side, side, device=device)
            return (images.contiguous(memory_format=layout),
                    torch.randint(0, classes, (BATCH,), device=device))

        def loss_of(inputs, target):
            with autocast():
                logits = model(inputs)
            return nn.functional.cross_entropy(logits.float(), target)
        name = f"cnn-{layers + 1}conv-{channels}"
        sizes_info["tokens_per_step"] = BATCH
        params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
    forward_counter = FlopCounterMode(display=False)
    with forward_counter:
        inputs, target = batch()
        loss_of(inputs, target)
    counter = FlopCounterMode(display=False)
    with counter:
        inputs, target = batch()
        loss_of(inputs, target).backward()
    flop = float(counter.get_total_flops())
    optimizer.zero_grad()
    sizes_info.update(params=params, forward_flop_per_step=float(forward_counter.get_total_flops()))

    def step():
        t0 = time.perf_counter()
        inputs, target = batch()
        sync()
        t1 = time.perf_counter()
        loss = loss_of(inputs, target)
        sync()
        t2 = time.perf_counter()
        loss.backward()
        sync()
        t3 = time.perf_counter()
        if distributed:
            import torch.distributed as dist
            for parameter in model.parameters():
                dist.all_reduce(parameter.grad)
        sync()
        t4 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        sync()
        t5 = time.perf_counter()
        return {"data": t1 - t0, "forward": t2 - t1, "backward": t3 - t2,
                "communication": t4 - t3, "optimizer": t5 - t4}

    return name, flop, step, {"torch": torch.__version__}, device, sizes_info


def main():
    torch = None
    if BACKEND in ("auto", "torch"):
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            if BACKEND == "torch":
                raise
    models = []
    for kind in MODELS:
        name, flop, step, library, device, sizes = (torch_model(kind, torch) if torch
                                                    else numpy_model(kind))
        if REQUIRE_ACCELERATOR and device == "cpu":
            epochs = []
        else:
            step()  # warm-up, not recorded
            epochs = run_epochs(step)
        if device == "cuda":
            # What the model needed of the card's memory: sizes must fit smaller cards too.
            sizes["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            torch.cuda.reset_peak_memory_stats()
        models.append({"kind": kind, "model": name, "library": library, "device_type": device,
                       "flop_per_step": flop, "batch": BATCH,
                       "flop_counted_by": "FlopCounterMode" if torch else "dense GEMMs x3",
                       "recompute": False, "stages": list(STAGES), "epochs": epochs,
                       "device": cpu_info() if device == "cpu" else {"kind": "accelerator"},
                       **sizes})
    print(json.dumps({"probe": "train", "backend": "torch" if torch else "numpy",
                      "world_size": int(os.environ.get("WORLD_SIZE", "1")),
                      "rank": int(os.environ.get("RANK", "0")), "models": models}), flush=True)


if __name__ == "__main__":
    main()
