"""Peak throughputs: published accelerator figures (``peaks.yaml``) and a CPU's own peak.

A CPU's peak is ``cores × clock × FLOPs per cycle per core``; FLOPs per cycle come from
its vector flags (two FMA pipes of the widest vector unit: AVX-512 → 2 × 16 fp32 lanes × 2,
AVX2+FMA → 2 × 8 × 2, SSE → 2 × 4 × 2 without FMA counted as 8). This is the usual
textbook bound; a target file may declare its own figure instead
(``capabilities.perf.cpu.peak_gflops``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PEAKS_FILE = Path(__file__).with_name("peaks.yaml")


@cache
def published_peaks() -> dict[str, dict[str, Any]]:
    """Model → {dtype: TFLOP/s, source: text} from ``peaks.yaml``."""
    return dict(yaml.safe_load(PEAKS_FILE.read_text(encoding="utf-8")))


def accelerator_peak_tflops(model: str, dtype: str,
                            overrides: Mapping[str, Any] | None = None) -> float | None:
    """The dense peak of ``model`` for ``dtype`` (TFLOP/s): the target's override, else
    the published figure, else ``None`` (unknown: the figure cannot be compared)."""
    for table in (overrides or {}, published_peaks()):
        entry = table.get(model)
        if isinstance(entry, Mapping) and dtype in entry:
            return float(entry[dtype])
    return None


def cpu_flops_per_cycle(flags: Iterable[str], dtype: str = "fp32") -> int:
    """FLOPs per cycle per core for ``dtype`` (fp32 or fp64) from the CPU's flags."""
    present = set(flags)
    if "avx512f" in present:
        lanes = 16
    elif "avx2" in present or "avx" in present:
        lanes = 8
    else:
        lanes = 4
    if dtype == "fp64":
        lanes //= 2
    fma = 2 if ("fma" in present or "avx512f" in present) else 1
    return 2 * lanes * fma


def cpu_peak_gflops(cores: int, clock_ghz: float, flags: Iterable[str],
                    dtype: str = "fp32") -> float:
    """``cores × GHz × FLOPs/cycle``: the CPU's theoretical peak in GFLOP/s."""
    return cores * clock_ghz * cpu_flops_per_cycle(flags, dtype)
