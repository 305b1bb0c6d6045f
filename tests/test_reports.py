"""Reports: the JSON report against its schema, xdist equality, Allure labels, no secrets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_sca.reporting.json_report import schema

from .conftest import read_report, write_checks

CHECKS = """
import logging

import pytest


@pytest.mark.clause("6.1.a")
def test_pass(sca):
    sca.evidence("tenants", {"items": ["a", "b"]})
    sca.measure("latency_p50", 0.25, "s", threshold=1.0, comparison="<=",
                threshold_source="target capabilities.latency")


@pytest.mark.clause("6.1.b")
def test_fail():
    assert False, "[6.1.b] quota not enforced"


@pytest.mark.clause("8.2.b")
@pytest.mark.parametrize("n", range(4))
def test_many(n):
    assert n < 3, f"[8.2.b] stream {n} never ended"


@pytest.mark.clause("6.3.d")
def test_may(sca):
    sca.not_assessed("no lazy-pull mechanism declared")
"""


def _normalised(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what legitimately differs between two runs (times, run id, how
    the checks were distributed)."""
    data = json.loads(json.dumps(report))
    data["run"].pop("started"), data["run"].pop("finished"), data["run"].pop("id")
    data["run"].pop("workers"), data["run"].pop("ran_alone")
    for item in data["items"]:
        for test in item["tests"]:
            test.pop("duration")
    return data


def test_json_report_is_valid_against_its_schema(pytester: pytest.Pytester,
                                                 target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    pytester.runpytest(f"--sca-target={target_file}", "checks", "--sca-json=out/r.json")
    report = read_report(pytester, "out/r.json")
    jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker()
                                    ).validate(report)
    assert report["target"]["name"] == "demo"
    assert report["overall"]["grade_status"] == "provisional"
    items = {i["id"]: i for i in report["items"]}
    assert items["6.1.a"]["measurements"][0]["value"] == 0.25
    assert items["6.1.a"]["evidence"][0]["content"].startswith("{")
    assert {d["id"] for d in report["domains"]} == {"scheduling", "application"}


@pytest.mark.slow
def test_full_evaluation_report_lists_every_item(pytester: pytest.Pytester,
                                                 target_file: Path) -> None:
    pytester.runpytest(f"--sca-target={target_file}")
    report = read_report(pytester)
    jsonschema.validate(report, schema())
    assert len(report["items"]) == 97
    assert report["overall"]["items"] == 97


