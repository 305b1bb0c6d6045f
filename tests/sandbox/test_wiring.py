"""The sandbox's wiring: no import cycles, the checker core never imports it, one composition
root, an explicit route table, faults tested through their registry.

The import graph is grimp's (import-linter's graph library) and includes imports made
only under ``TYPE_CHECKING``: the sandbox needs none to stay acyclic.
"""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import grimp
import pytest

import pytest_sca.sandbox
from pytest_sca.sandbox.api import ROUTES
from pytest_sca.sandbox.faults import Fault

SANDBOX = "pytest_sca.sandbox"
SANDBOX_DIR = Path(pytest_sca.sandbox.__file__).parent


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("pytest_sca", cache_dir=None)


def _sandbox_modules() -> list[str]:
    return sorted(m for m in _graph().modules if m == SANDBOX or m.startswith(SANDBOX + "."))


def _source_files() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SANDBOX_DIR.glob("*.py")):
        yield path.name, ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_sandbox_has_no_import_cycle() -> None:
    graph = _graph()
    cycles = []
    for importer in _sandbox_modules():
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if not imported.startswith(SANDBOX):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles in the sandbox:\n" + "\n".join(cycles)


def test_the_checker_core_never_imports_the_sandbox() -> None:
    graph = _graph()
    sandbox = set(_sandbox_modules())
    outside = sorted(m for m in graph.modules if m not in sandbox)
    offending = {m: sorted(graph.find_modules_directly_imported_by(m) & sandbox)
                 for m in outside}
    offending = {m: found for m, found in offending.items() if found}
    assert not offending, f"core modules import the sandbox (use pytest_sca.providers): {offending}"


def test_the_route_table_lists_every_route_module() -> None:
    on_disk = {f"{SANDBOX}.{m.name}" for m in pkgutil.iter_modules([str(SANDBOX_DIR)])
               if m.name.startswith("routes_")}
    tabled = [area.router.__module__ for area in ROUTES]
    assert sorted(tabled) == tabled, "keep api.ROUTES in name order (the OpenAPI order)"
    assert set(tabled) == on_disk
    for area in ROUTES:
        for contribution in (area.target_adapters, area.target_capabilities,
                             area.target_evidence):
            assert contribution is None or contribution.__module__ == area.router.__module__


def test_only_the_composition_root_wires_services() -> None:
    """Routers translate HTTP: they build no service, register nothing, never reach the store;
    no module attaches attributes to another object."""
    problems = []
    for name, tree in _source_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("setattr", "getattr"):
                problems.append(f"{name}:{node.lineno}: {node.func.id}")
            if isinstance(node, ast.Attribute) and node.attr == "add_tick_listener" \
                    and name not in ("core.py", "jobs.py"):
                problems.append(f"{name}:{node.lineno}: registers a tick listener")
            if name.startswith("routes_") and isinstance(node, ast.Attribute) \
                    and node.attr == "store":
                problems.append(f"{name}:{node.lineno}: a router reaches the store")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fault", list(Fault), ids=str)
def test_each_fault_is_a_named_entry_with_a_one_line_description(fault: Fault) -> None:
    assert fault.value == fault.name.lower()
    assert fault.description and "\n" not in fault.description


def test_code_tests_faults_through_the_registry() -> None:
    """``"logs_dropped" in faults`` would still work (a Fault is a str) but bypasses the
    registry: a typo there is a fault that silently never fires."""
    names = {fault.value for fault in Fault}
    bare = []
    for name, tree in _source_files():
        if name == "faults.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names:
                bare.append(f"{name}:{node.lineno}: {node.value!r}")
    assert not bare, "use Fault.<NAME> instead of the bare name:\n" + "\n".join(bare)
