"""Scope is explicit: every output records the selection and says "partial evaluation — not a
grade" when a run does not cover the whole catalogue; inspection runs start and write nothing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import read_report, write_checks

CHECKS = """
import pytest

@pytest.mark.clause("6.1.a")
def test_a():
    pass

@pytest.mark.clause("6.1.b")
def test_b():
    assert False, "[6.1.b] quota not enforced"

@pytest.mark.clause("6.1.c")
def test_c():
    pass

@pytest.mark.clause("8.1.a")
def test_d():
    pass
"""

PARTIAL = "partial evaluation — not a grade"


def test_a_selection_is_partial_in_every_output(pytester: pytest.Pytester,
                                                target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    result = pytester.runpytest(f"--sca-target={target_file}", "checks", "-m", "chapter6",
                                "-p", "no:cacheprovider", "--junitxml=junit.xml",
                                "--alluredir=allure", "--sca-html=r.html")
    report = read_report(pytester)
    scope = report["scope"]
    assert not scope["complete"] and scope["items"] == 3 and scope["catalogue_items"] == 97
    assert scope["statement"] == f"{PARTIAL}: 3 of 97 items (-m chapter6; checks)"
    assert scope["selection"]["markexpr"] == "chapter6" and scope["chapters"] == [6]
    assert report["overall"]["grade"] == "-" and report["overall"]["grade_withheld"] == PARTIAL
    result.stdout.fnmatch_lines([f"no grade: {PARTIAL}: 3 of 97 items (-m chapter6; checks)"])
    suite = next(ET.parse(pytester.path / "junit.xml").getroot().iter("testsuite"))
    properties = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert properties["sca_partial"] == "true" and PARTIAL in properties["sca_scope"]
    assert properties["sca_selection"] == "-m chapter6; checks"
    executor = json.loads((pytester.path / "allure" / "executor.json").read_text())
    assert PARTIAL in executor["reportName"]
    environment = (pytester.path / "allure" / "environment.properties").read_text()
    assert "sca.scope=partial evaluation" in environment
    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert f"{PARTIAL}: 3 of 97 items (-m chapter6; checks)" in page
    assert "no grade: partial evaluation" in page


def test_a_run_stopped_by_x_says_what_did_not_run(pytester: pytest.Pytester,
                                                  target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    pytester.runpytest(f"--sca-target={target_file}", "checks", "-x", "-p", "no:cacheprovider")
    scope = read_report(pytester)["scope"]
    assert not scope["complete"]
    assert scope["selection"]["maxfail"] == 1 and scope["selection"]["not_run_tests"] == 2
    assert scope["selection"]["stopped"].startswith("stopping after 1 failures")
    assert "-x" in scope["statement"] and "2 selected check(s) did not run" in scope["statement"]
    assert read_report(pytester)["overall"]["grade"] == "-"


def test_last_failed_is_recorded(pytester: pytest.Pytester, target_file: Path) -> None:
    write_checks(pytester, CHECKS)
    pytester.runpytest(f"--sca-target={target_file}", "checks")
    pytester.runpytest(f"--sca-target={target_file}", "checks", "--lf")
    report = read_report(pytester)
    assert [i["id"] for i in report["items"]] == ["6.1.b"]
    assert report["scope"]["selection"]["last_failed"] is True
    assert "--lf" in report["scope"]["statement"] and report["overall"]["grade"] == "-"


@pytest.mark.slow
def test_the_whole_catalogue_is_a_whole_evaluation(pytester: pytest.Pytester,
                                                   target_file: Path) -> None:
    result = pytester.runpytest(f"--sca-target={target_file}", "-p", "no:cacheprovider")
    report = read_report(pytester)
    assert report["scope"]["complete"] and report["scope"]["missing"] == []
    assert report["scope"]["statement"] == "whole evaluation: all 97 items of the catalogue"
    assert report["overall"]["grade"] != "-" and report["overall"]["grade_withheld"] is None
    result.stdout.fnmatch_lines(["grade: * (provisional scheme *); whole evaluation: all 97 *"])


def test_collect_only_starts_nothing_and_writes_nothing(pytester: pytest.Pytester) -> None:
    """`--collect-only` against the sandbox starts no sandbox, runs no preflight, leaves no
    report and exits as pytest's own collection does."""
    result = pytester.runpytest_subprocess("--sca-target=sandbox", "--collect-only", "-q",
                                           "-m", "chapter10", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "sandbox started" not in out and "sca evaluation" not in out
    assert not (pytester.path / "reports").exists()
    assert "chapter10_security/test_10_" in out


def test_collect_only_against_a_dead_target_runs_no_preflight(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", dead="name: dead\nadapters:\n  platform: {url: "
                                    "'http://127.0.0.1:9/'}\n")
    result = pytester.runpytest("--sca-target=dead.yaml", "--collect-only", "-q",
                                "-m", "chapter6", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert not (pytester.path / "reports").exists()
