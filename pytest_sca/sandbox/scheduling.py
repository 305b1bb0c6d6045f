"""Placing a job's workers on nodes with free capacity: a pure function over records.

Each worker needs ``resources`` on one node: CPU and memory out of the node's
totals, and ``accelerators`` free cards (of ``accelerator_model`` if named).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_sca.sandbox.scheduling_policy import pick_cards, shared_card
from pytest_sca.sandbox.store import Document


@dataclass
class Placement:
    """Where one worker runs: the node and the card indices it holds there."""

    node_id: str
    accelerators: list[int] = field(default_factory=list)
    #: The fraction of the one card held by a shared-card request; ``None`` = whole cards.
    share: float | None = None


@dataclass
class _NodeRoom:
    node: Document
    cpu: float
    memory_gib: float
    free_cards: list[int]


def _room(nodes: list[Document], active_jobs: list[Document]) -> dict[str, _NodeRoom]:
    rooms = {
        node["id"]: _NodeRoom(
            node=node,
            cpu=float(node["cpu"]),
            memory_gib=float(node["memory_gib"]),
            free_cards=[a["index"] for a in node["accelerators"] if a["allocated_to"] is None],
        )
        for node in nodes
    }
    for job in active_jobs:
        for worker in job["workers"]:
            room = rooms.get(worker.get("node_id") or "")
            if room is not None:
                room.cpu -= job["resources"]["cpu"]
                room.memory_gib -= job["resources"]["memory_gib"]
    return rooms


def _cards_of_model(node: Document, model: str | None) -> list[int]:
    return [a["index"] for a in node["accelerators"] if model is None or a["model"] == model]


def place_job(
    job: Document,
    nodes: list[Document],
    active_jobs: list[Document],
    *,
    check_accelerators: bool = True,
    topology_aware: bool = True,
) -> list[Placement] | str:
    """A placement for every worker of ``job``, or the reason none fits now.

    ``nodes`` are the healthy nodes the job's tenant may use; ``active_jobs``
    the other jobs holding resources. With ``check_accelerators`` false (the
    ``capacity_not_checked`` fault) cards already held by other jobs are handed
    out again. With ``topology_aware`` a multi-card worker gets the cards of one switch
    group when one has room (see scheduling_policy.py). A shared-card request
    (``accelerator_share``) gets that fraction of a card that still has it free.
    """
    wanted = job["resources"]
    share = wanted.get("accelerator_share")
    shared_room: dict[tuple[str, int], float] = {}
    model = wanted.get("accelerator_model")
    cards = int(wanted["accelerators"])
    rooms = _room(nodes, active_jobs)
    placements: list[Placement] = []
    for _rank in range(int(job["world_size"])):
        chosen: Placement | None = None
        for room in rooms.values():
            if room.cpu < wanted["cpu"] or room.memory_gib < wanted["memory_gib"]:
                continue
            of_model = _cards_of_model(room.node, model)
            free = [i for i in room.free_cards if i in of_model]
            if share and cards == 1:
                card = shared_card(room.node, of_model, share, shared_room)
                if card is None:
                    continue
                room.cpu -= wanted["cpu"]
                room.memory_gib -= wanted["memory_gib"]
                room.free_cards = [i for i in room.free_cards if i != card]
                chosen = Placement(room.node["id"], [card], share)
                break
            if len(free) >= cards:
                picked = pick_cards(room.node, free, cards, topology_aware)
            elif not check_accelerators and len(of_model) >= cards:
                picked = (free + [i for i in of_model if i not in free])[:cards]
            else:
                continue
            room.cpu -= wanted["cpu"]
            room.memory_gib -= wanted["memory_gib"]
            room.free_cards = [i for i in room.free_cards if i not in picked]
            chosen = Placement(room.node["id"], picked)
            break
        if chosen is None:
            what = f"{cards} free {model or 'any-model'} accelerators" if cards else "free CPU"
            return (
                f"no node has {what}, {wanted['cpu']} CPU and {wanted['memory_gib']} GiB free"
                f" for worker {len(placements)} of {job['world_size']}"
            )
        placements.append(chosen)
    return placements
