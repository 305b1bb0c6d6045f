"""The typed ``capabilities:`` settings: one default per field, every field read by a check,
every example declaration read by a check, typos rejected at load time with the nearest name.

What the checks read is proven statically: an AST scan of ``pytest_sca/suites`` collects the
attribute chains below ``.settings`` and the literal paths given to ``.threshold("…")``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel

from pytest_sca.catalog import load_catalog
from pytest_sca.settings import (
    Capabilities,
    file_name,
    leaves,
    markdown_table,
    resolve,
    section_model,
    threshold,
    unit_of,
)
from pytest_sca.target import TargetFileError, load_target, parse_target

CATALOG = load_catalog()
REPO = Path(__file__).resolve().parents[1]
SUITES = REPO / "pytest_sca" / "suites"
EXAMPLES = sorted((REPO / "targets").glob("*.yaml"))
DOC = REPO / "docs" / "capabilities.md"

#: Groups the checks read whole, not field by field (10.2.f records the declared network
#: policy as evidence and reads `isolation` and `reason` from it).
READ_WHOLE = {"network"}
#: Fields no check reads, and why they are settings all the same.
NOT_READ = {"simulated": "a statement about the platform (the sandbox declares it), no "
                         "threshold"}


# -- what the suites read ----------------------------------------------------------------------


def _chain(node: ast.Attribute) -> list[str]:
    names = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        names.append(current.attr)
        current = current.value
    return names[::-1]


def _settings_path(attributes: list[str]) -> tuple[str, bool] | None:
    """(the file path reached by ``settings.<attributes>``, whether it is a group); None if
    the first attribute is no field."""
    model: type[BaseModel] = Capabilities
    path: list[str] = []
    for attribute in attributes:
        info = model.model_fields.get(attribute)
        if info is None:
            break
        path.append(file_name(info, attribute))
        nested = section_model(info.annotation)
        if nested is None:
            return ".".join(path), False
        model = nested
    return (".".join(path), True) if path else None


def suite_reads() -> tuple[set[str], set[str]]:
    """(value paths the suites read, group paths they read whole)."""
    values: set[str] = set()
    groups: set[str] = set()
    for file in sorted(SUITES.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and id(node) not in inner:
                names = _chain(node)
                if "settings" in names:
                    found = _settings_path(names[names.index("settings") + 1:])
                    if found is not None:
                        (groups if found[1] else values).add(found[0])
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "threshold" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                values.add(node.args[0].value)
    return values, groups


READS, GROUPS_READ = suite_reads()


def _is_read(path: str) -> bool:
    return path in READS or any(path.startswith(f"{group}.") for group in GROUPS_READ)


def _declared_paths(node: Any, model: type[BaseModel] = Capabilities, prefix: str = ""
                    ) -> Iterator[str]:
    """The paths of the values a ``capabilities:`` mapping sets (a mapping-valued field,
    like ``perf.peaks``, is one value)."""
    for key, value in node.items():
        attribute = next((a for a, info in model.model_fields.items()
                          if file_name(info, a) == key), None)
        assert attribute is not None, f"{prefix}{key} is not a field"
        nested = section_model(model.model_fields[attribute].annotation)
        if nested is not None and isinstance(value, dict):
            yield from _declared_paths(value, nested, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_the_scan_finds_the_reads() -> None:
    assert "perf.availability.seconds" in READS  # an attribute chain
    assert "perf.availability.min_success_ratio" in READS  # a threshold("…") literal
    assert "models.import.source" in READS  # through the alias of import_
    assert "perf.peaks" in READS  # a mapping, read whole
    assert GROUPS_READ == READ_WHOLE


def test_every_path_the_suites_read_is_a_field() -> None:
    known = {path for path, _ in leaves()}
    assert not READS - known, sorted(READS - known)


def test_every_threshold_is_a_number_with_a_default() -> None:
    defaults = Capabilities()
    for path in READS:
        info = resolve(defaults, path).info
        if unit_of(info) in ("s", "ratio"):
            assert isinstance(threshold(defaults, path).value, float)


def test_every_field_is_read_by_a_check() -> None:
    """No dead settings: each field of the model is read by some check."""
    unread = [path for path, _ in leaves() if not _is_read(path) and path not in NOT_READ]
    assert not unread, f"fields no check reads: {unread}"
    assert all(not _is_read(path) for path in NOT_READ), "read after all: drop it from NOT_READ"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_declared_value_of_an_example_is_read(example: Path) -> None:
    document = yaml.safe_load(example.read_text(encoding="utf-8"))
    unread = [path for path in _declared_paths(document.get("capabilities") or {})
              if not _is_read(path)]
    assert not unread, f"{example.name} declares what no check reads: {unread}"


# -- the model ------------------------------------------------------------------------------


def test_every_field_says_what_it_is_and_its_unit() -> None:
    for path, info in leaves():
        assert info.description, f"{path} has no description"
        if path.endswith("_s") and not path.endswith("_per_s"):
            assert unit_of(info) == "s", path
        kinds = [a for a in get_args(info.annotation) if a is not type(None)] or [info.annotation]
        if kinds[0] in (int, float) and not path.endswith(".port"):
            assert unit_of(info), f"{path}: a quantity without a unit"


def test_threshold_says_where_it_came_from() -> None:
    settings = Capabilities.model_validate({"perf": {"availability": {"min_success_ratio": 0.9}}})
    declared_value = threshold(settings, "perf.availability.min_success_ratio")
    assert declared_value.value == 0.9
    assert declared_value.source == "target file capabilities.perf.availability.min_success_ratio"
    default = threshold(settings, "perf.availability.seconds")
    assert default.value == 10.0
    assert default.source == "default 10 (how long the load lasts)"
    with pytest.raises(TypeError, match="not a number"):
        threshold(settings, "perf.compute_device")
    with pytest.raises(KeyError, match="availabilty"):
        threshold(settings, "perf.availabilty.seconds")


def test_a_sandbox_like_declaration_validates() -> None:
    """What the sandbox declares for itself (pytest_sca/sandbox/routes_*.py, server.py)."""
    settings = Capabilities.model_validate({
        "simulated": True, "jobs": {"stop_timeout_s": 5},
        "training": {"rendezvous_timeout_s": 5},
        "network": {"isolation": "unsupported", "reason": "no root",
                    "address_range": "10.0.0.0/16"},
        "perf": {"compute_device": "cpu", "cpu": {"peak_gflops": 76.8, "cores": 2, "source": "x"},
                 "operators": {"min_efficiency": 0.03},
                 "training": {"min_hfu": 0.04, "max_step_cv": 0.75},
                 "scaling": {"k": [1, 4], "min_efficiency": 0.5, "work": "paced"},
                 "scheduling": {"max_startup_p99_s": 10.0, "min_utilisation": 0.08,
                                "min_speedup": 0.2},
                 "diagnosis": {"max_seconds": 5.0},
                 "availability": {"min_success_ratio": 0.99, "seconds": 3.0, "rate_per_s": 20},
                 "long_job": {"seconds": 2.0},
                 "monitoring": {"max_staleness_s": 60.0, "min_cards": 1000}}})
    assert settings.perf.scaling.k == [1, 4]
    assert threshold(settings, "perf.monitoring.min_cards").value == 1000


def test_isolation_no_reads_as_a_word() -> None:
    """YAML reads ``isolation: no`` as false; the check compares words."""
    settings = Capabilities.model_validate(yaml.safe_load("network: {isolation: no}"))
    assert settings.network.isolation == "no"


# -- load-time errors -------------------------------------------------------------------------


TYPO = "name: x\ncapabilities:\n  perf:\n    availabilty: {min_success_ratio: 0.99}\n"


def test_typo_names_the_nearest_field(tmp_path: Path) -> None:
    path = tmp_path / "mycloud.yaml"
    path.write_text(TYPO, encoding="utf-8")
    with pytest.raises(TargetFileError) as caught:
        load_target(path, CATALOG, {})
    assert str(caught.value) == (
        f"{path}: capabilities.perf.availabilty is not a known field: "
        "did you mean capabilities.perf.availability?")


def test_typo_exits_4_with_one_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "typo.yaml").write_text(TYPO, encoding="utf-8")
    result = pytester.runpytest_subprocess("--sca-target=typo.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: typo.yaml: capabilities.perf.availabilty is not a known field: "
        "did you mean capabilities.perf.availability?"]


@pytest.mark.parametrize(("capabilities", "message"), [
    ({"perf": {"scaling": {"k": [2, 4]}}},
     "capabilities.perf.scaling.k is invalid: speedups are relative to k = 1: include 1"),
    ({"perf": {"compute_device": "gpu"}},
     "capabilities.perf.compute_device is invalid: use 'accelerator' or 'cpu'"),
    ({"perf": {"availability": {"min_success_ratio": 99.9}}},
     "capabilities.perf.availability.min_success_ratio is invalid: input should be less than or "
     "equal to 1"),
    ({"metrics": {"names": {"dcgm": "DCGM_FI_DEV_GPU_UTIL"}}},
     "capabilities.metrics.names.dcgm[key] is invalid: write the key as <exporter>.<dimension>"),
    ({"perf": []}, "capabilities.perf is invalid: write a mapping of its fields"),
    ({"accelerators": {}}, "capabilities.accelerators is not a known field: remove it or fix its "
                           "spelling (known here: simulated, perf,"),
])
def test_wrong_values_say_what_is_expected(capabilities: dict[str, Any], message: str) -> None:
    with pytest.raises(TargetFileError, match=re.escape(f"t.yaml: {message}")):
        parse_target({"name": "x", "capabilities": capabilities}, "t.yaml", CATALOG, {})


_NAMES = sorted({part for path, _ in leaves() for part in path.split(".")})
_KEYS = st.one_of(st.sampled_from(_NAMES), st.text(max_size=12), st.integers(), st.booleans(),
                  st.none())
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=16),
                     st.dates(), st.sampled_from(["cpu", "paced", "${UNSET_X}", "~/x", "1e3"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=16)


def _nest(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for path, value in pairs:
        *groups, last = path.split(".")
        node = document
        for group in groups:
            node = node.setdefault(group, {}) if isinstance(node.get(group, {}), dict) else {}
        node[last] = value
    return document


#: Mostly the model's own paths (to reach deep), with values of any type; and noise.
_CAPABILITIES = st.one_of(
    st.lists(st.tuples(st.sampled_from([p for p, _ in leaves()]), _VALUES), max_size=6).map(_nest),
    st.dictionaries(_KEYS, _VALUES, max_size=6),
    _VALUES,
)


@pytest.mark.slow
@hypothesis_settings(max_examples=400, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
@given(capabilities=_CAPABILITIES)
@example(capabilities={"\n": 1})  # a key with a newline once made a two-line message
def test_any_capabilities_load_or_fail_with_one_line(capabilities: Any) -> None:
    """Whatever a ``capabilities:`` section holds, loading either succeeds or raises a
    ``TargetFileError`` of one line naming the file; never anything else."""
    try:
        target = parse_target({"name": "x", "capabilities": capabilities}, "t.yaml", CATALOG,
                              {"SET_X": "value"})
    except TargetFileError as exc:
        message = str(exc)
        assert message.startswith("t.yaml: ") and "\n" not in message, message
    else:
        assert isinstance(target.settings, Capabilities)


# -- docs ------------------------------------------------------------------------------------


def test_the_doc_lists_every_field_as_the_model_says() -> None:
    """docs/capabilities.md holds the generated table; regenerate it with
    ``python -c 'from pytest_sca.settings import markdown_table; print(markdown_table())'``."""
    text = DOC.read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/capabilities.md: regenerate the table (see docstring)"
    for path, _ in leaves():
        assert f"| `{path}` |" in text
