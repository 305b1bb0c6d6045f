"""Run the shipped checks as an evaluator does — ``pytest --sca-target=…`` in a subprocess —
and read the JSON report back. The sandbox's fault matrix, the emulated Kubernetes cluster
and the Slurm cluster all evaluate through here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def evaluate_target(folder: Path, target: str | Path, items: Iterable[str] | None = None, *,
                    env: Mapping[str, str] | None = None, extra: Iterable[str] = (),
                    plugins: Iterable[str] = (), timeout: float = 900) -> dict[str, Any]:
    """``pytest --sca-target=TARGET`` on ``items`` (every item when None), run in ``folder``;
    the JSON report. A run that ends other than pass/fail (0/1) fails the calling test with
    the run's output.

    Only the plugin under test is loaded (``-p pytest_sca.plugin``, no entry-point plugins):
    the environment's other pytest plugins (hypothesis through schemathesis, allure, anyio…)
    cost ~2 s of imports in every child run, and the suite starts hundreds of them. A run
    that needs one names it in ``plugins`` (``allure_pytest.plugin`` for ``--alluredir``).
    """
    report = folder / "report.json"
    selection = ["-m", " or ".join(f"clause(id='{i}')" for i in sorted(items))] \
        if items is not None else []
    command = [sys.executable, "-m", "pytest", "-p", "pytest_sca.plugin",
               *(arg for plugin in plugins for arg in ("-p", plugin)),
               f"--sca-target={target}", "-p", "no:cacheprovider", *selection,
               f"--sca-json={report}", *extra]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            timeout=timeout,
                            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                                 **(env or {})})
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(report.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def verdicts(report: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Item id → (verdict, reason) of a JSON report."""
    return {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]}
