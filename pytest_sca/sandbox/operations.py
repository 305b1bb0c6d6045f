"""Operations: the resource analysis report, and the nodes' (simulated) NIC bonds.

The report is computed from the platform's real records: the inventory's
cards and who holds them, the usage records of the period, the jobs' outcomes
and the tenants' quotas; each recommendation names the figure it comes from.

Every node has a simulated active-backup bond of two ports. Taking a port
down fails the bond over to the other one, and the node's jobs keep running;
under ``bond_failover_off`` the bond goes down with its active port and the
jobs on the node are stopped, as on a node that lost its network.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.store import Document, Store, utc_now

#: Allocation ratio of a card model below which the report suggests scaling in.
LOW_ALLOCATION = 0.3
#: … and above which it suggests scaling out.
HIGH_ALLOCATION = 0.85
#: Share of a tenant's accelerator quota in use above which it suggests raising the quota.
QUOTA_PRESSURE = 0.8
#: Share of failed jobs in the period above which it suggests looking at the failures.
FAILURE_SHARE = 0.2

#: Under ``report_advice_names_retired_nodes``: the retired node of each cluster that the
#: asset register still lists.
RETIRED_PER_CLUSTER = 1

BOND_PORTS = ("eth0", "eth1")


def _ratio(row: dict[str, Any]) -> float:
    return round(row["allocated"] / row["total"], 4) if row["total"] else 0.0


def _network_answer(state: Document) -> Document:
    links = state["links"]
    bond_up = links.get(state["active"]) == "up"
    return {
        "node_id": state["id"],
        "simulated": True,
        "interfaces": [{"name": port, "state": links[port], "master": "bond0"}
                       for port in BOND_PORTS],
        "bonds": [{"name": "bond0", "mode": "active-backup", "members": list(BOND_PORTS),
                   "active_member": state["active"] if bond_up else None,
                   "state": "up" if bond_up else "down"}],
    }


class Operations:
    """The resource analysis report and the nodes' NIC bonds."""

    def __init__(self, store: Store, runner: JobRunner, faults: Faults) -> None:
        self.store = store
        self.runner = runner
        self.faults = faults

    def resource_report(self, period: str) -> Document:
        """Utilisation and usage of ``period`` (YYYY-MM), with recommendations."""
        store = self.store
        by_model: dict[str, dict[str, Any]] = {}
        by_cluster: dict[str, dict[str, Any]] = {}
        # At the sandbox's start no card is held: the stale snapshot counts none.
        stale = Fault.REPORT_ALLOCATION_STALE in self.faults
        for node in store.list("node"):
            for card in node["accelerators"]:
                held = card.get("allocated_to") is not None and not stale
                for table, key, extra in ((by_model, card["model"], {"vendor": card["vendor"]}),
                                          (by_cluster, node["cluster_id"], {})):
                    row = table.setdefault(key, {"total": 0, "allocated": 0, **extra})
                    row["total"] += 1
                    row["allocated"] += int(held)
        total = sum(row["total"] for row in by_model.values())
        allocated = sum(row["allocated"] for row in by_model.values())
        seconds: dict[str, float] = defaultdict(float)
        per_tenant: dict[str, float] = defaultdict(float)
        for record in store.list("usage"):
            if record["end"].startswith(period):
                seconds[record["resource"]] += record["quantity"]
                if record["resource"] == "accelerator":
                    per_tenant[record["tenant_id"]] += record["quantity"] / 3600
        jobs = [j for j in store.list("job") if (j.get("created_at") or "").startswith(period)]
        failed = sum(1 for j in jobs if j["status"] == "failed")
        report: Document = {
            "period": period,
            "generated_at": utc_now(),
            "simulated": True,
            "accelerators": {
                "total": total, "allocated": allocated, "idle": total - allocated,
                "allocation_ratio": round(allocated / total, 4) if total else 0.0,
                "by_model": [{"model": m, **row, "allocation_ratio": _ratio(row)}
                             for m, row in sorted(by_model.items())],
                "by_cluster": [{"cluster_id": c, **row, "allocation_ratio": _ratio(row)}
                               for c, row in sorted(by_cluster.items())],
            },
            "usage": {
                "card_hours": round(seconds["accelerator"] / 3600, 6),
                "core_hours": round(seconds["cpu"] / 3600, 6),
                "gib_hours": round(seconds["memory"] / 3600, 6),
                "by_tenant": [{"tenant_id": t, "card_hours": round(h, 6)}
                              for t, h in sorted(per_tenant.items())],
            },
            "jobs": {"submitted": len(jobs), "failed": failed},
            "recommendations": [],
        }
        if Fault.REPORT_WITHOUT_RECOMMENDATIONS not in self.faults:
            report["recommendations"] = self._recommendations(report)
        return report

    def _recommendations(self, report: Document) -> list[Document]:
        advice: list[Document] = []
        inverted = Fault.REPORT_ADVICE_INVERTED in self.faults
        for row in report["accelerators"]["by_model"]:
            idle = row["total"] - row["allocated"]
            if inverted:
                # The idle share read as the allocated one.
                idle = row["allocated"]
                row = {**row, "allocation_ratio":
                       round(1 - row["allocation_ratio"], 4) if row["total"] else 0.0}
            if row["allocation_ratio"] < LOW_ALLOCATION and idle >= 8:
                advice.append({
                    "kind": "scale_in", "severity": "info",
                    "subject": f"accelerators/{row['model']}",
                    "message": f"{idle} of {row['total']} {row['model']} cards are idle "
                               f"({row['allocation_ratio']:.0%} allocated): release or scale in "
                               f"nodes, or sell the idle capacity as spot instances"})
            elif row["allocation_ratio"] > HIGH_ALLOCATION:
                advice.append({
                    "kind": "scale_out", "severity": "warning",
                    "subject": f"accelerators/{row['model']}",
                    "message": f"{row['allocation_ratio']:.0%} of {row['model']} cards are "
                               f"allocated: add nodes before jobs start to queue"})
        for tenant in self.store.list("tenant"):
            limit = tenant["quota"].get("accelerators") or 0
            used = self.runner.quota_used(tenant["id"])["accelerators"]
            if limit and used / limit > QUOTA_PRESSURE:
                advice.append({
                    "kind": "raise_quota", "severity": "info", "subject": f"tenants/{tenant['id']}",
                    "message": f"tenant {tenant['name']} uses {used} of its {limit} accelerators: "
                               f"review its quota"})
        nodes = self.store.list("node")
        for node in nodes:
            if node["health"] != "healthy":
                advice.append({
                    "kind": "repair", "severity": "warning", "subject": f"nodes/{node['id']}",
                    "message": f"node {node['id']} is {node['health']}: drain it and repair "
                               f"it before it takes work again"})
        if Fault.REPORT_ADVICE_NAMES_RETIRED_NODES in self.faults:
            # The asset register still holds the nodes retired from each cluster.
            for cluster in sorted({n["cluster_id"] for n in nodes}):
                retired = f"{cluster}-retired-{RETIRED_PER_CLUSTER}"
                advice.append({
                    "kind": "drain", "severity": "info", "subject": f"nodes/{retired}",
                    "message": f"node {retired} has held no card this period: drain it and "
                               f"return it to the pool"})
        jobs = report["jobs"]
        if jobs["submitted"] and jobs["failed"] / jobs["submitted"] > FAILURE_SHARE:
            advice.append({
                "kind": "investigate_failures", "severity": "warning", "subject": "jobs",
                "message": f"{jobs['failed']} of {jobs['submitted']} jobs this period failed: "
                           f"run the diagnosis on the failing nodes and images"})
        return advice

    def node_network(self, node_id: str) -> Document:
        """The node's (simulated) interfaces and bond."""
        if self.store.get("node", node_id) is None:
            raise not_found(f"node {node_id}")
        state = self.store.get("nodenet", node_id)
        if state is None:
            state = {"id": node_id, "links": {port: "up" for port in BOND_PORTS},
                     "active": BOND_PORTS[0], "created_at": utc_now(), "labels": {}}
        return _network_answer(state)

    def set_link(self, node_id: str, port: str, up: bool) -> Document:
        """Take one bond port down (or up again), as a link failure drill."""
        if port not in BOND_PORTS:
            raise ApiError(404, "not_found", f"interface {port} of node {node_id}")
        self.node_network(node_id)
        with self.store.lock:
            state = self.store.get("nodenet", node_id) or {
                "id": node_id, "links": {p: "up" for p in BOND_PORTS}, "active": BOND_PORTS[0],
                "created_at": utc_now(), "labels": {}}
            state["links"][port] = "up" if up else "down"
            stays = Fault.BOND_STAYS_ON_DEAD_PORT in self.faults
            if not up and state["active"] == port and Fault.BOND_FAILOVER_OFF not in self.faults \
                    and not stays:
                others = [p for p in BOND_PORTS if state["links"][p] == "up"]
                if others:
                    state["active"] = others[0]
            self.store.put("nodenet", state)
            if state["links"][state["active"]] == "down" and not stays:
                for job in self.store.list("job", status="running"):
                    if any(w.get("node_id") == node_id for w in job["workers"]):
                        self.runner.stop(job["id"])
        return _network_answer(state)
