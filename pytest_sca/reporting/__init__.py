"""Reports of an evaluation: the aggregated results, and the outputs written from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from .. import __version__
from ..redaction import Redactor
from ..runstate import ScaRun
from ..scoring import ScoreSheet, score
from ..verdicts import ItemResult, Verdict, resolve_item
from . import allure, baseline, html, json_report, listing, terminal

__all__ = ["allure", "baseline", "html", "json_report", "listing", "terminal", "Evaluation",
           "EVALUATION_KEY"]


@dataclass
class Evaluation:
    """Everything a report shows: per-item results in catalogue order, and the scores."""

    run: ScaRun
    items: list[ItemResult]
    scores: ScoreSheet
    finished: dt.datetime
    #: The masked report dict, once written (the terminal shows its baseline section).
    report: dict[str, Any] | None = None

    @property
    def conformant(self) -> bool:
        """Every in-scope ``shall`` item conforms (and at least one item was in scope)."""
        return self.scores.overall.items > 0 and self.scores.overall.conformant


EVALUATION_KEY = pytest.StashKey[Evaluation]()


def build_evaluation(run: ScaRun) -> Evaluation:
    """Resolve every in-scope item (tests, evidence, waivers) and score them."""
    target = run.target
    assert target is not None
    records = run.test_records()
    items = [
        resolve_item(
            clause.id, records[clause.id],
            evidence=target.evidence[clause.id].model_dump() if clause.id in target.evidence
            else None,
            waiver=target.waivers[clause.id].model_dump() if clause.id in target.waivers
            else None,
        )
        for clause in run.catalog if clause.id in records
    ]
    return Evaluation(run, items, score(run.catalog, items, run.grading),
                      dt.datetime.now(dt.timezone.utc))


def write_outputs(run: ScaRun, config: pytest.Config, evaluation: Evaluation) -> None:
    """Write the JSON (and HTML) report and, when Allure is active, its environment file."""
    extra = {}
    if run.options.baseline_path is not None:
        previous = baseline.load(run.options.baseline_path)
        current = json_report.masked(evaluation)["items"]
        extra["baseline"] = baseline.compare(previous, current, run.options.baseline_path)
    report = json_report.masked(evaluation, extra)
    evaluation.report = report
    if run.options.json_path is not None:
        json_report.write(report, run.options.json_path)
    if run.options.html_path is not None:
        html.write(report, run.options.html_path)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        allure.write_environment(alluredir, evaluation)
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
    return lines


def set_outcome(report: pytest.TestReport, verdict: Verdict, reason: str) -> None:
    """Make pytest's outcome tell the verdict: not_assessed is not a pass, a skip is an error."""
    if verdict is Verdict.NOT_ASSESSED:
        report.outcome = "skipped"
        path, lineno, _ = report.location
        report.longrepr = (str(path), (lineno or 0) + 1, f"not_assessed: {reason}")
    elif verdict is Verdict.ERROR and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"error: {reason}"
    report.sca_verdict = verdict.value  # type: ignore[attr-defined]


def teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """Terminal letters: N for not_assessed, E for an error inside a check's call."""
    verdict = getattr(report, "sca_verdict", None)
    if verdict == Verdict.NOT_ASSESSED.value and report.when in ("setup", "call"):
        return "not_assessed", "N", "NOT ASSESSED"
    if verdict == Verdict.ERROR.value and report.when == "call":
        return "error", "E", "ERROR"
    return None


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
