"""Scoring is pure: hand-computed examples, weights and grades from data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_sca.catalog import load_catalog
from pytest_sca.scoring import GradingError, load_grading, score
from pytest_sca.verdicts import ItemResult, TestRecord, Verdict, resolve_item

CATALOG = load_catalog()
SCHEME = load_grading()


def _result(item_id: str, verdict: Verdict, conformant: bool | None = None) -> ItemResult:
    return ItemResult(item_id, verdict, "", verdict is Verdict.PASS if conformant is None
                      else conformant)


def test_subdomain_domain_and_overall_scores_by_hand() -> None:
    # 6.3: a, b, c shall (1.0 each), d may (0.5); 6.4.d may (0.5); 8.1.a shall.
    results = [
        _result("6.3.a", Verdict.PASS),
        _result("6.3.b", Verdict.FAIL),
        _result("6.3.c", Verdict.WAIVED, conformant=True),
        _result("6.3.d", Verdict.PASS),
        _result("6.4.d", Verdict.NOT_ASSESSED),
        _result("8.1.a", Verdict.MANUAL, conformant=True),
    ]
    sheet = score(CATALOG, results, SCHEME)
    # 6.3: conforming 1 + 1 + 0.5 = 2.5 of 3.5
    assert sheet.subdomains["6.3"].score == pytest.approx(2.5 / 3.5)
    assert not sheet.subdomains["6.3"].conformant  # 6.3.b is a failed shall item
    # 6.4: only a may item, not assessed: 0 of 0.5, but no shall item → conformant
    assert sheet.subdomains["6.4"].score == 0.0
    assert sheet.subdomains["6.4"].conformant
    # scheduling: 2.5 of 4.0
    assert sheet.domains["scheduling"].score == pytest.approx(2.5 / 4.0)
    assert sheet.domains["application"].score == 1.0
    assert sheet.domains["application"].conformant
    # overall: 3.5 of 5.0 = 0.7 → C; not every shall conforms
    assert sheet.overall.score == pytest.approx(0.7)
    assert sheet.grade == "C"
    assert sheet.overall.counts == {"pass": 2, "fail": 1, "waived": 1, "not_assessed": 1,
                                    "manual": 1}


def test_grade_a_needs_every_shall_item() -> None:
    ids = [c.id for c in CATALOG if c.subdomain in ("6.3", "6.4")]  # 6 shall, 2 may
    all_pass = [_result(i, Verdict.PASS) for i in ids]
    assert score(CATALOG, all_pass, SCHEME).grade == "A"
    # Failing one may item keeps every shall item: 6 + 0.5 of 7 = 0.93 → still A
    one_may_fails = [_result(i, Verdict.FAIL if i == "6.4.d" else Verdict.PASS) for i in ids]
    assert score(CATALOG, one_may_fails, SCHEME).grade == "A"
    # Failing one shall item: 5 + 1 of 7 = 0.857 → B, not A, although ≥ 0.80
    one_shall_fails = [_result(i, Verdict.FAIL if i == "6.4.a" else Verdict.PASS) for i in ids]
    sheet = score(CATALOG, one_shall_fails, SCHEME)
    assert sheet.overall.score == pytest.approx(6 / 7)
    assert sheet.grade == "B"


def test_empty_scope_has_no_grade() -> None:
    assert score(CATALOG, [], SCHEME).grade == "-"


def test_grading_scheme_is_data(tmp_path: Path) -> None:
    scheme = tmp_path / "strict.yaml"
    scheme.write_text("id: strict\nstatus: test\nweights: {shall: 2, may: 1}\n"
                      "grades:\n  - {grade: PASS, min_score: 1.0, require_all_shall: true}\n"
                      "  - {grade: 'NO', min_score: 0}\n", encoding="utf-8")
    strict = load_grading(scheme)
    sheet = score(CATALOG, [_result("6.3.a", Verdict.PASS), _result("6.3.d", Verdict.FAIL)],
                  strict)
    assert sheet.overall.score == pytest.approx(2 / 3) and sheet.grade == "NO"
    scheme.write_text("id: x\nweights: {shall: 1, may: 1}\ngrades: [{grade: NO, min_score: 0}]\n",
                      encoding="utf-8")
    with pytest.raises(GradingError, match=r"grades\[0\].grade must be text: quote it"):
        load_grading(scheme)
    scheme.write_text("id: x\nweights: {shall: 1}\ngrades: []\n", encoding="utf-8")
    with pytest.raises(GradingError, match="weights must give exactly shall and may"):
        load_grading(scheme)


def _record(verdict: Verdict, nodeid: str = "t") -> TestRecord:
    return TestRecord(nodeid, "6.1.a", verdict, reason=verdict.value)


@pytest.mark.parametrize(("verdicts", "expected"), [
    ([Verdict.PASS, Verdict.FAIL, Verdict.ERROR], Verdict.FAIL),
    ([Verdict.PASS, Verdict.ERROR, Verdict.NOT_ASSESSED], Verdict.ERROR),
    ([Verdict.PASS, Verdict.NOT_ASSESSED], Verdict.NOT_ASSESSED),
    ([Verdict.PASS, Verdict.PASS], Verdict.PASS),
])
def test_item_takes_the_worst_test(verdicts: list[Verdict], expected: Verdict) -> None:
    records = [_record(v, f"t{n}") for n, v in enumerate(verdicts)]
    assert resolve_item("6.1.a", records).verdict is expected


def test_waiver_expiry_is_checked_against_today() -> None:
    waiver = {"reason": "r", "expires": dt.date(2026, 11, 28)}
    on_the_day = resolve_item("6.1.a", [_record(Verdict.FAIL)], waiver=waiver,
                              today=dt.date(2026, 11, 28))
    day_after = resolve_item("6.1.a", [_record(Verdict.FAIL)], waiver=waiver,
                             today=dt.date(2026, 11, 29))
    assert on_the_day.verdict is Verdict.WAIVED
    assert day_after.verdict is Verdict.FAIL and not day_after.conformant
