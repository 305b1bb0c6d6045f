"""The scheduler's placement rule, as a pure function over node and job records."""

from __future__ import annotations

from typing import Any

from pytest_sca.sandbox.inventory import ACCELERATOR_MODELS, make_node
from pytest_sca.sandbox.scheduling import place_job


def _job(cards: int, workers: int = 1, model: str | None = None, cpu: float = 1) -> dict[str, Any]:
    return {"id": "job-new", "world_size": workers, "resources": {
        "cpu": cpu, "memory_gib": 1, "accelerators": cards, "accelerator_model": model}}


def _nodes() -> list[dict[str, Any]]:
    return [make_node("a", "c", "container", ACCELERATOR_MODELS["H100"], cards=4),
            make_node("b", "c", "container", ACCELERATOR_MODELS["DCU-Z100"], cards=4)]


def test_workers_spread_over_nodes_with_free_cards() -> None:
    placement = place_job(_job(cards=3, workers=2), _nodes(), [])
    assert not isinstance(placement, str)
    assert [(p.node_id, p.accelerators) for p in placement] == [("a", [0, 1, 2]), ("b", [0, 1, 2])]


def test_model_and_held_cards_are_respected() -> None:
    nodes = _nodes()
    for card in nodes[0]["accelerators"][:2]:
        card["allocated_to"] = "job-old"
    placement = place_job(_job(cards=2, model="H100"), nodes, [])
    assert not isinstance(placement, str)
    assert (placement[0].node_id, placement[0].accelerators) == ("a", [2, 3])
    reason = place_job(_job(cards=3, model="H100"), nodes, [])
    assert isinstance(reason, str) and "3 free H100 accelerators" in reason


def test_cpu_held_by_running_jobs_counts() -> None:
    running = {"id": "job-old", "world_size": 1, "resources": {"cpu": 60, "memory_gib": 1},
               "workers": [{"node_id": "a"}]}
    placement = place_job(_job(cards=0, cpu=8), _nodes(), [running])
    assert not isinstance(placement, str) and placement[0].node_id == "b"


def test_without_the_capacity_check_held_cards_are_handed_out_again() -> None:
    nodes = _nodes()
    for card in nodes[0]["accelerators"]:
        card["allocated_to"] = "job-old"
    assert isinstance(place_job(_job(cards=4, model="H100"), nodes, []), str)
    placement = place_job(_job(cards=4, model="H100"), nodes, [], check_accelerators=False)
    assert not isinstance(placement, str) and placement[0].accelerators == [0, 1, 2, 3]
