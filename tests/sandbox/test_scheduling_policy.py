"""The sandbox's scheduling policy as pure functions: queue order, topology-aware card
choice, shared cards, and the faults that break each."""

from __future__ import annotations

from typing import Any

from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.inventory import ACCELERATOR_MODELS, make_node
from pytest_sca.sandbox.scheduling import place_job
from pytest_sca.sandbox.scheduling_policy import (
    cards_handed_out,
    node_started_on,
    pending_order,
    pick_cards,
    release_card,
    shared_card,
    take_card,
    usable_nodes,
)


def _job(job_id: str, cards: float = 1, *, share: float | None = None, priority: int = 0,
         created: str = "2026-01-01T00:00:00Z", cluster: str | None = None) -> dict[str, Any]:
    return {"id": job_id, "world_size": 1, "priority": priority, "created_at": created,
            "workers": [{"node_id": None}],
            "resources": {"cpu": 1, "memory_gib": 1, "accelerators": cards,
                          "accelerator_share": share, "accelerator_model": None,
                          "cluster_id": cluster}}


def _node(node_id: str = "n1", cluster: str = "c1") -> dict[str, Any]:
    return make_node(node_id, cluster, "container", ACCELERATOR_MODELS["H100"])


def test_higher_priority_first_then_oldest_unless_priority_is_ignored() -> None:
    old_low = _job("a", priority=1, created="2026-01-01T00:00:01Z")
    new_high = _job("b", priority=9, created="2026-01-01T00:00:02Z")
    old_high = _job("c", priority=9, created="2026-01-01T00:00:00Z")
    ordered = [j["id"] for j in pending_order([old_low, new_high, old_high], frozenset())]
    assert ordered == ["c", "b", "a"]
    ignored = pending_order([old_low, new_high, old_high], frozenset({Fault.PRIORITY_IGNORED}))
    assert [j["id"] for j in ignored] == ["c", "a", "b"]


def test_cards_come_from_one_switch_group_when_one_fits() -> None:
    node = _node()
    free = [1, 2, 3, 4, 5, 6, 7]  # card 0 taken
    assert pick_cards(node, free, 4, topology_aware=True) == [4, 5, 6, 7]
    assert pick_cards(node, free, 3, topology_aware=True) == [1, 2, 3]  # the fuller group
    assert pick_cards(node, free, 4, topology_aware=False) == [1, 2, 3, 4]
    assert pick_cards(node, free, 6, topology_aware=True) == [1, 2, 3, 4, 5, 6]


def test_two_halves_share_one_card_and_a_whole_card_holder_never_shares() -> None:
    node = _node()
    taken: dict[tuple[str, int], float] = {}
    first = shared_card(node, [0, 1], 0.5, taken)
    assert first is not None
    take_card(node["accelerators"][first], "j1", 0.5)
    assert shared_card(node, [0, 1], 0.5, {}) == first  # fills the shared card first
    take_card(node["accelerators"][first], "j2", 0.5)
    assert shared_card(node, [first], 0.5, {}) is None  # full
    take_card(node["accelerators"][1], "whole", None)
    assert shared_card(node, [1], 0.1, {}) is None
    release_card(node["accelerators"][first], "j1")
    assert node["accelerators"][first]["allocated_to"] == "j2"
    release_card(node["accelerators"][first], "j2")
    assert node["accelerators"][first]["allocated_to"] is None
    assert "shares" not in node["accelerators"][first]


def test_place_job_gives_a_shared_card_and_a_topology_group() -> None:
    node = _node()
    take_card(node["accelerators"][0], "other", None)
    placed = place_job(_job("four", 4), [node], [])
    assert not isinstance(placed, str) and placed[0].accelerators == [4, 5, 6, 7]
    half = place_job(_job("half", 1, share=0.5), [node], [])
    assert not isinstance(half, str) and half[0].share == 0.5


def test_jobs_pinned_to_a_cluster_and_the_cluster_faults() -> None:
    nodes = [_node("n1", "bm-cluster"), _node("n2", "k8s-cluster"), _node("n3", "new-1")]
    pinned = usable_nodes(nodes, frozenset(), _job("j", cluster="k8s-cluster"))
    assert [n["id"] for n in pinned] == ["n2"]
    single = usable_nodes(nodes, frozenset({Fault.SINGLE_CLUSTER_SCHEDULING}), _job("j"))
    assert [n["id"] for n in single] == ["n1"]
    fresh = usable_nodes(nodes, frozenset({Fault.NEW_CLUSTERS_UNSCHEDULABLE}), _job("j"))
    assert [n["id"] for n in fresh] == ["n1", "n2"]


def test_workers_run_where_they_were_placed_unless_a_fault_moves_them() -> None:
    """Healthy: the reserved cards and node. ``job_record_cards_misreported``: the node's
    lowest cards no other job holds (two workers on one node get different ones);
    ``job_record_nodes_misreported``: the next node of the cluster."""
    node = _node()
    take_card(node["accelerators"][0], "other", None)
    job = _job("four", 4)
    for index in (4, 5, 6, 7):
        take_card(node["accelerators"][index], "four", None)
    assert cards_handed_out(node, job, [4, 5, 6, 7], set(), frozenset()) == [4, 5, 6, 7]
    lying = frozenset({Fault.JOB_RECORD_CARDS_MISREPORTED})
    handed: set[int] = set()
    assert cards_handed_out(node, job, [4, 5, 6, 7], handed, lying) == [1, 2, 3, 4]
    assert cards_handed_out(node, job, [6, 7], handed, lying) == [5, 6]
    nodes = [_node("a"), _node("b"), _node("c", cluster="c2")]
    assert node_started_on(nodes, "a", frozenset()) == "a"
    moved = frozenset({Fault.JOB_RECORD_NODES_MISREPORTED})
    assert [node_started_on(nodes, n, moved) for n in ("a", "b", "c")] == ["b", "a", "c"]
