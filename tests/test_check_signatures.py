"""Every shipped check states what it asks for: each parameter has a type, never ``Any``.

A check's parameters are its capabilities and fixtures (issue 11): their Protocols are what
mypy and the capability contract test hold adapters to, so an untyped parameter is a check
that nothing holds to the contract.
"""

from __future__ import annotations

import ast
from pathlib import Path

SUITES = Path(__file__).resolve().parents[1] / "pytest_sca" / "suites"


def _untyped() -> list[str]:
    found = []
    for path in sorted(SUITES.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not node.name.startswith("test_"):
                continue
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                if annotation in ("", "Any", "typing.Any"):
                    found.append(f"{path.relative_to(SUITES)}::{node.name}({arg.arg}: "
                                 f"{annotation or 'no type'})")
    return found


def test_every_check_parameter_is_typed() -> None:
    assert not _untyped(), "untyped check parameters:\n" + "\n".join(_untyped())
