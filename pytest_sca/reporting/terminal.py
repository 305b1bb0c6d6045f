"""The terminal summary: one row per domain, the overall score and grade, then what failed."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from ..verdicts import Verdict
from .numbers import measurement_text, quantity

if TYPE_CHECKING:
    from . import Evaluation

_COLUMNS = ("pass", "fail", "error", "not_assessed", "manual", "waived")
_SHORT = {"pass": "pass", "fail": "fail", "error": "err", "not_assessed": "n/a",
          "manual": "man", "waived": "waiv"}


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def write_summary(reporter: Any, evaluation: Evaluation) -> None:
    """Write the evaluation summary section to pytest's terminal reporter."""
    run = evaluation.run
    catalog = run.catalog
    scores = evaluation.scores
    redact = run.redact
    reporter.write_sep("=", f"sca evaluation: {run.target.name if run.target else ''}")
    name_width = max(_width(f"{d.id} {d.name_zh} {d.name_en}") for d in catalog.domains) + 2
    header = _pad("domain", name_width) + f"{'items':>6}" + "".join(
        f"{_SHORT[c]:>6}" for c in _COLUMNS) + f"{'score':>8}  conformant"
    reporter.write_line(header)
    for domain in catalog.domains:
        entry = scores.domains.get(domain.id)
        if entry is None:
            continue
        label = f"{domain.id} {domain.name_zh} {domain.name_en}"
        reporter.write_line(
            _pad(label, name_width) + f"{entry.items:>6}"
            + "".join(f"{entry.counts.get(c, 0):>6}" for c in _COLUMNS)
            + f"{entry.score:>8.1%}  {'yes' if entry.conformant else 'no'}")
    overall = scores.overall
    reporter.write_line(
        _pad("overall", name_width) + f"{overall.items:>6}"
        + "".join(f"{overall.counts.get(c, 0):>6}" for c in _COLUMNS)
        + f"{overall.score:>8.1%}  {'yes' if evaluation.conformant else 'no'}")
    report = evaluation.report or {}
    scope = evaluation.scope
    if evaluation.complete:
        reporter.write_line(
            f"grade: {evaluation.grade} ({scores.scheme.status} scheme {scores.scheme.id}); "
            f"{scope['statement']}")
    else:
        reporter.write_line(f"no grade: {scope['statement']}", yellow=True, bold=True)
    reporter.write_line(f"run id {run.run_id}; report {run.options.json_path}"
                        + (f"; HTML {run.options.html_path}" if run.options.html_path else ""))
    if run.workers:
        reporter.write_line(f"checks ran side by side on {run.workers} workers; "
                            f"{len(run.ran_alone)} ran alone (chapter 9, measuring, disruptive)")
    _preflight(reporter, run.preflight)
    problems = [r for r in evaluation.items
                if r.verdict in (Verdict.FAIL, Verdict.ERROR)
                and catalog.item(r.id).level == "shall"]
    if problems:
        reporter.write_sep("-", "shall items that failed or could not be checked")
        for result in problems:
            reporter.write_line(f"{result.verdict.value.upper():<6} {result.id:<9} "
                                f"{redact(result.reason)}")
    waived = [r for r in evaluation.items if r.verdict is Verdict.WAIVED]
    expired = [(r.id, note) for r in evaluation.items for note in r.notes
               if note.startswith("waiver expired")]
    if waived or expired:
        reporter.write_sep("-", "waivers")
        for result in waived:
            automated = result.automated_verdict.value if result.automated_verdict else "-"
            reporter.write_line(f"WAIVED  {result.id:<9} {redact(result.reason)} "
                                f"(automated: {automated})")
        for item_id, note in expired:
            reporter.write_line(f"EXPIRED {item_id:<9} {note}", red=True)
    measured = [(r.id, m) for r in evaluation.items for t in r.tests for m in t.measurements]
    if measured:
        reporter.write_sep("-", "measurements")
        for item_id, m in measured:
            reporter.write_line(f"{item_id:<9} {measurement_text(m)}")
    if "baseline" in report:
        _baseline(reporter, report["baseline"])
    failures = run.ledger.failures
    if failures:
        reporter.write_sep("-", "cleanup failures: resources may be left on the target")
        for failure in failures:
            reporter.write_line(redact(f"{failure.description}: {failure.error}"))


def _preflight(reporter: Any, adapters: list[dict[str, Any]]) -> None:
    """The adapters the preflight found unusable (the healthy ones say nothing)."""
    red = [a for a in adapters if not a["usable"]]
    if not red:
        return
    reporter.write_sep("-", "adapters the preflight found unusable")
    for adapter in red:
        failed = next((f for f in adapter["findings"] if f["status"] == "fail"), None)
        detail = f"{failed['check']}: {failed['detail']}" if failed else "unusable"
        reporter.write_line(f"{adapter['transport']:<11} {detail}")


def _baseline(reporter: Any, section: dict[str, Any]) -> None:
    """Changes since the baseline: identity warnings, verdicts, missing items, drift."""
    reporter.write_sep("-", f"changes since run {section['run_id']}")
    for warning in section["identity"]["warnings"]:
        reporter.write_line(f"WARNING: {warning}", yellow=True, bold=True)
    for change in section["changes"]:
        reporter.write_line(f"{change['kind'].upper():<11} {change['id']:<9} "
                            f"{change['before']} -> {change['after']}  {change['reason']}")
    if not section["changes"]:
        reporter.write_line("no verdict changed")
    if section["missing"]:
        reporter.write_line(f"MISSING     {len(section['missing'])} item(s) of the baseline "
                            f"are not in this run: {', '.join(section['missing'][:12])}"
                            + (" …" if len(section["missing"]) > 12 else ""))
    for row in section["drift"]:
        if row["status"] == "within":
            continue
        change = f"{row['change']:+.1%}" if row["change"] is not None else "n/a"
        reporter.write_line(
            f"DRIFT {row['status'].upper():<5} {row['id']:<9} {row['name']}: "
            f"{quantity(row['before'], row['unit'])} -> {quantity(row['after'], row['unit'])} "
            f"({change}, band ±{row['band']:.0%})")
