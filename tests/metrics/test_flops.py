"""FLOP counts and utilisation against worked examples of the papers they come from."""

from __future__ import annotations

import pytest

from pytest_sca.metrics import flops


def test_gemm_flops_and_throughput() -> None:
    # 2·M·N·K: a 4096³ GEMM is 137.4 GFLOP; done in 0.25 ms it runs at 549.8 TFLOP/s.
    assert flops.gemm_flops(4096, 4096, 4096) == 2 * 4096**3
    assert flops.throughput(flops.gemm_flops(4096, 4096, 4096), 0.25e-3) == pytest.approx(
        549.76e12, rel=1e-4)


def test_palm_540b_mfu_is_46_2_percent() -> None:
    """PaLM (Chowdhery et al. 2022), appendix B: 540B model, L=118, H=48, Q=256, T=2048,
    238.3K tokens/s on 6144 TPU v4 chips of 275 TFLOP/s peak → MFU 46.2 %."""
    per_token = flops.palm_flops_per_token(540.35e9, 118, 48, 256, 2048)
    assert per_token == pytest.approx(6 * 540.35e9 + 12 * 118 * 48 * 256 * 2048)
    mfu = flops.model_flops_utilisation(238.3e3, per_token, 6144, 275e12)
    assert mfu == pytest.approx(0.462, abs=0.001)


def test_megatron_training_time_examples() -> None:
    """Narayanan et al. 2021, §5.1: GPT-3 175B on 300B tokens, 1024 A100s at 140 TFLOP/s
    each → about 34 days; the 1T model on 450B tokens, 3072 GPUs at 163 TFLOP/s → 84 days."""
    day = 86400.0
    gpt3 = flops.megatron_training_seconds(300e9, 175e9, 1024, 140e12) / day
    assert gpt3 == pytest.approx(34, abs=0.5)
    trillion = flops.megatron_training_seconds(450e9, 1e12, 3072, 163e12) / day
    assert trillion == pytest.approx(84, abs=1.0)


def test_megatron_iteration_flops_recompute_is_four_thirds_of_model_flops() -> None:
    """Eq. 3 (96·Bslh²…) counts a second forward pass: with V and s negligible it is 4/3 of
    the model FLOPs (72·Bslh²…), i.e. HFU/MFU = 4/3 under full recomputation."""
    hardware = flops.megatron_flops_per_iteration(1536, 2048, 96, 12288, 51200, recompute=True)
    model = flops.megatron_flops_per_iteration(1536, 2048, 96, 12288, 51200, recompute=False)
    assert 1.30 < hardware / model < 1.34
    # Per token, the model count matches 6·N + the attention term within a few percent.
    params = 12 * 96 * 12288**2
    per_token = model / (1536 * 2048)
    assert per_token == pytest.approx(
        flops.palm_flops_per_token(params, 96, 96, 128, 2048), rel=0.05)


def test_vision_training_is_three_forwards() -> None:
    # ResNet-50: 4.1 GFLOPs (2 × 2.05 GMACs) per 224² image forward (He et al. 2016, Table 1,
    # 3.8·10⁹ multiply-adds) → 3 × forward per image trained.
    assert flops.vision_training_flops(2 * 3.8e9, 1) == pytest.approx(22.8e9)


def test_hfu_and_efficiency_refuse_nonsense() -> None:
    assert flops.hardware_flops_utilisation(989.4e12, 1.0, 1, 989.4e12) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        flops.efficiency(1.0, 0.0)
    with pytest.raises(ValueError):
        flops.throughput(1.0, 0.0)
