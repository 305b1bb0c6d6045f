"""Alert rules, their evaluation over the live /metrics, notifications, one-click diagnosis.

Rules are evaluated when alerts or notifications are read (the sandbox has no
background rule engine): each evaluation scrapes the platform's own exposition,
compares every matching sample with the rule's threshold, and records one
notification per rule each time it starts firing.
"""

from __future__ import annotations

import operator
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.errors import not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.metrics import MetricsExporter
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
#: Free disk share below which a node's disk is a warning.
DISK_WARNING_FREE = 0.05
#: The cluster a burst rule names under ``burst_target_unknown``: the platform has none such.
RETIRED_CLUSTER = "gpu-pool-retired"


def _ssh_reachable(ssh: dict[str, Any]) -> tuple[str, str]:
    try:
        with socket.create_connection((ssh["host"], int(ssh["port"])), timeout=2.0) as sock:
            banner = sock.recv(64).decode("ascii", "replace").strip()
    except OSError as exc:
        return "error", f"cannot reach SSH at {ssh['host']}:{ssh['port']}: {exc}"
    if not banner.startswith("SSH-"):
        return "error", f"no SSH banner at {ssh['host']}:{ssh['port']}"
    return "ok", f"SSH answers at {ssh['host']}:{ssh['port']} ({banner})"


def _worst(statuses: Any) -> str:
    order = {"ok": 0, "warning": 1, "error": 2}
    found = list(statuses)
    return max(found, key=lambda s: order.get(s, 2)) if found else "ok"


def _mine(who: Principal, doc: Document) -> bool:
    return bool(who.is_platform_admin or doc["tenant_id"] == who.tenant_id)


