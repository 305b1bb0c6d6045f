"""Clause markers: expanded from the catalogue, selectable with -m, registered, validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_sca.catalog import catalog_path

from .conftest import read_report, verdicts, write_checks

CHECKS = """
import pytest

@pytest.mark.clause("6.2.c")
def test_lifecycle():
    pass

@pytest.mark.clause("8.1.a")
def test_preset_models():
    pass

@pytest.mark.clause("6.3.d")
def test_lazy_pull():
    pass

@pytest.mark.clause(id="10.2.g")
def test_assets():
    pass
"""


def _selected(pytester: pytest.Pytester, target_file: Path, *args: str) -> set[str]:
    write_checks(pytester, CHECKS)
    result = pytester.runpytest(f"--sca-target={target_file}", "checks", "--strict-markers",
                                "-p", "no:cacheprovider", *args)
    assert result.ret in (0, 1), result.stdout.str()
    return set(verdicts(read_report(pytester)))


@pytest.mark.parametrize(("expression", "expected"), [
    ("chapter8", {"8.1.a"}),
    ("shall", {"6.2.c", "8.1.a"}),
    ("may", {"6.3.d", "10.2.g"}),
    ("clause(level='may')", {"6.3.d", "10.2.g"}),
    ("clause(domain='scheduling')", {"6.2.c", "6.3.d"}),
    ("clause(subdomain='6.2')", {"6.2.c"}),
    ("security and may", {"10.2.g"}),
    ("shall and not chapter8", {"6.2.c"}),
])
def test_markers_from_the_catalogue_select(pytester: pytest.Pytester, target_file: Path,
                                           expression: str, expected: set[str]) -> None:
    assert _selected(pytester, target_file, "-m", expression) == expected


@pytest.mark.slow
def test_uncovered_items_in_scope_are_reported_not_assessed(pytester: pytest.Pytester,
                                                            target_file: Path) -> None:
    """Without paths, the shipped suites and every catalogue item are in scope: an item no
    check covers (here one added to a copy of the catalogue) is reported, not_assessed."""
    data = yaml.safe_load(catalog_path().read_text(encoding="utf-8"))
    data["items"].append({"id": "8.8.z", "subdomain": "8.8", "level": "shall",
                          "source": "derived", "text_zh": "应支持新的要求", "text_en": "a new one"})
    (pytester.path / "catalog.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                encoding="utf-8")
    result = pytester.runpytest(f"--sca-target={target_file}", "-m", "chapter8",
                                "--sca-catalog=catalog.yaml", "-p", "no:cacheprovider")
    report = read_report(pytester)
    items = {i["id"]: i for i in report["items"]}
    assert len(items) == 25 and all(i["chapter"] == 8 for i in items.values())
    new = items["8.8.z"]
    assert new["tests"][0]["nodeid"] == "sca-catalogue::8.8.z"
    assert (new["verdict"], new["reason"]) == ("not_assessed", "no check implemented yet")
    assert result.ret == 1  # shall items that are not assessed do not conform


def test_keyword_selection_reaches_uncovered_items(pytester: pytest.Pytester,
                                                   target_file: Path) -> None:
    pytester.runpytest(f"--sca-target={target_file}", "-k", "9.4.2", "-p", "no:cacheprovider")
    assert set(verdicts(read_report(pytester))) == {"9.4.2.a", "9.4.2.b", "9.4.2.c", "9.4.2.d"}


def test_markers_are_registered_and_documented_for_an_evaluation(
        pytester: pytest.Pytester, target_file: Path) -> None:
    result = pytester.runpytest(f"--sca-target={target_file}", "--markers")
    out = result.stdout.str()
    for marker in ("clause(id, route=)", "chapter6", "chapter10", "shall:", "may:", "scheduling:",
                   "security:", "mutating:", "disruptive:"):
        assert f"@pytest.mark.{marker}" in out


@pytest.mark.slow
def test_marker_names_do_not_leak_into_other_projects(pytester: pytest.Pytester) -> None:
    """Without --sca-target (or --sca-list) pytest-sca registers no marker: another project's
    unregistered `@pytest.mark.security` is an error under --strict-markers, as without it."""
    pytester.makepyfile(test_other="""
        import pytest

        @pytest.mark.security
        def test_login():
            pass
    """)
    # A subprocess: pytest caches known marker names in a process-wide set (MARK_GEN).
    result = pytester.runpytest_subprocess("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'security' not found in `markers` configuration option*"])
    out = pytester.runpytest_subprocess("--markers").stdout.str()
    for name in ("security", "shall", "may", "performance", "chapter8", "clause", "mutating"):
        assert f"@pytest.mark.{name}:" not in out and f"@pytest.mark.{name}(" not in out


def test_unknown_clause_id_is_a_collection_error_naming_the_test(
        pytester: pytest.Pytester, target_file: Path) -> None:
    write_checks(pytester, """
        import pytest

        @pytest.mark.clause("6.99.z")
        def test_typo():
            pass
    """)
    result = pytester.runpytest(f"--sca-target={target_file}", "checks")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: checks/test_checks.py::test_typo: clause '6.99.z' is "
                                 "not an item of saia-aicloud-2025-04-29*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_plain_pytest_never_collects_the_shipped_suites(pytester: pytest.Pytester) -> None:
    from pytest_sca.collection import SUITES_ROOT

    result = pytester.runpytest(str(SUITES_ROOT), "--collect-only", "-q")
    assert "sca-catalogue" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_sca_list_shows_every_item_with_level_source_and_coverage(
        pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--sca-list")
    assert result.ret == 0
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*edition saia-aicloud-2025-04-29 (draft), 97 items*",
        "*6 资源调度及管理 Resource scheduling and management ?scheduling?*",
        "*6.2.c*shall*notes*应支持对用户算力资源使用的全生命周期管理*",
        "*6.3.d*may*notes*",
        "*10.2.g*may*notes*",
    ])
    assert out.count("shall ") + out.count("may ") >= 97
