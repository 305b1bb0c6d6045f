"""The mutation command end to end against the sandbox, and the recorded floor.

It starts the sandbox and runs a chapter's checks under every operator: slow (minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_sca.mutate import report

pytestmark = pytest.mark.slow

#: The recorded report (README, "Mutation score"): its scores and detections are the floor.
RECORDED = Path(__file__).with_name("recorded-score.json")
#: How far the chapter's score may fall below the record: about three of chapter 8's ~160
#: applicable pairs. Which field an operator changes follows the order of a run's requests,
#: so a pair or two move between runs; the record is the detections common to several runs
#: (``--floor-of``), and each item's own count is still held to it exactly.
SCORE_TOLERANCE = 0.02


def mutate(tmp_path: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_sca.mutate", "--target", "sandbox",
         "--json", str(tmp_path / "mutation.json"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path, check=False)


def test_mutation_score_does_not_drop_below_the_recorded_one(tmp_path: Path) -> None:
    """The chapter (default chapter8; SCA_MUTATION_FLOOR_MARKERS picks another) under every
    operator the recorded report ran: no chapter score and no item's number of detected
    operators below the record. The command's report has the promised shape: the unchanged
    run first, one run per operator, every selected item with a status per operator."""
    recorded = json.loads(RECORDED.read_text())
    markers = os.environ.get("SCA_MUTATION_FLOOR_MARKERS", "chapter8")
    done = mutate(tmp_path, "-m", markers, "--operators", ",".join(recorded["operators"]),
                  "--floor", str(RECORDED), "--tolerance", str(SCORE_TOLERANCE), "--lanes", "3",
                  timeout=3000)
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-2000:])
    result = json.loads((tmp_path / "mutation.json").read_text())
    assert result["operators"] == recorded["operators"]
    assert [run["operator"] for run in result["runs"]] == ["none", *recorded["operators"]]
    assert result["runs"][0]["requests"] > 0
    if markers == "chapter8":
        assert len(result["items"]) + len(result["excluded"]) == 24   # chapter 8's items
    for entry in result["items"].values():
        assert set(entry["operators"]) == set(recorded["operators"])
        assert {o["status"] for o in entry["operators"].values()} <= set(report.SYMBOLS)
    assert "chapter  detected/applicable" in done.stdout
