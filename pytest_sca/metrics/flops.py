"""FLOP counts and throughput of GEMMs and transformer training, and utilisation ratios.

Sources:
- GEMM: ``C = A·B`` with A (M×K), B (K×N) takes ``2·M·N·K`` FLOPs (one multiply and one add
  per term).
- PaLM (Chowdhery et al., 2022, appendix B): model FLOPs per token of training
  ``6·N + 12·L·H·Q·T``; MFU = observed tokens/s × FLOPs per token / peak FLOP/s.
- Megatron-LM (Narayanan et al., 2021, §5.1 eq. 3): FLOPs per iteration with full activation
  recomputation ``96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h))``; without recomputation (Korthikanti
  et al., 2022) ``72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h))``; end-to-end training time
  ``8·T·P / (n·X)``.
"""

from __future__ import annotations


def gemm_flops(m: int, n: int, k: int) -> float:
    """FLOPs of one ``(M×K)·(K×N)`` matrix product: ``2·M·N·K``."""
    return 2.0 * m * n * k


def throughput(flops: float, seconds: float) -> float:
    """FLOP/s achieved by ``flops`` of work done in ``seconds``."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    return flops / seconds


def efficiency(achieved: float, peak: float) -> float:
    """``achieved / peak`` (same unit): the share of a peak (declared, measured or published)."""
    if peak <= 0:
        raise ValueError("peak must be positive")
    return achieved / peak


def palm_flops_per_token(n_params: float, layers: int, heads: int, head_dim: int,
                         seq_len: int) -> float:
    """Training FLOPs per token, PaLM appendix B: ``6·N + 12·L·H·Q·T``."""
    return 6.0 * n_params + 12.0 * layers * heads * head_dim * seq_len


def model_flops_utilisation(tokens_per_second: float, flops_per_token: float,
                            devices: int, peak_per_device: float) -> float:
    """MFU: model FLOP/s achieved over ``devices × peak`` (PaLM appendix B)."""
    return efficiency(tokens_per_second * flops_per_token, devices * peak_per_device)


def hardware_flops_utilisation(executed_flops: float, seconds: float, devices: int,
                               peak_per_device: float) -> float:
    """HFU: FLOPs actually executed (recomputation included) per second over ``devices × peak``."""
    return efficiency(throughput(executed_flops, seconds), devices * peak_per_device)


def megatron_flops_per_iteration(batch: int, seq_len: int, layers: int, hidden: int,
                                 vocab: int, recompute: bool = True) -> float:
    """FLOPs of one training iteration of a GPT model (Megatron-LM's count).

    ``recompute=True``: full activation recomputation (Narayanan et al. 2021, eq. 3), the
    hardware FLOPs; ``False``: the model FLOPs (Korthikanti et al. 2022).
    """
    base = batch * seq_len * layers * hidden ** 2
    if recompute:
        return 96.0 * base * (1 + seq_len / (6 * hidden) + vocab / (16 * layers * hidden))
    return 72.0 * base * (1 + seq_len / (6 * hidden) + vocab / (12 * layers * hidden))


def megatron_training_seconds(tokens: float, params: float, devices: int,
                              flops_per_device: float) -> float:
    """End-to-end training time ``8·T·P / (n·X)`` (Narayanan et al. 2021, §5.1)."""
    return 8.0 * tokens * params / (devices * flops_per_device)


def vision_training_flops(forward_flops_per_image: float, images: int) -> float:
    """Training FLOPs of a vision model: forward FLOPs per image × 3 (forward + backward)."""
    return 3.0 * forward_flops_per_image * images


def dense_layer_flops(batch: int, inputs: int, outputs: int) -> float:
    """Forward FLOPs of a dense layer on a batch (a GEMM of batch × inputs × outputs)."""
    return gemm_flops(batch, outputs, inputs)
