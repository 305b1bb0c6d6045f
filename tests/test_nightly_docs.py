"""docs/nightly.md: its pipelines parse, their shell scripts parse, and each does the whole
nightly job (install, doctor, baseline, evaluation, JUnit, Allure with history, bundle)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

NIGHTLY = Path(__file__).parents[1] / "docs" / "nightly.md"


def _blocks(language: str) -> dict[str, str]:
    """Fenced blocks of a language, by the file name in their first comment line."""
    text = NIGHTLY.read_text(encoding="utf-8")
    found = {}
    for body in re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL):
        first = body.splitlines()[0]
        found[first.lstrip("# ").strip()] = body
    return found


def _scripts(document: Any) -> list[str]:
    """Every shell script of a pipeline (GitHub `run:`, GitLab script lists)."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "run" and isinstance(value, str):
                found.append(value)
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                found += [str(line) for line in value]
            else:
                found += _scripts(value)
    elif isinstance(document, list):
        for value in document:
            found += _scripts(value)
    return found


def _check_steps(text: str) -> None:
    for needed in ("python -m pip install", "python -m pytest_sca doctor",
                   "pytest --sca-target=", "--sca-baseline=", "--sca-fail-on=regression",
                   "--junitxml=reports/junit.xml", "--alluredir=allure-results",
                   "allure-results/history", "generate allure-results",
                   "python -m pytest_sca bundle"):
        assert needed in text, needed


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("name", [".github/workflows/sca-nightly.yml", ".gitlab-ci.yml"])
def test_pipeline_parses_and_its_scripts_parse(name: str) -> None:
    body = _blocks("yaml")[name]
    document = yaml.safe_load(body)
    scripts = _scripts(document)
    assert scripts
    for script in scripts:
        done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, (script, done.stderr)
    _check_steps("\n".join(scripts))


def test_github_workflow_shape() -> None:
    workflow = yaml.safe_load(_blocks("yaml")[".github/workflows/sca-nightly.yml"])
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["schedule"][0]["cron"]
    steps = workflow["jobs"]["evaluate"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert any(u.startswith("dawidd6/action-download-artifact@") for u in uses)
    assert any(u.startswith("mikepenz/action-junit-report@") for u in uses)
    uploads = {s["with"]["name"] for s in steps if s.get("uses", "").startswith(
        "actions/upload-artifact@")}
    downloads = {s["with"]["name"] for s in steps if s.get("uses", "").startswith(
        "dawidd6/action-download-artifact@")}
    assert downloads <= uploads  # tonight's artifacts are tomorrow's baseline and history


def test_gitlab_pipeline_shape() -> None:
    pipeline = yaml.safe_load(_blocks("yaml")[".gitlab-ci.yml"])
    job = pipeline["sca-nightly"]
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert job["artifacts"]["when"] == "always"
    assert set(pipeline["stages"]) == {job["stage"], pipeline["allure-report"]["stage"]}
    assert "job=sca-nightly" in "\n".join(job["script"])
    assert "job=allure-report" in "\n".join(pipeline["allure-report"]["script"])


def test_containerfile_installs_and_runs_pytest() -> None:
    body = _blocks("dockerfile")["Containerfile"]
    assert re.search(r"^FROM python:3\.\d+", body, re.MULTILINE)
    assert "pip install" in body and 'ENTRYPOINT ["pytest"]' in body


def test_the_latest_dependencies_job_installs_without_the_constraints() -> None:
    workflow = yaml.safe_load(_blocks("yaml")[".github/workflows/latest-dependencies.yml"])
    assert "schedule" in workflow[True]  # YAML 1.1 reads the key `on` as True
    scripts = "\n".join(_scripts(workflow))
    assert "-c constraints.txt" not in scripts and "--upgrade" in scripts
    assert "python -m pytest tests -n 4" in scripts
