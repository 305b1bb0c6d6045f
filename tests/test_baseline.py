"""Nightly regression: the comparison with a baseline shows measurement drift within the
target file's bands, items missing from the new run, the targets' identity, and
`--sca-fail-on=regression` exits 1 only on new failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import read_report, write_checks

CHECKS = """
import os
import pytest

@pytest.mark.clause("6.1.a")
def test_a(sca):
    sca.measure("throughput", float(os.environ["THROUGHPUT"]), "GFLOP/s", threshold=10,
                comparison=">=")
    sca.measure("latency", float(os.environ["LATENCY"]), "s", threshold=1, comparison="<=")
    sca.measure("steps", float(os.environ.get("STEPS", "100")), "count")

@pytest.mark.clause("6.1.b")
def test_b():
    assert os.environ.get("BROKEN_B") != "1", "[6.1.b] quota broken"

@pytest.mark.clause("6.1.c")
def test_c():
    assert os.environ.get("BROKEN_C") != "1", "[6.1.c] storage broken"
"""

TARGET = """
name: nightly
baseline:
  drift_band: 0.10
  drift_bands: {latency: 0.5}
"""


@pytest.fixture
def night1(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_checks(pytester, CHECKS)
    pytester.makefile(".yaml", target=TARGET)
    monkeypatch.setenv("THROUGHPUT", "100")
    monkeypatch.setenv("LATENCY", "0.2")
    monkeypatch.setenv("BROKEN_B", "1")
    pytester.runpytest("--sca-target=target.yaml", "checks", "--sca-json=night1.json",
                       "-p", "no:cacheprovider")
    return pytester.path / "night1.json"


def test_drift_missing_items_and_the_html_section(pytester: pytest.Pytester, night1: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THROUGHPUT", "80")   # -20 %, band 10 %, higher is better: worse
    monkeypatch.setenv("LATENCY", "0.26")    # +30 %, band 50 %: within
    monkeypatch.setenv("STEPS", "150")       # +50 %, no direction: changed
    result = pytester.runpytest("--sca-target=target.yaml", "checks",
                                "--deselect", "checks/test_checks.py::test_c",
                                "--sca-json=night2.json", "--sca-baseline=night1.json",
                                "--sca-html=night2.html", "-p", "no:cacheprovider")
    section = read_report(pytester, "night2.json")["baseline"]
    drift = {d["name"]: d for d in section["drift"]}
    assert (drift["throughput"]["status"], drift["throughput"]["band"]) == ("worse", 0.10)
    assert drift["throughput"]["change"] == pytest.approx(-0.2)
    assert (drift["latency"]["status"], drift["latency"]["band"]) == ("within", 0.5)
    assert drift["steps"]["status"] == "changed"
    assert section["missing"] == ["6.1.c"]
    assert section["identity"]["same_target"] and section["identity"]["warnings"] == []
    result.stdout.fnmatch_lines([
        "*changes since run *",
        "MISSING     1 item(s) of the baseline are not in this run: 6.1.c",
        "DRIFT WORSE 6.1.a     throughput: 100 GFLOP/s -> 80 GFLOP/s (-20.0%, band ±10%)",
    ])
    page = (pytester.path / "night2.html").read_text(encoding="utf-8")
    assert 'id="baseline"' in page and "Since the baseline" in page
    assert "Missing from this run" in page and "throughput" in page


def test_fail_on_regression_counts_only_new_failures(pytester: pytest.Pytester, night1: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    old_failure_only = pytester.runpytest(
        "--sca-target=target.yaml", "checks", "--sca-json=n2.json", "--sca-baseline=night1.json",
        "--sca-fail-on=regression", "-p", "no:cacheprovider")
    report = read_report(pytester, "n2.json")
    assert not report["overall"]["conformant"] and report["baseline"]["new_failures"] == []
    assert old_failure_only.ret == 0
    monkeypatch.setenv("BROKEN_C", "1")
    new_failure = pytester.runpytest(
        "--sca-target=target.yaml", "checks", "--sca-json=n3.json", "--sca-baseline=night1.json",
        "--sca-fail-on=regression", "-p", "no:cacheprovider")
    assert read_report(pytester, "n3.json")["baseline"]["new_failures"] == ["6.1.c"]
    assert new_failure.ret == 1
    default = pytester.runpytest("--sca-target=target.yaml", "checks",
                                 "--sca-json=n4.json", "-p", "no:cacheprovider")
    assert default.ret == 1  # without the option: any non-conformance
    no_baseline = pytester.runpytest("--sca-target=target.yaml", "checks",
                                     "--sca-fail-on=regression")
    assert no_baseline.ret == pytest.ExitCode.USAGE_ERROR
    no_baseline.stderr.fnmatch_lines(["ERROR: --sca-fail-on=regression needs --sca-baseline*"])


def test_another_target_warns_and_another_edition_is_refused(
        pytester: pytest.Pytester, night1: Path) -> None:
    pytester.makefile(".yaml", other="name: another\n")
    result = pytester.runpytest("--sca-target=other.yaml", "checks", "--sca-json=n2.json",
                                "--sca-baseline=night1.json", "-p", "no:cacheprovider")
    warnings = read_report(pytester, "n2.json")["baseline"]["identity"]["warnings"]
    assert any("is of target 'nightly', this run of 'another'" in w for w in warnings)
    assert any("the target file changed since the baseline" in w for w in warnings)
    result.stdout.fnmatch_lines(["WARNING: the baseline is of target 'nightly'*"])
    data = json.loads(night1.read_text(encoding="utf-8"))
    data["standard"]["edition"] = "saia-aicloud-2026-01-01"
    (pytester.path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    refused = pytester.runpytest("--sca-target=target.yaml", "checks",
                                 "--sca-baseline=old.json")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["ERROR: --sca-baseline: old.json: the baseline evaluated "
                                  "edition saia-aicloud-2026-01-01, this run *"])
