"""Scheduling policy the placement function and the job runner share: queue order, card
topology, shared (fractional) cards, and the faults that break each of them.

A card record may carry ``shares`` (job id → fraction of the card) when jobs hold parts
of it; ``allocated_to`` then names one of those jobs, so that whatever only asks "is this
card busy?" still sees it busy.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document

#: The clusters a fresh sandbox starts with (inventory.seed_inventory).
SEEDED_CLUSTERS = ("bm-cluster", "k8s-cluster")


def pending_order(pending: Iterable[Document], faults: Faults) -> list[Document]:
    """Pending jobs in the order the scheduler tries them: higher priority first, then oldest.

    Under ``priority_ignored`` only the submission time counts; under ``queue_newest_first``
    the newest job goes first.
    """
    jobs = list(pending)
    if Fault.PRIORITY_IGNORED in faults:
        return sorted(jobs, key=lambda job: job["created_at"])
    if Fault.QUEUE_NEWEST_FIRST in faults:
        return sorted(jobs, key=lambda job: job["created_at"], reverse=True)
    return sorted(jobs, key=lambda job: (-int(job.get("priority") or 0), job["created_at"]))


def job_as_scheduled(job: Document, faults: Faults) -> Document:
    """The job as the scheduler reads it: under ``accelerator_model_ignored`` without its model."""
    if (Fault.ACCELERATOR_MODEL_IGNORED not in faults
            or not job["resources"].get("accelerator_model")):
        return job
    return {**job, "resources": {**job["resources"], "accelerator_model": None}}


def usable_nodes(nodes: list[Document], faults: Faults, job: Document
                 ) -> list[Document]:
    """Nodes the scheduler may place ``job`` on: those of the cluster it names, if any.

    Under ``single_cluster_scheduling`` only the first cluster's nodes; under
    ``new_clusters_unschedulable`` none of a cluster created after the first start.
    """
    wanted = job["resources"].get("cluster_id")
    if wanted:
        nodes = [node for node in nodes if node["cluster_id"] == wanted]
    if Fault.NEW_CLUSTERS_UNSCHEDULABLE in faults:
        nodes = [node for node in nodes if node["cluster_id"] in SEEDED_CLUSTERS]
    if Fault.SINGLE_CLUSTER_SCHEDULING not in faults or not nodes:
        return nodes
    first = sorted(node["cluster_id"] for node in nodes)[0]
    return [node for node in nodes if node["cluster_id"] == first]


def pick_cards(node: Document, free: list[int], count: int, topology_aware: bool) -> list[int]:
    """``count`` of the ``free`` card indices of ``node``.

    Topology-aware: the fullest switch group that still fits them all (so that large groups
    stay whole for large requests); otherwise, or when no group fits, the lowest indices.
    """
    if not topology_aware or count <= 1:
        return free[:count]
    switch_of = {card["index"]: (card.get("topology") or {}).get("switch")
                 for card in node["accelerators"]}
    groups: dict[str, list[int]] = {}
    for index in free:
        groups.setdefault(str(switch_of.get(index)), []).append(index)
    fitting = [cards for cards in groups.values() if len(cards) >= count]
    if not fitting:
        return free[:count]
    return min(fitting, key=len)[:count]


def shared_card(
    node: Document, candidates: list[int], share: float, taken: dict[tuple[str, int], float]
) -> int | None:
    """A card of ``candidates`` with ``share`` of it still free, or ``None``.

    Cards already shared are filled first; a whole-card holder never shares. ``taken``
    collects what this placement round has handed out already (node, index → fraction).
    """
    best: tuple[float, int] | None = None
    for card in node["accelerators"]:
        index = card["index"]
        if index not in candidates:
            continue
        shares = card.get("shares") or {}
        if card["allocated_to"] is not None and not shares:
            continue
        used = sum(shares.values()) + taken.get((node["id"], index), 0.0)
        if used + share <= 1.0 + 1e-9 and (best is None or used > best[0]):
            best = (used, index)
    if best is None:
        return None
    taken[(node["id"], best[1])] = taken.get((node["id"], best[1]), 0.0) + share
    return best[1]


def take_card(card: Document, job_id: str, share: float | None) -> None:
    """Give ``job_id`` the whole card, or ``share`` of it."""
    if share is None:
        card["allocated_to"] = job_id
        return
    card.setdefault("shares", {})[job_id] = share
    if card["allocated_to"] is None:
        card["allocated_to"] = job_id


def release_card(card: Document, job_id: str) -> None:
    """Take back what ``job_id`` held of the card."""
    shares = card.get("shares") or {}
    shares.pop(job_id, None)
    if shares:
        card["shares"] = shares
    else:
        card.pop("shares", None)
    if card["allocated_to"] == job_id:
        card["allocated_to"] = next(iter(shares), None)


def visible_accelerators(cards: list[int], faults: Faults) -> str:
    """``SCA_VISIBLE_ACCELERATORS`` of a worker: its cards (every card of a node under
    ``visible_devices_unisolated``)."""
    from pytest_sca.sandbox.inventory import CARDS_PER_NODE

    if Fault.VISIBLE_DEVICES_UNISOLATED in faults and cards:
        return ",".join(str(i) for i in range(CARDS_PER_NODE))
    return ",".join(str(i) for i in cards)


def cards_handed_out(node: Document, job: Document, reserved: list[int],
                     handed: set[int], faults: Faults) -> list[int]:
    """The cards a worker is given on ``node``: those the scheduler ``reserved`` for it.

    Under ``job_record_cards_misreported`` the node's lowest-numbered cards (of the model the
    job asked for) that no other job holds and no earlier worker was ``handed`` (updated),
    whatever was reserved: a device allocator that ignores the scheduler's choice.
    """
    if Fault.JOB_RECORD_CARDS_MISREPORTED not in faults or not reserved:
        return list(reserved)
    model = job["resources"].get("accelerator_model")

    def free(card: Document) -> bool:
        others = set(card.get("shares") or {}) - {job["id"]}
        return (card["allocated_to"] in (None, job["id"]) and not others
                and (model is None or card["model"] == model) and card["index"] not in handed)

    lowest = [card["index"] for card in sorted(node["accelerators"], key=lambda c: c["index"])
              if free(card)][:len(reserved)]
    if len(lowest) < len(reserved):
        return list(reserved)
    handed.update(lowest)
    return lowest


def node_started_on(nodes: list[Document], reserved: str, faults: Faults) -> str:
    """The node a worker is started on: the one the scheduler ``reserved``; under
    ``job_record_nodes_misreported`` the next node of its cluster, in inventory order."""
    if Fault.JOB_RECORD_NODES_MISREPORTED not in faults:
        return reserved
    cluster = next((n["cluster_id"] for n in nodes if n["id"] == reserved), None)
    peers = [n["id"] for n in nodes if n["cluster_id"] == cluster]
    if reserved not in peers:
        return reserved
    return str(peers[(peers.index(reserved) + 1) % len(peers)])


def cards_exported(node: Document, faults: Faults) -> list[Document]:
    """The cards of ``node`` that /metrics reports (none under ``accelerator_metrics_missing``)."""
    return [] if Fault.ACCELERATOR_METRICS_MISSING in faults else list(node["accelerators"])
