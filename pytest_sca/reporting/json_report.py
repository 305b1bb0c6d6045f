"""The JSON report (versioned; its JSON Schema is ``report.schema.json`` beside this file)."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..scoring import Score
from ..target import describe_secret_free
from ..verdicts import ItemResult

if TYPE_CHECKING:
    from . import Evaluation

SCHEMA_VERSION = "1.2"


def schema() -> dict[str, Any]:
    """The JSON Schema the report validates against."""
    text = (resources.files("pytest_sca") / "reporting" / "report.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _score_dict(entry: Score) -> dict[str, Any]:
    return entry.to_dict()


def build(evaluation: Evaluation) -> dict[str, Any]:
    """The report as a JSON-ready dict (already free of secrets: the caller masks the text)."""
    run = evaluation.run
    catalog = run.catalog
    assert run.target is not None
    scores = evaluation.scores
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-sca", "version": __version__},
        "standard": {
            "edition": catalog.edition.id,
            "title_zh": catalog.edition.title_zh,
            "title_en": catalog.edition.title_en,
            "status": catalog.edition.status,
        },
        "target": describe_secret_free(run.target),
        "run": {
            "id": run.run_id,
            "started": _iso(run.started),
            "finished": _iso(evaluation.finished),
            "readonly": run.options.readonly,
            "disruptive": run.options.disruptive,
            "sandbox_faults": list(run.options.sandbox_faults),
            "fail_on": run.options.fail_on,
            "workers": run.workers,
            "ran_alone": sorted(run.ran_alone),
        },
        "scope": evaluation.scope,
        "preflight": run.preflight,
        "grading": {"scheme": scores.scheme.id, "status": scores.scheme.status,
                    "weights": dict(scores.scheme.weights)},
        "items": [item_dict(result, evaluation) for result in evaluation.items],
        "subdomains": [
            {"id": sub.id, "domain": sub.domain, "name_zh": sub.name_zh, "name_en": sub.name_en,
             **_score_dict(scores.subdomains[sub.id])}
            for sub in catalog.subdomains if sub.id in scores.subdomains
        ],
        "domains": [
            {"id": dom.id, "chapter": dom.chapter, "name_zh": dom.name_zh,
             "name_en": dom.name_en, **_score_dict(scores.domains[dom.id])}
            for dom in catalog.domains if dom.id in scores.domains
        ],
        "overall": {**_score_dict(scores.overall), "grade": evaluation.grade,
                    "grade_status": scores.scheme.status,
                    "grade_withheld": None if evaluation.complete
                    else "partial evaluation — not a grade",
                    "conformant": evaluation.conformant},
        "cleanup_failures": [
            {"description": f.description, "error": f.error} for f in run.ledger.failures
        ],
    }


def masked(evaluation: Evaluation, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report with every secret masked: what every file output is made from."""
    text = json.dumps({**build(evaluation), **(extra or {})}, ensure_ascii=False)
    return json.loads(evaluation.run.redact(text))  # type: ignore[no-any-return]


def write(report: dict[str, Any], path: Path) -> Path:
    """Write an (already masked) report to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def item_dict(result: ItemResult, evaluation: Evaluation) -> dict[str, Any]:
    """One item of the JSON report."""
    clause = evaluation.run.catalog.item(result.id)
    return {
        "id": clause.id,
        "chapter": clause.chapter,
        "domain": clause.domain,
        "subdomain": clause.subdomain,
        "level": clause.level,
        "source": clause.source,
        "text_zh": clause.text_zh,
        "text_en": clause.text_en,
        "verdict": result.verdict.value,
        "conformant": result.conformant,
        "automated_verdict": result.automated_verdict.value if result.automated_verdict else None,
        "reason": result.reason,
        "notes": result.notes,
        "tests": [
            {"nodeid": t.nodeid, "outcome": t.verdict.value, "reason": t.reason,
             "duration": t.duration,
             "verdict": (t.shown or t.verdict).value, "verdict_reason": t.shown_reason,
             "conformant": t.shown_conformant, "measurements": t.measurements,
             "route": t.route}
            for t in result.tests
        ],
        "evidence": [e for t in result.tests for e in t.evidence],
        "measurements": [m for t in result.tests for m in t.measurements],
        "manual": _jsonable(result.evidence),
        "waiver": _jsonable(result.waiver),
    }


def _jsonable(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in entry.items()}
