"""How a check ended → its verdict, and how a verdict shows in every output. Used by the
plugin's report hook; no hooks here.

- an assertion (or ``pytest.fail``) → ``fail``: the requirement was observed not to hold;
- :class:`NotAssessed` (missing capability, read-only run, no check) → ``not_assessed``;
- a bare ``pytest.skip`` in a clause check → ``error``: skips would hide verdicts;
- anything else (transport errors, timeouts, 5xx, bugs in the suite) → ``error``.

A test then shows the verdict its item's evidence and waiver give it
(:func:`~pytest_sca.verdicts.resolve_item` over that test alone), and :data:`PRESENTATION`
says how that verdict looks to pytest, in JUnit and in Allure: one table, so that no two
outputs can disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from .verdicts import ItemResult, NotAssessed, TestRecord, Verdict, worst

#: The report attribute a phase's record travels in to the controller (pytest-xdist
#: serialises a report's attributes). Not a user property: JUnit would print those.
PHASE_ATTRIBUTE = "sca_phase"
#: The report attribute of a report that carries its test's verdict (a :data:`PRESENTATION`
#: key) and the clause id, for the terminal's letters and words.
SHOWN_ATTRIBUTE = "sca_shown"


@dataclass(frozen=True)
class Presentation:
    """How one verdict shows: pytest's outcome, the JUnit element (``""``: none, a passed
    testcase), Allure's status, and the terminal's category, letter and word."""

    pytest: str
    junit: str
    allure: str
    category: str
    letter: str
    word: str


#: Verdict (``manual`` split by the evaluator's recorded verdict) → how it shows everywhere.
#: README "Verdicts in every output" prints this table.
PRESENTATION: dict[str, Presentation] = {
    "pass": Presentation("passed", "", "passed", "passed", ".", "PASSED"),
    "fail": Presentation("failed", "failure", "failed", "failed", "F", "FAILED"),
    "error": Presentation("failed", "error", "broken", "error", "E", "ERROR"),
    "not_assessed": Presentation("skipped", "skipped", "skipped", "not_assessed", "N",
                                 "NOT ASSESSED"),
    "manual pass": Presentation("passed", "", "passed", "manual", "M", "MANUAL PASS"),
    "manual fail": Presentation("failed", "failure", "failed", "manual", "M", "MANUAL FAIL"),
    "waived": Presentation("skipped", "skipped", "skipped", "waived", "W", "WAIVED"),
}


def presentation_key(verdict: Verdict | str, conformant: bool) -> str:
    """The :data:`PRESENTATION` key of a verdict: ``manual`` splits by its recorded verdict."""
    value = Verdict(verdict).value
    if value == Verdict.MANUAL.value:
        return "manual pass" if conformant else "manual fail"
    return value


def bears_verdict(when: str, phase: Verdict) -> bool:
    """Whether a phase's report is the one that shows its test's verdict: the call; a setup
    that did not pass (no call follows); a teardown that did not pass."""
    return when == "call" or phase is not Verdict.PASS


def carries_to_call(when: str, phase: Verdict, shown: ItemResult) -> bool:
    """A setup that ended ``not_assessed`` on an item with an evaluator's verdict: the setup
    is reported passed and the call ends at once with the same reason, so that the manual
    verdict shows where every other verdict shows (the call: JUnit ``<failure>``, not a
    setup ``<error>``)."""
    return when == "setup" and phase is Verdict.NOT_ASSESSED and shown.verdict is Verdict.MANUAL


def test_so_far(nodeid: str, phases: Iterable[Mapping[str, Any]]) -> TestRecord:
    """One test's record from the phases reported so far (no inference about a missing call)."""
    return combine_phases(nodeid, phases, finished=False)
_SKIP = pytest.skip.Exception
_FAIL = pytest.fail.Exception


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def phase_verdict(excinfo: pytest.ExceptionInfo[BaseException] | None) -> tuple[Verdict, str]:
    """The verdict of one phase (setup, call, teardown) of a clause check."""
    if excinfo is None:
        return Verdict.PASS, ""
    exc = excinfo.value
    if isinstance(exc, NotAssessed):
        return Verdict.NOT_ASSESSED, _one_line(str(exc))
    if isinstance(exc, _SKIP):
        return Verdict.ERROR, ("a clause check was skipped (" + _one_line(str(exc.msg))
                               + "): a check ends with sca.not_assessed(reason), never a skip")
    if isinstance(exc, (AssertionError, _FAIL)):
        message = str(exc.msg) if isinstance(exc, _FAIL) else str(exc)
        return Verdict.FAIL, _one_line(message.split("\nassert ")[0]) or "assertion failed"
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return Verdict.ERROR, _one_line(_missing_field(excinfo, exc.args[0]))
    return Verdict.ERROR, _one_line(f"{type(exc).__name__}: {exc}")


def _missing_field(excinfo: pytest.ExceptionInfo[BaseException], key: object) -> str:
    """A ``KeyError`` in a check: an answer of the target lacked a field the check reads (the
    answers are the contract's typed dicts). Said as such, with where it was read, so that
    a report never shows a bare ``KeyError: 'status'``."""
    where = ""
    for entry in reversed(excinfo.traceback):
        path = str(entry.path)
        if "pytest_sca" in path:
            where = f" (read at {path.split('pytest_sca/', 1)[-1]}:{entry.lineno + 1})"
            break
    return (f"the target's answer has no field {key!r}{where}: it answered in another shape "
            "than the check reads, nothing was learnt (a field the target did send would make "
            "this a bug of the check)")


def combine_phases(nodeid: str, phases: Iterable[Mapping[str, Any]], *,
                   finished: bool = True) -> TestRecord:
    """One test's record from its phase records (worst phase wins)."""
    records = list(phases)
    when = {p["phase"]: p for p in records}
    if (finished and "setup" in when and when["setup"]["verdict"] == "pass"
            and "call" not in when):
        # Set up, never called: the run was interrupted (Ctrl-C, SIGTERM) inside the check.
        records.append({**when["setup"], "phase": "call", "verdict": Verdict.ERROR.value,
                        "reason": "the run was interrupted before the check finished",
                        "duration": 0.0, "evidence": [], "measurements": []})
    verdict = worst(Verdict(p["verdict"]) for p in records) or Verdict.NOT_ASSESSED
    reason = next((p["reason"] for p in records if p["verdict"] == verdict.value), "")
    extra = [p["reason"] for p in records
             if p["phase"] == "teardown" and p["verdict"] != "pass" and p["reason"] != reason]
    if extra:
        reason = "; ".join([reason, *extra]) if reason else "; ".join(extra)
    return TestRecord(
        nodeid=nodeid,
        clause=records[0]["clause"],
        route=records[0].get("route", ""),
        verdict=verdict,
        reason=reason,
        duration=round(sum(p.get("duration", 0.0) for p in records), 6),
        evidence=[e for p in records for e in p.get("evidence", [])],
        measurements=[m for p in records for m in p.get("measurements", [])],
    )
