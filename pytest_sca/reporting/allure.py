"""Allure integration: labels from the catalogue, the run's environment, and results that
tell the sca verdict.

epic = domain, feature = subdomain, story = item id and title, severity from
level (shall → critical, may → minor), the requirement text as description.
allure-pytest writes each test's result as it ends, from pytest's outcome and the
exception; once the run's report exists, :func:`finish` rewrites every result from
it: status and message from the test's verdict (:data:`~pytest_sca.outcome.PRESENTATION`),
labels ``sca_verdict`` (the item's) and ``sca_test_verdict``, parameters for the verdict
and each measurement. ``executor.json`` names the report after the sca score and grade:
Allure's own percentage counts tests, not the standard's weighted items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..catalog import Catalog
from ..collection import clause_id_of
from ..outcome import PRESENTATION, presentation_key
from ..redaction import Redactor
from .numbers import grade_text, percent, quantity, threshold_text

_SEVERITY = {"shall": "critical", "may": "minor"}
_NODEID_LABEL = "sca_test"


def label_items(items: list[pytest.Item], catalog: Catalog) -> None:
    """Add allure-pytest's label and description markers to every clause check."""
    for item in items:
        clause_id = clause_id_of(item)
        if clause_id is None:
            continue
        clause = catalog.item(clause_id)
        domain = catalog.domain(clause.domain)
        sub = catalog.subdomain(clause.subdomain)
        labels = {
            "epic": f"{domain.chapter} {domain.name_zh} {domain.name_en}",
            "feature": f"{sub.id} {sub.name_zh} {sub.name_en}",
            "story": f"{clause.id} {clause.text_en}",
            "severity": _SEVERITY[clause.level],
            "tag": clause.level,
            # Which test a result is, for :func:`finish` (allure-pytest keeps no node id).
            _NODEID_LABEL: item.nodeid,
        }
        for label_type, value in labels.items():
            item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
        description = (f"[{clause.id}] ({clause.level}, {clause.source})\n\n{clause.text_zh}\n\n"
                       f"{clause.text_en}\n\nHow it is checked: {clause.how_to_check}")
        item.add_marker(pytest.mark.allure_description(description))


def write_environment(alluredir: str, report: dict[str, Any]) -> None:
    """Allure's ``environment.properties`` from the (masked) report: target, edition, tool
    version, run id, score, grade, conformance and scope."""
    overall = report["overall"]
    values = {
        "sca.target": report["target"]["name"],
        "sca.target.fingerprint": report["target"]["fingerprint"],
        "sca.standard": report["standard"]["edition"],
        "sca.tool.version": report["tool"]["version"],
        "sca.run.id": report["run"]["id"],
        "sca.score": f"{overall['score']:.3f}",
        "sca.grade": grade_text(overall),
        "sca.conformant": "yes" if overall["conformant"] else "no",
        "sca.scope": report["scope"]["statement"],
    }
    folder = Path(alluredir)
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={_escape(value)}\n" for key, value in values.items())
    (folder / "environment.properties").write_text(text, encoding="utf-8")


def finish(alluredir: str, report: dict[str, Any]) -> None:
    """Rewrite every clause test's result from the (masked) report, and name the report."""
    folder = Path(alluredir)
    if not folder.is_dir():
        return
    tests = {test["nodeid"]: (item, test) for item in report["items"] for test in item["tests"]}
    for path in folder.glob("*-result.json"):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        nodeid = next((label.get("value") for label in result.get("labels", [])
                       if label.get("name") == _NODEID_LABEL), None)
        if nodeid not in tests:
            continue
        item, test = tests[nodeid]
        _rewrite(result, item, test)
        path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    overall = report["overall"]
    scope = report["scope"]
    name = (f"pytest-sca: {report['target']['name']} — score {percent(overall['score'])}, "
            f"{'conformant' if overall['conformant'] else 'not conformant'}, ")
    name += f"grade {grade_text(overall)}" if scope["complete"] else scope["statement"]
    executor = {"name": "pytest-sca", "type": "pytest-sca", "reportName": name,
                "buildName": f"run {report['run']['id']}"}
    (folder / "executor.json").write_text(json.dumps(executor, ensure_ascii=False),
                                          encoding="utf-8")
    (folder / "categories.json").write_text(json.dumps(_CATEGORIES), encoding="utf-8")


#: Allure categories (by status and message) that keep sca's verdicts apart.
_CATEGORIES = [
    {"name": "sca: fail (requirement not met)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s)(?!manual ).*"},
    {"name": "sca: manual fail (evaluator's verdict)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s)manual .*"},
    {"name": "sca: error (could not be checked)", "matchedStatuses": ["broken"]},
    {"name": "sca: not assessed", "matchedStatuses": ["skipped"],
     "messageRegex": "(?s)not_assessed: .*"},
    {"name": "sca: waived", "matchedStatuses": ["skipped"], "messageRegex": "(?s)waived: .*"},
]


def _rewrite(result: dict[str, Any], item: dict[str, Any], test: dict[str, Any]) -> None:
    key = presentation_key(test["verdict"], test["conformant"])
    result["status"] = PRESENTATION[key].allure
    details = dict(result.get("statusDetails") or {})
    details["message"] = f"{key}: {test['verdict_reason']}" if test["verdict_reason"] else key
    if key in ("pass", "manual pass", "not_assessed", "waived"):
        details.pop("trace", None)
    result["statusDetails"] = details
    labels = [label for label in result.get("labels", [])
              if label.get("name") not in ("sca_verdict", "sca_test_verdict")]
    labels += [{"name": "sca_verdict", "value": item["verdict"]},
               {"name": "sca_test_verdict", "value": test["verdict"]}]
    result["labels"] = labels
    parameters = [p for p in result.get("parameters", [])
                  if not str(p.get("name", "")).startswith("sca ")]
    parameters += [
        {"name": "sca verdict", "value": key, "excluded": True},
        {"name": "sca item verdict", "value": item["verdict"], "excluded": True},
        {"name": "sca automated verdict", "value": test["outcome"], "excluded": True},
    ]
    for measurement in test["measurements"]:
        value = quantity(measurement["value"], measurement.get("unit", ""))
        threshold = threshold_text(measurement)
        parameters.append({"name": f"sca measurement {measurement['name']}",
                           "value": f"{value} (threshold {threshold})" if threshold else value,
                           "excluded": True})
    result["parameters"] = parameters


def mask_results(alluredir: str, redact: Redactor) -> None:
    """Mask secrets in every text file of the results folder.

    allure-pytest formats exceptions and fixture outcomes on its own, from
    objects the plugin does not see; this last pass makes sure nothing it
    wrote carries a secret.
    """
    if not redact:
        return
    for path in Path(alluredir).iterdir():
        if path.is_file():
            data = path.read_bytes()
            masked = redact.bytes(data)
            if masked != data:
                path.write_bytes(masked)


def _escape(value: str) -> str:
    """Java properties escaping for non-ASCII text and separators."""
    out = []
    for char in value:
        if char in "=:\\":
            out.append("\\" + char)
        elif ord(char) > 126:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)
