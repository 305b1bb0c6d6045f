"""Chapter 9 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Items broken by the same fault are evaluated in one sandbox run (a start costs ~1.5 s).
Timing checks are sized for a loaded 2-core machine: the sandbox's thresholds are generous
and each fault misses them by a wide margin (see docs/chapter09.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_sca.sandbox.launcher import launch

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "9.1.a": ("throttled_nodes", "of the declared peak"),
    "9.2.a": ("throttled_nodes", "training HFU below"),
    "9.2.b": ("noisy_neighbour", "step-time jitter"),
    "9.3.a": ("subtasks_serialised", "parallel sub-tasks scale poorly"),
    "9.3.b": ("throttled_nodes", "card utilisation"),
    "9.4.1.a": ("diagnosis_slow", "did not finish within"),
    "9.4.2.a": ("api_unstable", "management API answered"),
    "9.4.2.b": ("jobs_interrupted", "probe job was interrupted"),
    "9.4.2.c": ("topology_wrong", "does not match where it runs"),
    "9.4.2.d": ("stale_metrics", "stale or missing metrics"),
}
#: Faults that disturb different behaviours run together, to start fewer sandboxes; each
#: item's fail reason still names what its own fault broke.
FAULT_GROUPS: list[tuple[str, ...]] = [
    ("throttled_nodes", "diagnosis_slow", "topology_wrong", "stale_metrics"),
    ("noisy_neighbour", "subtasks_serialised"),
    ("api_unstable",),
    ("jobs_interrupted",),
]


def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    report = evaluate(tmp_path, BREAKS)
    assert verdicts(report) == {item: ("pass", "") for item in BREAKS}
    measured = {i["id"]: i.get("measurements") for i in report["items"] if i["id"] in BREAKS}
    assert all(measured.values()), f"items without measured values: {measured}"


def test_fault_groups_cover_every_item() -> None:
    grouped = [fault for group in FAULT_GROUPS for fault in group]
    assert sorted(grouped) == sorted({fault for fault, _ in BREAKS.values()})


@pytest.mark.parametrize("faults", FAULT_GROUPS, ids="+".join)
def test_checks_fail_under_their_fault(faults: tuple[str, ...], tmp_path: Path) -> None:
    items = {item for item, (broken_by, _) in BREAKS.items() if broken_by in faults}
    found = {i["id"]: i for i in evaluate(tmp_path, items, faults)["items"]}
    for item in sorted(items):
        entry, words = found[item], BREAKS[item][1]
        assert entry["verdict"] == "fail", entry
        assert entry["reason"].startswith(f"[{item}]"), entry["reason"]
        assert words in entry["reason"], entry["reason"]
        assert entry.get("measurements"), f"{item} failed without a measured value"


def test_accelerator_figures_measured_without_accelerator_are_not_assessed(
        tmp_path: Path) -> None:
    """A target declaring accelerators (not `compute_device: cpu`) whose probe jobs see no
    accelerator: 9.1.a and 9.2.a are not_assessed, never compared with a GPU peak. The
    sandbox serves as that target, with its target file's perf section changed."""
    sandbox = launch()
    try:
        document = yaml.safe_load(sandbox.target_path.read_text(encoding="utf-8"))
        document["capabilities"]["perf"]["compute_device"] = "accelerator"
        document["capabilities"]["perf"]["training"]["chip"] = "H100"
        target = tmp_path / "accelerator-target.yaml"
        target.write_text(yaml.safe_dump(document), encoding="utf-8")
        command = [sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
                   "no:cacheprovider", "-m", "clause(id='9.1.a') or clause(id='9.2.a')",
                   "--sca-json=report.json"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env={**os.environ, **sandbox.env})
    finally:
        sandbox.stop()
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    found = verdicts(report)
    assert found["9.1.a"][0] == "not_assessed" and "saw no accelerator" in found["9.1.a"][1]
    assert found["9.2.a"][0] == "not_assessed" and "without an accelerator" in found["9.2.a"][1]
