"""The terminal summary: one row per domain, the overall score and grade, then what failed."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from ..verdicts import Verdict

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
    reporter.write_line(
        f"grade: {scores.grade} ({scores.scheme.status} scheme {scores.scheme.id}); "
        f"run id {run.run_id}; report {run.options.json_path}")
    problems = [r for r in evaluation.items
                if r.verdict in (Verdict.FAIL, Verdict.ERROR)
                and catalog.item(r.id).level == "shall"]
    if problems:
        reporter.write_sep("-", "shall items that failed or could not be checked")
        for result in problems:
            reporter.write_line(f"{result.verdict.value.upper():<6} {result.id:<9} "
                                f"{redact(result.reason)}")
    measured = [(r.id, m) for r in evaluation.items for t in r.tests for m in t.measurements]
    if measured:
        reporter.write_sep("-", "measurements")
        for item_id, m in measured:
            threshold = (f" (threshold {m['comparison'] or ''}{m['threshold']} {m['unit']}"
                         f", {m['threshold_source'] or 'declared'})"
                         if m.get("threshold") is not None else "")
            reporter.write_line(f"{item_id:<9} {m['name']}: {m['value']:.4g} {m['unit']}"
                                f"{threshold}")
    changes = (evaluation.report or {}).get("baseline", {}).get("changes", [])
    if evaluation.report and "baseline" in evaluation.report:
        reporter.write_sep("-", f"changes since run {evaluation.report['baseline']['run_id']}")
        for change in changes:
            reporter.write_line(f"{change['kind'].upper():<11} {change['id']:<9} "
                                f"{change['before']} -> {change['after']}  {change['reason']}")
        if not changes:
            reporter.write_line("no verdict changed")
    failures = run.ledger.failures
    if failures:
        reporter.write_sep("-", "cleanup failures: resources may be left on the target")
        for failure in failures:
            reporter.write_line(redact(f"{failure.description}: {failure.error}"))
