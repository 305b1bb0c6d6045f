"""Fixtures of the project's own tests."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: The slowest tests the project's own test run lists at its end (CI's log shows them: the
#: suite's time is an open goal, and this is where it goes). ``--durations`` overrides it.
SLOWEST_SHOWN = 30


def pytest_configure(config: pytest.Config) -> None:
    """List the slowest tests at the end of the project's test run."""
    if config.option.durations is None:
        config.option.durations = SLOWEST_SHOWN


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
