"""One truth in every output: an evaluation with every verdict, and terminal, JSON, JUnit,
Allure and HTML agree item by item and test by test (README "Verdicts in every output")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.outcome import PRESENTATION, presentation_key
from pytest_sca.verdicts import Verdict

CHECKS = """
import pytest


@pytest.mark.clause("6.1.a")
def test_pass(sca):
    sca.measure("latency_p50", 0.25, "s", threshold=1.0, comparison="<=",
                threshold_source="target capabilities.latency")


@pytest.mark.clause("6.1.b")
def test_fail():
    assert False, "[6.1.b] quota not enforced"


@pytest.mark.clause("6.1.c")
def test_error():
    raise RuntimeError("POST /api/v1/jobs answered 503")


@pytest.mark.clause("6.2.a")
def test_not_assessed(sca):
    sca.not_assessed("the target declares no accelerator inventory")


@pytest.mark.clause("10.2.a")
def test_manual_pass(sca):
    sca.not_assessed("physical security has no API")


@pytest.mark.clause("6.2.b")
def test_manual_fail_from_setup(jobs):
    pass


@pytest.mark.clause("6.3.a")
def test_waived_failure():
    assert False, "[6.3.a] no preset images"


@pytest.mark.clause("6.3.b")
def test_waived_error():
    raise RuntimeError("registry answered 502")


@pytest.mark.clause("6.2.f")
@pytest.mark.parametrize("node", ["a", "b"])
def test_two_nodes(node, sca):
    sca.measure("mount_latency", 0.5 if node == "a" else 3.0, "s")
    assert node != "b", "[6.2.f] node b has no mount"
"""

TARGET = """
name: agreement
evaluation: {laboratory: Test Lab, evaluator: Li Ming, approver: Zhang Wei}
evidence:
  "10.2.a": {verdict: pass, reviewer: Wang Fang, date: 2026-10-30, document: "audit 3.2"}
  "6.2.b": {verdict: fail, reviewer: Wang Fang, date: 2026-10-30, document: "site visit 4"}
waivers:
  "6.3.a": {reason: "images come from the customer's registry", expires: 2099-12-31}
  "6.3.b": {reason: "registry migration until Q1", expires: 2099-12-31}
"""

#: Item → its verdict: every verdict of the standard, manual both ways.
EXPECTED = {"6.1.a": "pass", "6.1.b": "fail", "6.1.c": "error", "6.2.a": "not_assessed",
            "10.2.a": "manual", "6.2.b": "manual", "6.3.a": "waived", "6.3.b": "waived",
            "6.2.f": "fail"}
_WORST_SHOWN = ("fail", "error", "not_assessed", "manual", "waived", "pass")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One evaluation with every verdict, every output written (run once for the module)."""
    folder = tmp_path_factory.mktemp("agreement")
    (folder / "target.yaml").write_text(TARGET, encoding="utf-8")
    (folder / "checks").mkdir()
    (folder / "checks" / "test_checks.py").write_text(CHECKS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--sca-target=target.yaml", "checks", "-v", "-rA",
         "-p", "no:cacheprovider", "--junitxml=junit.xml", "--alluredir=allure",
         "--sca-json=report.json", "--sca-html=report.html"],
        cwd=folder, capture_output=True, text=True, timeout=600)
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return {"folder": folder, "ret": done.returncode, "out": done.stdout, "report": report}


