"""6.4 监控运维 Monitoring and operations."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest

from pytest_sca.capabilities import MetricSample
from pytest_sca.capabilities.exporters import DIMENSIONS, Exporter, metric_table
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

ALERT_WAIT_S = 15.0


def _table(sca: CheckContext) -> dict[str, Exporter]:
    return metric_table(sca.settings.metrics.names)


def _series(samples: Iterable[MetricSample], table: dict[str, Exporter], dimension: str
            ) -> dict[tuple[str, str], list[MetricSample]]:
    """(exporter, metric) → samples of ``dimension`` that carry the exporter's node label."""
    by_name: dict[str, list[MetricSample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    found = {}
    for exporter_name, exporter in table.items():
        metric = exporter.names.get(dimension)
        hits = [s for s in by_name.get(metric or "", []) if s.labels.get(exporter.node_label)]
        if metric and hits:
            found[(exporter_name, metric)] = hits
    return found


def _all_samples(metrics: Any) -> list[MetricSample]:
    return [sample for family in metrics.scrape() for sample in family.samples]


def _source(metrics: Any) -> str:
    """Which provider the samples came from (a vendor's adapter may not say)."""
    return str(getattr(metrics, "source", type(metrics).__name__))


@pytest.mark.clause("6.4.a")
def test_cluster_node_and_card_monitoring(sca: CheckContext, metrics: Any, compute: Any
                                          ) -> None:
    """Every node with accelerators has node-level series, and one series per card it holds
    (cluster level: the node series carry their cluster, or a cluster label exists)."""
    table = _table(sca)
    samples = _all_samples(metrics)
    node_series = _series(samples, table, "cpu")
    card_series = _series(samples, table, "accelerator")
    nodes = [n for n in compute.list_nodes() if n.get("accelerators")]
    assert nodes, "[6.4.a] the inventory lists no node with accelerators to look for"
    node_label_values = {s.labels.get(table[e].node_label) for (e, _), ss in node_series.items()
                         for s in ss}
    cards: dict[str, set[str]] = {}
    for (exporter, _), hits in card_series.items():
        card_label = table[exporter].card_label or "index"
        for s in hits:
            cards.setdefault(str(s.labels.get(table[exporter].node_label)), set()).add(
                str(s.labels.get(card_label)))
    report = {}
    for node in nodes:
        names = {node["id"], node.get("hostname")}
        report[node["id"]] = {
            "node series": bool(names & node_label_values),
            "card series": max(len(cards.get(str(n), ())) for n in names),
            "cards": len(node["accelerators"]),
        }
    sca.evidence("metrics source", _source(metrics))
    sca.evidence("series per node", report)
    no_node = [node for node, r in report.items() if not r["node series"]]
    no_cards = [node for node, r in report.items() if r["card series"] < r["cards"]]
    assert not no_node, f"[6.4.a] no node-level series for nodes {no_node}"
    assert not no_cards, (f"[6.4.a] no per-card series for every card of nodes {no_cards}: "
                          f"{ {n: report[n]['card series'] for n in no_cards} }")


@pytest.mark.clause("6.4.b")
@pytest.mark.mutating
def test_alert_rule_fires_and_notifies(sca: CheckContext, alerting: Any, metrics: Any,
                                       cleanup: Cleanup) -> None:
    """A rule whose threshold the current load is above (synthetic condition) fires and is
    notified within 15 s; a rule no sample can meet stays silent."""
    table = _table(sca)
    candidates = _series(_all_samples(metrics), table, "cpu")
    assert candidates, "[6.4.b] no node CPU series to set an alert rule on"
    (_, metric), samples = next(iter(candidates.items()))
    lowest = min(s.value for s in samples)
    firing = alerting.create_rule(sca.name("fires"), metric, lowest - 1.0, op=">",
                                  labels=sca.labels)
    silent = alerting.create_rule(sca.name("silent"), metric, 1e15, op=">", labels=sca.labels)
    deadline = time.monotonic() + ALERT_WAIT_S
    delay = 0.2
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alerts = alerting.alerts()
        if any(a.get("rule_id") == firing["id"] for a in alerts):
            break
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    fired = [a for a in alerts if a.get("rule_id") == firing["id"]]
    wrongly = [a for a in alerts if a.get("rule_id") == silent["id"]]
    sent = [n for n in alerting.notifications() if n.get("rule_id") == firing["id"]]
    sca.evidence("alerts", {"rule": firing, "fired": fired[:3], "notifications": sent})
    assert fired, (f"[6.4.b] rule {firing['id']} on {metric} > {lowest - 1.0:g} never fired "
                   f"within {ALERT_WAIT_S:g} s")
    assert not wrongly, f"[6.4.b] rule {silent['id']} fired although no sample meets it"
    assert sent, f"[6.4.b] rule {firing['id']} fired but no notification was sent"


@pytest.mark.clause("6.4.c")
def test_one_click_diagnosis_of_both_cluster_kinds(sca: CheckContext, clusters: Any,
                                                   diagnosis: Any) -> None:
    """Diagnosing one bare-metal and one container cluster returns a verdict per component
    of every node."""
    reports = {}
    for kind in ("baremetal", "container"):
        found = [c for c in clusters.list_clusters(kind=kind) if c.get("node_ids")]
        assert found, f"[6.4.c] the platform lists no {kind} cluster with nodes to diagnose"
        reports[kind] = diagnosis.diagnose_cluster(found[0]["id"])
    sca.evidence("diagnosis", reports)
    for kind, report in reports.items():
        nodes = report.get("nodes") or []
        assert nodes, f"[6.4.c] diagnosis of {kind} cluster {report.get('cluster_id')} " \
                      f"covered no node"
        for node in nodes:
            verdicts = [c for c in node.get("components") or []
                        if c.get("status") in ("ok", "warning", "error")]
            assert verdicts, (f"[6.4.c] diagnosis of {kind} cluster {report.get('cluster_id')}"
                              f" gave no component verdict for node {node.get('node_id')}")


@pytest.mark.clause("6.4.d")
def test_load_rate_of_five_dimensions(sca: CheckContext, metrics: Any) -> None:
    """CPU, memory, disk, accelerator and network load each have a current value for at
    least one node."""
    table = _table(sca)
    samples = _all_samples(metrics)
    found = {dimension: _series(samples, table, dimension) for dimension in DIMENSIONS}
    sca.evidence("metrics source", _source(metrics))
    sca.evidence("load series", {d: sorted(m for _, m in f) for d, f in found.items()})
    missing = [d for d, f in found.items() if not f]
    assert not missing, f"[6.4.d] no load series for any node of: {', '.join(missing)}"
