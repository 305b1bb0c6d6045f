"""Shared machinery of the fault matrix: run shipped checks against the sandbox, healthy or
with one fault, and read the verdicts back.

Each ``test_chapterNN.py`` declares ``BREAKS`` (clause item → the sandbox fault that breaks
its behaviour and words its fail reason must contain) and calls :func:`healthy_verdicts`
and :func:`verdict_under`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_sca.adapters.registry import BUILTIN_ADAPTERS, load_adapter_class

from ..evaluation import evaluate_target, verdicts

__all__ = ["assert_fails_under_fault", "assert_swept", "evaluate", "verdicts"]


def evaluate(folder: Path, items: Iterable[str], faults: Iterable[str] = (),
             extra: Iterable[str] = (), plugins: Iterable[str] = ()) -> dict[str, Any]:
    """Run ``pytest --sca-target=sandbox`` on the given items; the JSON report."""
    report = evaluate_target(folder, "sandbox", items, timeout=600, plugins=plugins,
                             extra=[*(f"--sca-sandbox-fault={f}" for f in faults), *extra])
    assert_swept(report)
    return report


def created_kinds(report: dict[str, Any]) -> set[str]:
    """Every kind of resource the run's checks created (their "created by the check" evidence)."""
    return {entry["kind"] for item in report["items"] for evidence in item["evidence"]
            if evidence["name"].startswith("created by the check")
            for entry in json.loads(evidence["content"])}


def assert_swept(report: dict[str, Any]) -> None:
    """Whatever kind of resource a check created, the sweep of a killed run can find again:
    the adapter that created it lists the kind among those it sweeps."""
    swept = {kind for transport in BUILTIN_ADAPTERS
             for kind in load_adapter_class(transport).sweeps}
    unswept = created_kinds(report) - swept
    assert not unswept, f"checks created kinds no sweep finds after a SIGKILL: {sorted(unswept)}"


def assert_fails_under_fault(folder: Path, item: str, fault: str, words: str) -> None:
    """The check of ``item`` gives ``fail`` under ``fault``, with a reason naming what it saw."""
    entry = next(i for i in evaluate(folder, {item}, (fault,))["items"] if i["id"] == item)
    assert entry["verdict"] == "fail", entry
    assert entry["reason"].startswith(f"[{item}]"), entry["reason"]
    assert words in entry["reason"], entry["reason"]