@pytest.mark.slow
def test_parallel_run_gives_the_same_report(pytester: pytest.Pytester, target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    serial = pytester.runpytest_subprocess(f"--sca-target={target_file}", "-m", "chapter6 or "
                                           "chapter8", "--sca-json=serial.json")
    parallel = pytester.runpytest_subprocess(f"--sca-target={target_file}", "-m", "chapter6 or "
                                             "chapter8", "--sca-json=parallel.json", "-n", "2")
    assert serial.ret == parallel.ret == 1
    assert "2 workers" in parallel.stdout.str()
    one, two = read_report(pytester, "serial.json"), read_report(pytester, "parallel.json")
    assert len(one["items"]) == 62
    assert _normalised(one) == _normalised(two)


def test_allure_results_carry_the_catalogue_labels(pytester: pytest.Pytester,
                                                   target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    pytester.runpytest(f"--sca-target={target_file}", "checks", "--alluredir=allure-results")
    results = [json.loads(p.read_text(encoding="utf-8"))
               for p in (pytester.path / "allure-results").glob("*-result.json")]
    by_story = {}
    for result in results:
        labels = {(lab["name"], lab["value"]) for lab in result["labels"]}
        story = next(v for k, v in labels if k == "story")
        by_story[story.split()[0]] = (result, labels)
    passed, labels = by_story["6.1.a"]
    assert ("epic", "6 资源调度及管理 Resource scheduling and management") in labels
    assert ("feature", "6.1 多租户管理 Multi-tenant management") in labels
    assert ("severity", "critical") in labels
    assert "应支持创建多个租户" in passed["description"]
    assert passed["status"] == "passed"
    assert any(a["name"] == "tenants" for a in passed.get("attachments", []))
    assert ("severity", "minor") in by_story["6.3.d"][1]
    assert by_story["6.3.d"][0]["status"] == "skipped"
    env = (pytester.path / "allure-results" / "environment.properties").read_text()
    assert "sca.target=demo" in env and "sca.standard=saia-aicloud-2025-04-29" in env


CANARY_TOKEN = "canary-TOKEN-7f3a9c51e2"
CANARY_KEY = "canary-KEY-b81d44aa09"

LEAKY_CHECKS = """
import logging
import os

import pytest


@pytest.mark.clause("6.1.a")
def test_leaks_everywhere(sca):
    token = sca.target.adapters["platform"].token
    print("stdout says", token)
    logging.getLogger("sca.test").warning("log says %s", token)
    sca.evidence("request", {"Authorization": "Bearer " + token})
    assert token == "something else", f"token was {token}"


@pytest.mark.clause("6.1.b")
def test_raises_with_secret(sca):
    raise RuntimeError("connect failed with key " + os.environ["CANARY_KEY"])
"""


def test_canary_secrets_appear_in_no_output(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".yaml", target="name: canary\nadapters:\n  platform:\n"
                      "    url: http://127.0.0.1:9/\n    token: ${CANARY_TOKEN}\n"
                      "capabilities:\n  workflows:\n    environment: ${CANARY_KEY}\n")
    write_checks(pytester, LEAKY_CHECKS)
    monkeypatch.setenv("CANARY_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("CANARY_KEY", CANARY_KEY)
    # The platform is dead: without --sca-preflight=off the run would end before the checks
    # (test_canary_secrets_appear_in_no_preflight_output covers that path).
    result = pytester.runpytest_subprocess(
        "--sca-target=target.yaml", "checks", "--alluredir=allure", "--junitxml=junit.xml",
        "-rA", "-l", "--log-cli-level=WARNING", "--sca-json=report.json", "--sca-html=r.html",
        "-o", "junit_logging=all", "--sca-preflight=off")
    outputs = {"terminal": result.stdout.str() + result.stderr.str()}
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".yaml", ".pyc"):
            outputs[str(path.relative_to(pytester.path))] = path.read_text(errors="replace")
    assert "junit.xml" in outputs and "report.json" in outputs and "r.html" in outputs
    assert any(name.startswith("allure") for name in outputs)
    for name, text in outputs.items():
        assert CANARY_TOKEN not in text, f"token leaked into {name}"
        assert CANARY_KEY not in text, f"key leaked into {name}"
    assert "***" in outputs["report.json"] and "***" in outputs["junit.xml"]
    assert "stdout says ***" in outputs["junit.xml"]


@pytest.mark.slow
def test_canary_secrets_appear_in_no_preflight_output(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead target: the run ends at its preflight (exit 6) with a report of every item
    not evaluated, and neither that message, the report nor `doctor` (text or JSON) shows a
    secret, even one a server would echo in a URL."""
    pytester.makefile(".yaml", target="name: canary\nadapters:\n  platform:\n"
                      "    url: http://127.0.0.1:9/${CANARY_KEY}/\n    token: ${CANARY_TOKEN}\n"
                      "  openai: {base_url: 'http://127.0.0.1:9/v1', api_key: '${CANARY_KEY}'}\n")
    write_checks(pytester, LEAKY_CHECKS)
    monkeypatch.setenv("CANARY_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("CANARY_KEY", CANARY_KEY)
    run = pytester.runpytest_subprocess("--sca-target=target.yaml", "checks")
    assert run.ret == 6
    doctor = pytester.run(sys.executable, "-m", "pytest_sca", "doctor", "target.yaml")
    as_json = pytester.run(sys.executable, "-m", "pytest_sca", "doctor", "target.yaml", "--json")
    assert doctor.ret == as_json.ret == 6
    for result in (run, doctor, as_json):
        text = result.stdout.str() + result.stderr.str()
        assert "cannot be evaluated" in text or '"usable": false' in text
        assert CANARY_TOKEN not in text and CANARY_KEY not in text
    for written in (pytester.path / "reports").rglob("*"):
        if written.is_file():
            text = written.read_text(errors="replace")
            assert CANARY_TOKEN not in text and CANARY_KEY not in text, written


def test_html_report_shows_every_item_escaped(pytester: pytest.Pytester,
                                             target_file: Path) -> None:
    write_checks(pytester, CHECKS + """

@pytest.mark.clause("6.3.a")
def test_markup(sca):
    sca.evidence("listing", "<script>alert(1)</script>")
    assert False, "[6.3.a] preset image <b>none</b>"
""")
    pytester.runpytest(f"--sca-target={target_file}", "checks", "--sca-html=out/r.html")
    page = (pytester.path / "out" / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for item in ("6.1.a", "6.1.b", "8.2.b", "6.3.d", "6.3.a"):
        assert f'id="item-{item}"' in page and f"href='#item-{item}'" in page
    assert "应支持创建多个租户" in page and "provisional" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;none&lt;/b&gt;" in page
    assert "latency_p50: 0.25 s (threshold ≤ 1 s, target capabilities.latency)" in page
    # summary first, then scope, laboratory, scores (two inline SVG charts), items
    order = [page.index(f'id="{anchor}"') for anchor in
             ("summary", "contents", "scope", "laboratory", "scores", "items")]
    assert order == sorted(order) and page.count("<svg") == 2
    assert page.count('class="derived"') == sum(
        1 for i in read_report(pytester)["items"] if i["source"] == "derived")
    # a saved report renders again from the command line
    again = pytester.run(sys.executable, "-m", "pytest_sca", "html",
                         str(pytester.path / "reports" / "sca-report.json"), "again.html")
    assert again.ret == 0 and (pytester.path / "again.html").read_text() == page


def test_baseline_lists_regressions_first(pytester: pytest.Pytester, target_file: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    checks = """
import os
import pytest

@pytest.mark.clause("6.1.a")
def test_a():
    assert os.environ.get("BROKEN") != "a", "[6.1.a] isolation broken"

@pytest.mark.clause("6.1.b")
def test_b():
    assert os.environ.get("BROKEN") != "b", "[6.1.b] quota broken"
"""
    write_checks(pytester, checks)
    monkeypatch.setenv("BROKEN", "b")
    pytester.runpytest(f"--sca-target={target_file}", "checks", "--sca-json=night1.json")
    monkeypatch.setenv("BROKEN", "a")
    result = pytester.runpytest(f"--sca-target={target_file}", "checks",
                                "--sca-json=night2.json", "--sca-baseline=night1.json")
    report = read_report(pytester, "night2.json")
    jsonschema.validate(report, schema())
    assert [(c["id"], c["kind"], c["before"], c["after"]) for c in
            report["baseline"]["changes"]] == [("6.1.a", "regression", "pass", "fail"),
                                               ("6.1.b", "improvement", "fail", "pass")]
    result.stdout.fnmatch_lines(["*changes since run *",
                                 "REGRESSION  6.1.a     pass -> fail*isolation broken",
                                 "IMPROVEMENT 6.1.b     fail -> pass*"])
    (pytester.path / "junk.json").write_text("[]")
    bad = pytester.runpytest(f"--sca-target={target_file}", "checks", "--sca-baseline=junk.json")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --sca-baseline: junk.json: not a pytest-sca JSON report*"])
