"""Every shipped check names a catalogue item and has a fault that shows it failing.

"A check must be able to fail": each clause item with a check appears in the
``BREAKS`` table of its chapter's test module (``test_chapterNN.py``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from pytest_sca.catalog import load_catalog
from pytest_sca.collection import SUITES_ROOT


def _checked_items() -> set[str]:
    """Clause ids named by @pytest.mark.clause in the shipped suites (read, not imported)."""
    found: set[str] = set()
    for path in SUITES_ROOT.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "clause"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(str(node.args[0].value))
    return found


def _breaks() -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for path in sorted(Path(__file__).parent.glob("test_chapter*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        merged.update(module.BREAKS)
    return merged


def test_every_check_names_a_catalogue_item_and_has_a_breaking_fault() -> None:
    checked = _checked_items()
    assert checked <= {c.id for c in load_catalog()}
    missing = sorted(checked - set(_breaks()))
    assert not missing, f"these checks have no fault that shows them failing: {missing}"
    assert set(_breaks()) <= checked, "BREAKS names items that have no check"


def test_suite_files_follow_the_subdomain_layout() -> None:
    for path in SUITES_ROOT.rglob("test_*.py"):
        chapter = int(path.parent.name.removeprefix("chapter").split("_")[0])
        assert path.name.startswith(f"test_{chapter}_"), path
