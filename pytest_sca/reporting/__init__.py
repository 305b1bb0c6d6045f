"""Reports of an evaluation: the aggregated results, and the outputs written from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from .. import __version__
from ..outcome import PRESENTATION, presentation_key
from ..redaction import Redactor
from ..runstate import ScaRun
from ..scope import scope_section
from ..scoring import ScoreSheet, score
from ..verdicts import ItemResult, Verdict, resolve_item
from . import allure, baseline, html, json_report, junit, listing, terminal

__all__ = ["allure", "baseline", "html", "json_report", "junit", "listing", "terminal",
           "Evaluation", "EVALUATION_KEY"]


@dataclass
class Evaluation:
    """Everything a report shows: per-item results in catalogue order, the scores, and the
    scope (:func:`pytest_sca.scope.scope_section`)."""

    run: ScaRun
    items: list[ItemResult]
    scores: ScoreSheet
    finished: dt.datetime
    scope: dict[str, Any]
    #: The masked report dict, once written (the terminal shows its baseline section).
    report: dict[str, Any] | None = None

    @property
    def conformant(self) -> bool:
        """Every in-scope ``shall`` item conforms (and at least one item was in scope)."""
        return self.scores.overall.items > 0 and self.scores.overall.conformant

    @property
    def complete(self) -> bool:
        """The whole catalogue was evaluated (not a partial run)."""
        return bool(self.scope["complete"])

    @property
    def grade(self) -> str:
        """The grade; ``-`` for a partial evaluation, which is not a grade."""
        return self.scores.grade if self.complete else "-"

    @property
    def fails_run(self) -> bool:
        """Whether the exit status is 1: non-conformance, or with ``--sca-fail-on=regression``
        only a new failure since the baseline."""
        if self.run.options.fail_on == "regression":
            section = (self.report or {}).get("baseline") or {}
            return bool(section.get("new_failures"))
        return not self.conformant


EVALUATION_KEY = pytest.StashKey[Evaluation]()


def build_evaluation(run: ScaRun) -> Evaluation:
    """Resolve every in-scope item (tests, evidence, waivers) and score them."""
    target = run.target
    assert target is not None
    records = run.test_records()
    items = [resolve_item(clause.id, records[clause.id], *run.recorded_for(clause.id))
             for clause in run.catalog if clause.id in records]
    scope = scope_section(run.selection, (c.id for c in run.catalog), (i.id for i in items),
                          (run.catalog.item(i.id).chapter for i in items), run.reported)
    return Evaluation(run, items, score(run.catalog, items, run.grading),
                      dt.datetime.now(dt.timezone.utc), scope)


def write_outputs(run: ScaRun, config: pytest.Config, evaluation: Evaluation) -> None:
    """Write the JSON report, and render the others from it: HTML, JUnit's additions,
    Allure's results and environment."""
    report = json_report.masked(evaluation)
    if run.options.baseline_path is not None:
        previous = baseline.load(run.options.baseline_path)
        report["baseline"] = baseline.compare(previous, report, run.options.baseline_path,
                                              run.target.drift if run.target else None)
    evaluation.report = report
    if run.options.json_path is not None:
        json_report.write(report, run.options.json_path)
    if run.options.html_path is not None:
        html.write(report, run.options.html_path)
    junit_file = junit.written_by_pytest(config)
    if junit_file is not None:
        junit.finish(junit_file, report)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        allure.write_environment(alluredir, report)
        allure.finish(alluredir, report)
        allure.mask_results(alluredir, run.redact)


def header_lines(run: ScaRun) -> list[str]:
    target = run.target
    assert target is not None
    lines = [
        f"sca: target {target.name} (fingerprint {target.fingerprint}), "
        f"standard {run.catalog.edition.id}, pytest-sca {__version__}",
        f"sca: run id {run.run_id}" + (" (read-only)" if run.options.readonly else ""),
    ]
    if run.sandbox is not None:
        lines.append(f"sca: sandbox started, state in {run.sandbox.state_dir} "
                     "(disruptive checks run on it)")
    if run.dry:
        lines.append("sca: inspection only (--collect-only, --markers, --fixtures…): nothing "
                     "started, no report written")
    if run.preflight:
        usable = [a["transport"] for a in run.preflight if a["usable"]]
        lines.append(f"sca: preflight: {len(usable)} of {len(run.preflight)} adapters usable"
                     + "".join(f"; {a['transport']} UNUSABLE" for a in run.preflight
                               if not a["usable"]))
    return lines


def present(report: pytest.TestReport, result: ItemResult, clause_id: str) -> None:
    """Make a verdict-bearing report show its test's verdict (:data:`outcome.PRESENTATION`):
    pytest's outcome (and so JUnit's element and Allure's live status), its message, and
    the terminal's word. A failure keeps its own traceback."""
    key = presentation_key(result.verdict, result.conformant)
    shown = PRESENTATION[key]
    report.sca_shown = {"key": key, "clause": clause_id}  # type: ignore[attr-defined]
    if shown.pytest == "passed":
        report.outcome, report.longrepr = "passed", None
    elif shown.pytest == "skipped":
        path, lineno, _ = report.location
        message = f"{result.verdict.value}: {result.reason}"
        if result.verdict is Verdict.WAIVED and result.automated_verdict is not Verdict.PASS:
            automated = result.tests[0].reason if result.tests else ""
            message += f" (automated verdict {result.automated_verdict}: {automated})"
        report.outcome = "skipped"
        report.longrepr = (str(path), (lineno or 0) + 1, message)
    else:
        if not report.failed or key.startswith("manual"):
            report.longrepr = f"{key}: {result.reason}"
        report.outcome = "failed"


def present_passed(report: pytest.TestReport, clause_id: str) -> None:
    """:func:`present` of a test that passed and whose item the target file records nothing
    for: its result is ``pass``, conformant, without resolving the item."""
    present(report, ItemResult(clause_id, Verdict.PASS, "", True,
                               automated_verdict=Verdict.PASS), clause_id)


def teststatus(report: pytest.TestReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """The terminal's category, letter and word (with the clause id) of a verdict-bearing
    report: ``N`` not assessed, ``M`` manual, ``W`` waived, ``E`` error."""
    shown = getattr(report, "sca_shown", None)
    if not shown:
        return None
    entry = PRESENTATION[shown["key"]]
    colour = {"passed": "green", "failed": "red", "skipped": "yellow"}[entry.pytest]
    return entry.category, entry.letter, (f"{entry.word} {shown['clause']}", {colour: True})


def redact_exception(excinfo: pytest.ExceptionInfo[BaseException] | None,
                     redact: Redactor) -> None:
    """Mask secrets in the exception itself: other plugins format it on their own."""
    if excinfo is None:
        return
    exc = excinfo.value
    exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(getattr(exc, "msg", None), str):
        exc.msg = redact(exc.msg)  # type: ignore[attr-defined]


def redact_report(report: pytest.TestReport, redact: Redactor) -> None:
    """Mask secrets in a report's traceback, captured output and properties."""
    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple):
            path, lineno, message = report.longrepr
            report.longrepr = (path, lineno, redact(message))
        else:
            text = str(report.longrepr)
            masked = redact(text)
            if masked != text:
                report.longrepr = masked
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [(key, redact(value) if isinstance(value, str) else value)
                              for key, value in report.user_properties]
