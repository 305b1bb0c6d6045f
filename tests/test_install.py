"""A non-editable install, run from another directory, carries the catalogue and the suites."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What the plugin imports when pytest loads it; the transports are imported only when used.
LIGHT_DEPENDENCIES = ["pytest", "pyyaml", "pydantic", "requests", "allure-pytest"]


def _run(*command: str | Path, cwd: Path, timeout: float = 300) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode in (0, 1), f"{command}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with pytest-sca installed from a wheel of this checkout."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "*.egg-info", "build", "dist", "__pycache__", "reports", ".*cache"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", source,
         cwd=work)
    wheel = next((work / "dist").glob("pytest_sca-*.whl"))
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=work)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=work)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", *LIGHT_DEPENDENCIES, cwd=work)
    return venv


@pytest.mark.slow
def test_wheel_carries_catalogue_and_suites(installed: Path, tmp_path: Path) -> None:
    out = _run(installed / "bin" / "python", "-c",
               "import pytest_sca.collection as c, pytest_sca.catalog as k;"
               "print(c.SUITES_ROOT); print(k.catalog_path())", cwd=tmp_path)
    suites, catalog = (Path(line) for line in out.split())
    assert installed in suites.parents and installed in catalog.parents
    assert catalog.is_file() and (suites / "chapter06_scheduling" / "__init__.py").is_file()


@pytest.mark.slow
def test_evaluation_from_another_directory_runs_the_shipped_suites(installed: Path,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "mycloud.yaml").write_text("name: elsewhere\n", encoding="utf-8")
    out = _run(installed / "bin" / "pytest", "--sca-target=mycloud.yaml", "-m", "chapter7",
               "-p", "no:cacheprovider", cwd=tmp_path)
    assert "sca evaluation: elsewhere" in out
    report = json.loads((tmp_path / "reports" / "sca-report.json").read_text(encoding="utf-8"))
    assert [i["chapter"] for i in report["items"]] == [7] * 15
    listing = _run(installed / "bin" / "pytest", "--sca-list", "-p", "no:cacheprovider",
                   cwd=tmp_path)
    assert "97 items" in listing
    covered = next(line for line in listing.splitlines() if line.strip().startswith("6.1.a"))
    assert "1 check(s)" in covered, covered
    assert "test_6_01_tenancy.py::test_tenants_are_isolated" in listing
