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
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.metrics import render_metrics
from pytest_sca.sandbox.store import Document, new_id, utc_now

if TYPE_CHECKING:
    from pytest_sca.sandbox.core import SandboxPlatform

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
#: Free disk share below which a node's disk is a warning.
DISK_WARNING_FREE = 0.05


def _samples(platform: SandboxPlatform) -> list[tuple[str, dict[str, str], float]]:
    body, _ = render_metrics(platform)
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]


def evaluate_rules(platform: SandboxPlatform) -> list[Document]:
    """Evaluate every rule now; the firing alerts. Records a notification on each new firing."""
    store = platform.store
    rules = store.list("alertrule")
    if not rules or Fault.ALERTS_NEVER_FIRE in platform.faults:
        return []
    samples = _samples(platform)
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
                    "tenant_id": rule["tenant_id"], "since": rule.get("_firing_since") or utc_now(),
                })
            if hits and not rule.get("_firing_since"):
                rule["_firing_since"] = utc_now()
                store.put("alertrule", rule)
                store.put("notification", {
                    "id": new_id("notif"), "rule_id": rule["id"], "channel": rule["channel"],
                    "tenant_id": rule["tenant_id"], "time": utc_now(), "created_at": utc_now(),
                    "message": f"{rule['name']}: {rule['metric']} {rule['op']} "
                               f"{rule['threshold']} on {len(hits)} series",
                    "labels": {},
                })
            elif not hits and rule.get("_firing_since"):
                rule["_firing_since"] = None
                store.put("alertrule", rule)
    return firing


def _ssh_reachable(ssh: dict[str, Any]) -> tuple[str, str]:
    try:
        with socket.create_connection((ssh["host"], int(ssh["port"])), timeout=2.0) as sock:
            banner = sock.recv(64).decode("ascii", "replace").strip()
    except OSError as exc:
        return "error", f"cannot reach SSH at {ssh['host']}:{ssh['port']}: {exc}"
    if not banner.startswith("SSH-"):
        return "error", f"no SSH banner at {ssh['host']}:{ssh['port']}"
    return "ok", f"SSH answers at {ssh['host']}:{ssh['port']} ({banner})"


def diagnose_node(platform: SandboxPlatform, node: Document) -> Document:
    """Component verdicts of one node: reachability, disk, accelerators, scheduling health."""
    components: list[Document] = []
    if node.get("ssh"):
        status, detail = _ssh_reachable(node["ssh"])
        components.append({"component": "ssh", "status": status, "detail": detail})
        disk = shutil.disk_usage(platform.state_dir)
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
    components.append({
        "component": "node", "status": "ok" if node["health"] == "healthy" else "error",
        "detail": f"scheduler sees the node {node['health']}",
    })
    if Fault.DIAGNOSIS_REPORTS_NOTHING in platform.faults:
        components = []
    worst = _worst(c["status"] for c in components)
    return {"node_id": node["id"], "verdict": worst, "components": components}


def diagnose_cluster(platform: SandboxPlatform, cluster: Document) -> Document:
    """One-click diagnosis of a cluster: every node's component verdicts and the worst."""
    nodes = [platform.store.get("node", n) for n in cluster["node_ids"]]
    reports = [diagnose_node(platform, n) for n in nodes if n is not None]
    return {
        "id": new_id("diag"), "cluster_id": cluster["id"], "kind": cluster["kind"],
        "verdict": _worst(r["verdict"] for r in reports), "nodes": reports,
        "created_at": utc_now(), "labels": {},
    }


def _worst(statuses: Any) -> str:
    order = {"ok": 0, "warning": 1, "error": 2}
    found = list(statuses)
    return max(found, key=lambda s: order.get(s, 2)) if found else "ok"


def burst_policy(platform: SandboxPlatform) -> Document:
    """The declared policy by which off-cloud resources burst into the platform's clusters."""
    rules = [] if Fault.BURST_POLICY_ABSENT in platform.faults else [
        {"source": "on-premises", "target": c["id"], "weight": weight,
         "threshold_utilization": 0.8, "max_cards": 16}
        for c, weight in zip(
            [c for c in platform.store.list("cluster") if c["tenant_id"] is None],
            (0.7, 0.3), strict=False)
    ]
    return {"enabled": bool(rules), "rules": rules, "simulated": True}
