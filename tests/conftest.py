"""Fixtures of the project's own tests."""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: The slowest tests the project's own test run lists at its end (CI's log shows them: the
#: suite's time is an open goal, and this is where it goes). ``--durations`` overrides it.
SLOWEST_SHOWN = 30


def pytest_configure(config: pytest.Config) -> None:
    """List the slowest tests at the end of the project's test run, and let the pytest runs
    the tests start in child processes cache their bytecode.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (containers set it so that nothing is written
    beside the sources), every child evaluation compiles and assertion-rewrites again the
    ~400 modules it imports (pytest-sca, its adapters, the sandbox): ~3 s of CPU each, and the
    suite starts hundreds. The children write their bytecode to a cache outside the tree
    instead (``PYTHONPYCACHEPREFIX``, shared by the xdist workers; Python and pytest replace
    a cached file atomically), so still nothing is written beside the sources. This process
    is already running and keeps its setting.
    """
    if config.option.durations is None:
        config.option.durations = SLOWEST_SHOWN
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        del os.environ["PYTHONDONTWRITEBYTECODE"]
        os.environ["PYTHONPYCACHEPREFIX"] = str(
            Path(tempfile.gettempdir()) / f"pytest-sca-pycache-{os.getuid()}")


MINIMAL_TARGET = "name: demo\n"


@pytest.fixture
def target_file(pytester: pytest.Pytester) -> Path:
    """A minimal valid target file (no adapters) in the pytester directory."""
    return pytester.makefile(".yaml", target=MINIMAL_TARGET)


def write_checks(pytester: pytest.Pytester, source: str, name: str = "checks/test_checks.py"
                 ) -> Path:
    """Write a file of checks under the pytester directory."""
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def read_report(pytester: pytest.Pytester, name: str = "reports/sca-report.json"
                ) -> dict[str, Any]:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    """Item id → verdict of a JSON report."""
    return {item["id"]: item["verdict"] for item in report["items"]}