def _tests(report: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {t["nodeid"]: (item, t) for item in report["items"] for t in item["tests"]}


def _junit_cases(folder: Path) -> dict[str, ET.Element]:
    root = ET.parse(folder / "junit.xml").getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def _properties(element: ET.Element) -> dict[str, str]:
    node = element.find("properties")
    return {} if node is None else {p.get("name", ""): p.get("value", "")
                                    for p in node.findall("property")}


def _allure_results(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in (folder / "allure").glob("*-result.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        labels = {label["name"]: label["value"] for label in result["labels"]}
        found[labels["sca_test"]] = result
    return found


@pytest.mark.slow
def test_every_verdict_is_in_the_evaluation(run: dict[str, Any]) -> None:
    items = {i["id"]: i["verdict"] for i in run["report"]["items"]}
    assert items == EXPECTED
    assert {v.value for v in Verdict} <= set(items.values())
    assert run["ret"] == 1


def test_an_item_shows_the_worst_of_its_tests(run: dict[str, Any]) -> None:
    for item in run["report"]["items"]:
        shown = [t["verdict"] for t in item["tests"]]
        assert item["verdict"] == next(v for v in _WORST_SHOWN if v in shown), item["id"]


def test_terminal_agrees_test_by_test(run: dict[str, Any]) -> None:
    out = run["out"]
    for nodeid, (item, test) in _tests(run["report"]).items():
        entry = PRESENTATION[presentation_key(test["verdict"], test["conformant"])]
        assert re.search(rf"^{re.escape(nodeid)} {entry.word} {re.escape(item['id'])}\b", out,
                         re.MULTILINE), (nodeid, entry.word)
    summary = out.strip().splitlines()[-1]
    for words in ("2 failed", "1 error", "1 not_assessed", "2 manual", "2 waived", "2 passed"):
        assert words in summary, summary
    assert not re.search(r"^FAILED .*test_waived", out, re.MULTILINE)


def test_junit_agrees_test_by_test(run: dict[str, Any]) -> None:
    cases = _junit_cases(run["folder"])
    for nodeid, (item, test) in _tests(run["report"]).items():
        case = cases[nodeid.split("::")[-1]]
        properties = _properties(case)
        assert properties["sca_clause"] == item["id"]
        assert properties["sca_verdict"] == test["verdict"]
        assert properties["sca_item_verdict"] == item["verdict"]
        assert properties["sca_automated_verdict"] == test["outcome"]
        wanted = PRESENTATION[presentation_key(test["verdict"], test["conformant"])].junit
        elements = {child.tag for child in case} - {"properties", "system-out", "system-err"}
        assert elements == ({wanted} if wanted else set()), (nodeid, elements)
    suite = next(run_root for run_root in ET.parse(run["folder"] / "junit.xml").getroot()
                 .iter("testsuite"))
    suite_properties = _properties(suite)
    assert float(suite_properties["sca_score"]) == pytest.approx(
        run["report"]["overall"]["score"])
    assert suite_properties["sca_partial"] == "true"
    measured = [p.get("value") for p in cases["test_pass"].iter("property")
                if p.get("name") == "sca_measurement"]
    assert measured == ["latency_p50: 0.25 s (threshold ≤ 1 s, target capabilities.latency)"]


def test_allure_agrees_test_by_test(run: dict[str, Any]) -> None:
    results = _allure_results(run["folder"])
    for nodeid, (item, test) in _tests(run["report"]).items():
        result = results[nodeid]
        key = presentation_key(test["verdict"], test["conformant"])
        assert result["status"] == PRESENTATION[key].allure, nodeid
        assert result["statusDetails"]["message"].startswith(key), nodeid
        labels = {label["name"]: label["value"] for label in result["labels"]}
        assert labels["sca_verdict"] == item["verdict"]
        assert labels["sca_test_verdict"] == test["verdict"]
    parameters = {p["name"]: p["value"] for p in results["checks/test_checks.py::test_pass"]
                  ["parameters"]}
    assert parameters["sca measurement latency_p50"] == "0.25 s (threshold ≤ 1 s, target " \
        "capabilities.latency)"
    executor = json.loads((run["folder"] / "allure" / "executor.json").read_text())
    assert "score" in executor["reportName"] and "partial evaluation" in executor["reportName"]


def test_html_agrees_item_by_item(run: dict[str, Any]) -> None:
    page = (run["folder"] / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    for item in run["report"]["items"]:
        match = re.search(rf'<article class="item" id="item-{re.escape(item["id"])}">.*?'
                          r'<span class="badge"[^>]*>([^<]+)</span>', page, re.DOTALL)
        assert match is not None, item["id"]
        assert match.group(1) == item["verdict"].replace("_", " "), item["id"]


def test_waived_is_failed_nowhere(run: dict[str, Any]) -> None:
    folder = run["folder"]
    cases = _junit_cases(folder)
    results = _allure_results(folder)
    for name in ("test_waived_failure", "test_waived_error"):
        assert cases[name].find("failure") is None and cases[name].find("error") is None
        assert cases[name].find("skipped") is not None
        assert results[f"checks/test_checks.py::{name}"]["status"] == "skipped"
        line = next(x for x in run["out"].splitlines() if x.startswith(f"checks/test_checks.py::"
                                                                       f"{name} "))
        assert "WAIVED" in line and "FAILED" not in line


def test_the_mapping_table_is_the_readme_table() -> None:
    """README "Verdicts in every output" prints PRESENTATION, row by row."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    lines = readme.split("### Verdicts in every output", 1)[1].splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        table.append(line)
    rows = [[cell.strip(" `") for cell in line.strip("|").split("|")] for line in table]
    documented = {row[0]: row[1:5] for row in rows}
    assert set(documented) == set(PRESENTATION)
    for key, entry in PRESENTATION.items():
        junit = f"<{entry.junit}>" if entry.junit else "(passed testcase)"
        assert documented[key] == [entry.pytest, junit, entry.allure, entry.letter], key
