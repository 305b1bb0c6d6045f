"""JUnit XML (``--junitxml``): pytest writes it; the plugin makes it tell the sca verdict.

- Each clause test's ``<testcase>`` gets properties from its teardown report
  (:func:`test_properties`): ``sca_clause``, ``sca_verdict``, ``sca_conformant``,
  ``sca_automated_verdict``, ``sca_reason`` and one ``sca_measurement`` per measurement.
- Once the run's report exists, :func:`finish` rewrites the file from it: the item's
  verdict on every testcase (``sca_item_verdict``), the run's score, grade, scope and
  identity as ``<testsuite>`` properties, and the element each verdict maps to
  (:data:`~pytest_sca.outcome.PRESENTATION`) — pytest reports an error inside a check's
  call as a ``<failure>``; an sca ``error`` is an ``<error>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ..outcome import PRESENTATION, presentation_key
from ..verdicts import ItemResult
from .numbers import grade_text, measurement_text, percent


def written_by_pytest(config: pytest.Config) -> Path | None:
    """The file pytest's JUnit plugin writes (``--junitxml``), or ``None``."""
    from _pytest.junitxml import xml_key

    writer = config.stash.get(xml_key, None)
    return Path(writer.logfile) if writer is not None else None


def test_properties(result: ItemResult) -> list[tuple[str, str]]:
    """The JUnit properties of one test (``result`` resolves that test alone)."""
    record = result.tests[0]
    properties = [
        ("sca_verdict", result.verdict.value),
        ("sca_conformant", "true" if result.conformant else "false"),
        ("sca_automated_verdict", record.verdict.value),
        ("sca_reason", result.reason),
    ]
    properties += [("sca_measurement", measurement_text(m)) for m in record.measurements]
    return properties


def suite_properties(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's identity, scope and result, for every ``<testsuite>``."""
    overall, scope, target = report["overall"], report["scope"], report["target"]
    return [
        ("sca_target", target["name"]),
        ("sca_target_fingerprint", target["fingerprint"]),
        ("sca_standard", report["standard"]["edition"]),
        ("sca_tool_version", report["tool"]["version"]),
        ("sca_run_id", report["run"]["id"]),
        ("sca_score", f"{overall['score']:.6f}"),
        ("sca_score_text", percent(overall["score"])),
        ("sca_grade", grade_text(overall)),
        ("sca_conformant", "true" if overall["conformant"] else "false"),
        ("sca_scope", scope["statement"]),
        ("sca_partial", "true" if not scope["complete"] else "false"),
        ("sca_selection", scope["selection_text"] or "the whole catalogue"),
    ]


def _properties(element: ET.Element) -> dict[str, str]:
    node = element.find("properties")
    if node is None:
        return {}
    return {p.get("name", ""): p.get("value", "") for p in node.findall("property")}


def _add_properties(element: ET.Element, values: list[tuple[str, str]], first: bool) -> None:
    node = element.find("properties")
    if node is None:
        node = ET.Element("properties")
        if first:
            element.insert(0, node)
        else:
            element.append(node)
    for name, value in values:
        ET.SubElement(node, "property", name=name, value=value)


def finish(path: Path, report: dict[str, Any]) -> None:
    """Rewrite pytest's JUnit file so that it agrees with the (masked) sca report."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return
    root = tree.getroot()
    items = {item["id"]: item for item in report["items"]}
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        _add_properties(suite, suite_properties(report), first=True)
        for case in suite.iter("testcase"):
            properties = _properties(case)
            clause, verdict = properties.get("sca_clause"), properties.get("sca_verdict")
            if clause is None or verdict is None:
                continue
            if clause in items:
                item = items[clause]
                _add_properties(case, [("sca_item_verdict", item["verdict"]),
                                       ("sca_item_conformant",
                                        "true" if item["conformant"] else "false")],
                                first=False)
            wanted = PRESENTATION[presentation_key(
                verdict, properties.get("sca_conformant") == "true")].junit
            for element in case:
                if element.tag in ("failure", "error") and wanted in ("failure", "error"):
                    element.tag = wanted
        _recount(suite)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _recount(suite: ET.Element) -> None:
    """The suite's counts after elements were renamed."""
    cases = list(suite.iter("testcase"))
    for attribute, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        if attribute in suite.attrib:
            suite.set(attribute, str(sum(1 for c in cases if c.find(tag) is not None)))