class Monitoring:
    """Alert rules and their notifications, one-click diagnosis, the burst policy."""

    def __init__(self, store: Store, exporter: MetricsExporter, state_dir: Path,
                 faults: Faults) -> None:
        self.store = store
        self.exporter = exporter
        self.state_dir = state_dir
        self.faults = faults

    # alert rules ---------------------------------------------------------------------------

    def rules(self, who: Principal) -> list[Document]:
        """The alert rules of ``who``'s tenant (every tenant's for a platform admin)."""
        return [r for r in self.store.list("alertrule") if _mine(who, r)]

    def create_rule(self, who: Principal, spec: dict[str, Any]) -> Document:
        """A rule of ``who``'s tenant."""
        rule = {"id": new_id("rule"), "tenant_id": who.tenant_id, "created_at": utc_now(),
                **spec}
        self.store.put("alertrule", rule)
        return rule

    def visible_rule(self, who: Principal, rule_id: str) -> Document:
        """A rule of ``who``'s tenant, or 404."""
        rule = self.store.get("alertrule", rule_id)
        if rule is None or not _mine(who, rule):
            raise not_found(f"alert rule {rule_id}")
        return rule

    def delete_rule(self, rule: Document) -> None:
        """Forget a rule."""
        self.store.delete("alertrule", rule["id"])

    def alerts(self, who: Principal) -> list[Document]:
        """The firing alerts of ``who``'s rules (evaluated now)."""
        return [a for a in self.evaluate_rules() if _mine(who, a)]

    def notifications(self, who: Principal) -> list[Document]:
        """Notifications sent for ``who``'s rules (rules evaluated first)."""
        self.evaluate_rules()
        return [n for n in self.store.list("notification") if _mine(who, n)]

    def _samples(self) -> list[tuple[str, dict[str, str], float]]:
        body, _ = self.exporter.render()
        return [
            (sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        ]

    def evaluate_rules(self) -> list[Document]:
        """Evaluate every rule now: the firing alerts; a rule that starts firing notifies."""
        store = self.store
        rules = store.list("alertrule")
        if not rules or Fault.ALERTS_NEVER_FIRE in self.faults:
            return []
        samples = self._samples()
        firing: list[Document] = []
        with store.lock:
            for rule in rules:
                compare = COMPARISONS[rule["op"]]
                hits = [
                    (labels, value) for name, labels, value in samples
                    if name == rule["metric"]
                    and all(labels.get(k) == v for k, v in rule["matchers"].items())
                    and compare(value, rule["threshold"])
                ]
                for labels, value in hits:
                    firing.append({
                        "rule_id": rule["id"], "name": rule["name"], "state": "firing",
                        "severity": rule["severity"], "labels": labels, "value": value,
                        "tenant_id": rule["tenant_id"],
                        "since": rule.get("_firing_since") or utc_now(),
                    })
                if hits and not rule.get("_firing_since"):
                    rule["_firing_since"] = utc_now()
                    store.put("alertrule", rule)
                    store.put("notification", self._notification(rule, hits))
                elif not hits and rule.get("_firing_since"):
                    rule["_firing_since"] = None
                    store.put("alertrule", rule)
        return firing

    def _notification(self, rule: Document, hits: list[tuple[dict[str, str], float]]
                      ) -> Document:
        """The notification of a rule that started firing on ``hits`` (labels, value): the
        series and values that fired, and a message naming the first."""
        told: list[dict[str, Any]] = [{"labels": labels, "value": value}
                                      for labels, value in hits]
        if Fault.NOTIFICATIONS_REPORT_THRESHOLD in self.faults:
            told = [{**series, "value": rule["threshold"]} for series in told]
        if Fault.NOTIFICATIONS_NAME_NO_SERIES in self.faults:
            told = []
        first = (f": {told[0]['labels'].get('node', '')} at {told[0]['value']}"
                 if told else "")
        return {
            "id": new_id("notif"), "rule_id": rule["id"], "channel": rule["channel"],
            "tenant_id": rule["tenant_id"], "time": utc_now(), "created_at": utc_now(),
            "message": f"{rule['name']}: {rule['metric']} {rule['op']} {rule['threshold']} "
                       f"on {len(hits)} series{first}",
            "alerts": told, "labels": {},
        }

    def diagnose_node(self, node: Document) -> Document:
        """Component verdicts of one node: reachability, disk, accelerators, scheduling health."""
        components: list[Document] = []
        if node.get("ssh"):
            status, detail = _ssh_reachable(node["ssh"])
            components.append({"component": "ssh", "status": status, "detail": detail})
            disk = shutil.disk_usage(self.state_dir)
            free = disk.free / max(1, disk.total)
            components.append({
                "component": "disk", "status": "warning" if free < DISK_WARNING_FREE else "ok",
                "detail": f"{free:.1%} free of {disk.total} bytes",
            })
        cards = node["accelerators"]
        components.append({
            "component": "accelerators", "status": "ok" if cards else "warning",
            "detail": f"{len(cards)} card(s) reported healthy (simulated)" if cards
            else "no accelerator reported", "simulated": True,
        })
        healthy = node["health"] == "healthy"
        if Fault.DIAGNOSIS_NODE_HEALTH_INVERTED in self.faults:
            healthy = not healthy
        components.append({
            "component": "node", "status": "ok" if healthy else "error",
            "detail": f"scheduler sees the node {node['health']}",
        })
        if Fault.DIAGNOSIS_REPORTS_NOTHING in self.faults:
            components = []
        worst = _worst(c["status"] for c in components)
        return {"node_id": node["id"], "verdict": worst, "components": components}

    def diagnose_cluster(self, cluster: Document) -> Document:
        """One-click diagnosis of a cluster: every node's component verdicts and the worst."""
        nodes = [self.store.get("node", n) for n in cluster["node_ids"]]
        if Fault.DIAGNOSIS_SKIPS_NODES in self.faults:
            nodes = nodes[:1]
        reports = [self.diagnose_node(n) for n in nodes if n is not None]
        return {
            "id": new_id("diag"), "cluster_id": cluster["id"], "kind": cluster["kind"],
            "verdict": _worst(r["verdict"] for r in reports), "nodes": reports,
            "created_at": utc_now(), "labels": {},
        }

    def burst_policy(self) -> Document:
        """The declared policy by which off-cloud resources burst into the platform's clusters."""
        rules = [] if Fault.BURST_POLICY_ABSENT in self.faults else [
            {"source": "on-premises", "target": c["id"], "weight": weight,
             "threshold_utilization": 0.8, "max_cards": 16}
            for c, weight in zip(
                [c for c in self.store.list("cluster") if c["tenant_id"] is None],
                (0.7, 0.3), strict=False)
        ]
        if rules and Fault.BURST_TARGET_UNKNOWN in self.faults:
            # A cluster retired long ago that the policy still names.
            rules[-1]["target"] = RETIRED_CLUSTER
        return {"enabled": bool(rules), "rules": rules, "simulated": True}
