"""Numbers as a reader wants them: sensible precision, units, thresholds. Pure; every output
(terminal, HTML, JUnit, Allure) formats measurements here, so they all print the same text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_COMPARISON = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
#: Units that read as a bare ratio: shown as a percentage.
_RATIOS = {"ratio", "fraction"}


def number(value: float) -> str:
    """A value to 3–4 significant digits (never fewer than its integer part), thousands
    separated: ``26.85633391480387`` → ``26.9``, ``156.5`` → ``156.5``, ``0.012345`` →
    ``0.0123``, ``1234567.8`` → ``1,234,568``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 3:
        return f"{value:,.0f}"
    if magnitude <= -5:
        return f"{value:.3g}"
    decimals = 1 if magnitude >= 1 else 2 - magnitude
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def quantity(value: float, unit: str) -> str:
    """``26.9 GFLOP/s``, ``0.25 s``, ``87.5 %`` (a ratio), ``3`` (no unit)."""
    if unit in _RATIOS and isinstance(value, (int, float)):
        return f"{number(value * 100)} %"
    if unit == "%":
        return f"{number(value)} %"
    return f"{number(value)} {unit}".strip()


def threshold_text(measurement: Mapping[str, Any]) -> str:
    """``≥ 10 GFLOP/s, target file capabilities.perf…`` or ``""`` without a threshold."""
    threshold = measurement.get("threshold")
    if threshold is None:
        return ""
    comparison = _COMPARISON.get(measurement.get("comparison") or "", "")
    text = f"{comparison} {quantity(threshold, measurement.get('unit', ''))}".strip()
    source = measurement.get("threshold_source")
    return f"{text}, {source}" if source else text


def measurement_text(measurement: Mapping[str, Any]) -> str:
    """``latency_p50: 0.25 s (threshold ≤ 1 s, target capabilities.latency)``."""
    text = f"{measurement['name']}: {quantity(measurement['value'], measurement.get('unit', ''))}"
    threshold = threshold_text(measurement)
    return f"{text} (threshold {threshold})" if threshold else text


def percent(score: float) -> str:
    """A score (0–1) as ``68.4 %``."""
    return f"{score * 100:.1f} %"


def duration(seconds: float) -> str:
    """``0.42 s``, ``75 s``, ``12 min 5 s``."""
    if seconds < 60:
        return f"{number(round(seconds, 2))} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def grade_text(overall: Mapping[str, Any]) -> str:
    """``C (provisional)``, or ``no grade (partial evaluation — not a grade)``."""
    if overall.get("grade_withheld"):
        return f"no grade ({overall['grade_withheld']})"
    return f"{overall['grade']} ({overall['grade_status']})"
