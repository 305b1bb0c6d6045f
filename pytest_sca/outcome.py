"""How a check ended → its verdict. Used by the plugin's report hook; no hooks here.

- an assertion (or ``pytest.fail``) → ``fail``: the requirement was observed not to hold;
- :class:`NotAssessed` (missing capability, read-only run, no check) → ``not_assessed``;
- a bare ``pytest.skip`` in a clause check → ``error``: skips would hide verdicts;
- anything else (transport errors, timeouts, 5xx, bugs in the suite) → ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from .verdicts import NotAssessed, TestRecord, Verdict, worst

PHASE_KEY = "sca_phase"
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
    return Verdict.ERROR, _one_line(f"{type(exc).__name__}: {exc}")


def combine_phases(nodeid: str, phases: Iterable[Mapping[str, Any]]) -> TestRecord:
    """One test's record from its phase records (worst phase wins)."""
    records = list(phases)
    when = {p["phase"]: p for p in records}
    if "setup" in when and when["setup"]["verdict"] == "pass" and "call" not in when:
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
        verdict=verdict,
        reason=reason,
        duration=round(sum(p.get("duration", 0.0) for p in records), 6),
        evidence=[e for p in records for e in p.get("evidence", [])],
        measurements=[m for p in records for m in p.get("measurements", [])],
    )
