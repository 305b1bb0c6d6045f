"""``compute``: nodes, CPUs, memory and GRES accelerators by type, partitions as clusters.

A node's accelerators are the items of its ``gres`` whose name is an accelerator GRES
(``adapters.slurm.accelerator_gres``: gpu, npu, mlu…), one card per unit, numbered as Slurm
numbers them (the ``IDX`` of ``gres_used`` and of a job's ``gres_detail``); the model is the
GRES type, the vendor read from :data:`~pytest_sca.adapters.slurm.shapes.VENDOR_MODELS`. A card
is ``allocated_to`` the job whose ``gres_detail`` holds its index on that node (``"another
job"`` when that job is hidden from the caller by ``PrivateData``). A node's cluster is its
first partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.adapters.slurm.shapes import JobInfo, NodeInfo, parse_gres, vendor_of
from pytest_sca.capabilities import Accelerator, Node, PlatformInfo

#: Node states in which the node can run work (the rest are flags on them or failures).
HEALTHY_STATES = frozenset({"IDLE", "MIXED", "ALLOCATED", "COMPLETING", "PLANNED"})
#: State flags that take a node out of service.
UNHEALTHY_FLAGS = frozenset({"DOWN", "DRAIN", "DRAINED", "DRAINING", "FAIL", "FAILING",
                             "NOT_RESPONDING", "NO_RESPOND", "MAINTENANCE", "UNKNOWN",
                             "INVALID_REG", "INVALID", "FUTURE", "POWERED_DOWN",
                             "POWERING_DOWN", "REBOOT_REQUESTED"})
#: Job states whose cards are held.
HOLDING_STATES = frozenset({"RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "STOPPED",
                            "RESIZING", "SIGNALING", "STAGE_OUT"})
#: What a card held by a job the caller may not see is allocated to.
HIDDEN_HOLDER = "another job"


def accelerators(session: SlurmSession, node: NodeInfo, holders: dict[tuple[str, int], str]
                 ) -> list[Accelerator]:
    """The node's cards, numbered per GRES name as Slurm numbers them."""
    cards: list[Accelerator] = []
    wanted = set(session.config.accelerator_gres)
    used = {index for item in node.gres_used if item.name in wanted or item.name == "shard"
            for index in item.indices}
    next_index: dict[str, int] = {}
    for item in node.gres:
        if item.name not in wanted:
            continue
        vendor = vendor_of(item.name, item.type, session.config.vendor_models)
        for _ in range(item.count):
            index = next_index.get(item.name, 0)
            next_index[item.name] = index + 1
            holder = holders.get((node.name, index))
            if holder is None and index in used:
                holder = HIDDEN_HOLDER
            card: dict[str, Any] = {
                "index": index, "vendor": vendor,
                "model": item.type or item.name, "gres": item.name, "memory_gib": None,
                "allocated_to": holder, "simulated": False}
            if item.sockets:
                card["topology"] = {"socket": item.sockets}
            cards.append(card)  # type: ignore[arg-type]
    return cards


def card_holders(jobs: Iterable[JobInfo], names: Iterable[str]) -> dict[tuple[str, int], str]:
    """(node, card index) → the id of the live job that holds it (or a share of it)."""
    wanted = set(names) | {"shard"}
    held: dict[tuple[str, int], str] = {}
    for job in jobs:
        if job.state not in HOLDING_STATES:
            continue
        for node, detail in zip(job.nodes, job.gres_detail, strict=False):
            for item in parse_gres(detail):
                if item.name in wanted:
                    for index in item.indices:
                        held[(node, index)] = str(job.job_id)
    return held


def health(node: NodeInfo) -> str:
    """``healthy`` when the node can take work, else ``unhealthy``."""
    if node.states and node.states[0] in HEALTHY_STATES and not set(node.states[1:]) & \
            UNHEALTHY_FLAGS:
        return "healthy"
    return "unhealthy"


def node_record(session: SlurmSession, node: NodeInfo, holders: dict[tuple[str, int], str]
                ) -> Node:
    """A node in the contract's shape."""
    labels = {f"partition/{p}": "true" for p in node.partitions}
    labels.update({f"feature/{f}": "true" for f in node.features})
    if node.reason:
        labels["slurm/reason"] = node.reason
    return {
        "id": node.name, "cluster_id": node.partitions[0] if node.partitions else None,
        "hostname": node.hostname, "kind": "baremetal", "cpu": float(node.cpus),
        "memory_gib": round(node.memory_mb / 1024, 3),
        "accelerators": accelerators(session, node, holders), "health": health(node),
        "labels": labels, "topology": {}, "simulated": False,
    }


class SlurmCompute(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Compute` over slurmrestd."""

    def platform_info(self) -> PlatformInfo:
        session = self.subject
        return {"name": "slurm", "version": session.release() or "unknown",
                "api_version": session.rest.api.version, "simulated": False}

    def list_nodes(self, cluster_id: str | None = None) -> list[Node]:
        session = self.subject
        nodes = session.nodes()
        holders = card_holders(session.jobs(), session.config.accelerator_gres)
        return [node_record(session, node, holders) for node in nodes
                if cluster_id is None or cluster_id in node.partitions]

    def get_node(self, node_id: str) -> Node:
        session = self.subject
        node = session.node(node_id)
        holders = card_holders(session.jobs(), session.config.accelerator_gres)
        return node_record(session, node, holders)
