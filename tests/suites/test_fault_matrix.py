"""Every shipped check passes on the healthy sandbox and fails under the fault that breaks it.

"A check must be able to fail": each clause item with a check has an entry in
``BREAKS`` naming the sandbox fault (a behaviour, never a clause) under which
the check must give ``fail`` with a reason naming what was observed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_sca.catalog import load_catalog
from pytest_sca.collection import SUITES_ROOT

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "6.1.a": ("cross_tenant_read", "tenant B's user could get the job"),
    "6.1.b": ("quota_not_enforced", "quota 1 accelerator not enforced"),
    "6.1.c": ("readonly_role_can_write", "a read-only user could submit a job"),
}


def _checked_items() -> set[str]:
    """Clause ids named by @pytest.mark.clause in the shipped suites (read, not imported)."""
    found: set[str] = set()
    for path in SUITES_ROOT.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "clause"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(str(node.args[0].value))
    return found


def test_every_check_names_a_catalogue_item_and_has_a_breaking_fault() -> None:
    checked = _checked_items()
    catalog = load_catalog()
    assert checked <= {c.id for c in catalog}
    assert checked == set(BREAKS), "each check needs a fault that shows it failing"


def test_suite_files_follow_the_subdomain_layout() -> None:
    for path in SUITES_ROOT.rglob("test_*.py"):
        chapter = int(path.parent.name.removeprefix("chapter").split("_")[0])
        assert path.name.startswith(f"test_{chapter}_"), path


@pytest.fixture(scope="module")
def healthy_report(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    return _evaluate(tmp_path_factory.mktemp("healthy"), ())


def _evaluate(folder: Path, faults: tuple[str, ...], items: set[str] | None = None
              ) -> dict:  # type: ignore[type-arg]
    selection = " or ".join(f"clause(id='{i}')" for i in sorted(items or BREAKS))
    command = [sys.executable, "-m", "pytest", "--sca-target=sandbox", "-p", "no:cacheprovider",
               "-m", selection, "--sca-json=report.json",
               *(f"--sca-sandbox-fault={f}" for f in faults)]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_every_check_passes_on_the_healthy_sandbox(healthy_report: dict) -> None:  # type: ignore[type-arg]
    verdicts = {i["id"]: (i["verdict"], i["reason"]) for i in healthy_report["items"]}
    assert verdicts == {item: ("pass", "") for item in BREAKS}


@pytest.mark.parametrize("item", sorted(BREAKS))
def test_check_fails_under_its_fault(item: str, tmp_path: Path) -> None:
    fault, words = BREAKS[item]
    report = _evaluate(tmp_path, (fault,), {item})
    entry = next(i for i in report["items"] if i["id"] == item)
    assert entry["verdict"] == "fail", entry
    assert words in entry["reason"]
    assert entry["reason"].startswith(f"[{item}]")
