"""6.5.c compares the cards its job sees by the finest topology level every card names."""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import TargetError
from pytest_sca.suites.chapter06_scheduling.test_6_05_scheduling import (
    _group_level,
    _group_problems,
)
from pytest_sca.suites.library import SeenByJob


def test_cards_are_grouped_by_the_finest_level_all_of_them_name() -> None:
    both = {"0": {"switch": "sw0", "numa": "n0"}, "1": {"switch": "sw1", "numa": "n0"}}
    assert _group_level(both) == "switch"
    # Slurm's gres.conf Cores= gives the socket only: the cards are compared by it, never
    # by a "switch" none of them names (all in one group "None": a pass for any placement).
    slurm = {"0": {"socket": "0"}, "1": {"socket": "1"}}
    assert _group_level(slurm) == "socket"
    mixed = {"0": {"switch": "sw0", "numa": "n0"}, "1": {"numa": "n1"}}
    assert _group_level(mixed) == "numa"
    assert _group_level({"0": {"other": "x"}}) is None
    assert _group_level({}) is None


TOPOLOGY = {str(i): {"switch": f"sw{i // 4}"} for i in range(8)}


def _seen(devices: list[str] | None, variable: str | None = "SCA_VISIBLE_ACCELERATORS"
          ) -> SeenByJob:
    return SeenByJob(devices, variable if devices is not None else None, "n1", "SCA_NODE_NAME")


def test_the_group_is_judged_by_the_cards_the_job_sees() -> None:
    """6.5.c: what the job sees decides, the record cross-checks it."""
    def problems(seen: SeenByJob, held: list[str]) -> list[str]:
        return _group_problems(seen, held, "n1", TOPOLOGY, "switch")

    assert problems(_seen(["4", "5", "6", "7"]), ["4", "5", "6", "7"]) == []
    # The record lists one group, the job sees cards across two: both are said.
    found = problems(_seen(["1", "2", "3", "4"]), ["4", "5", "6", "7"])
    assert "placed across switch groups ['sw0', 'sw1']" in found[0]
    assert found[1].startswith("the record and the job disagree")
    # The record lies within one group: still a disagreement.
    assert problems(_seen(["0", "1", "2", "3"]), ["4", "5", "6", "7"])[0].startswith(
        "the record and the job disagree")
    # Fewer than 4 cards seen (or none at all) is a fail whatever the record says.
    assert "sees 3 distinct card(s)" in problems(_seen(["4", "5", "6", "6"]), ["4", "5", "6",
                                                                              "7"])[0]
    assert "no visibility variable set" in problems(_seen(None), ["4", "5", "6", "7"])[0]
    # Names the node's cards do not have: the group cannot be told.
    with pytest.raises(TargetError, match="name none of the cards"):
        problems(_seen(["GPU-a", "GPU-b", "GPU-c", "GPU-d"], "NVIDIA_VISIBLE_DEVICES"),
                 ["4", "5", "6", "7"])
    # A runtime's variable agreeing with the record is judged; disagreeing, it may only
    # number the cards otherwise: error, not fail.
    assert problems(_seen(["4", "5", "6", "7"], "NVIDIA_VISIBLE_DEVICES"),
                    ["4", "5", "6", "7"]) == []
    with pytest.raises(TargetError, match="cannot be told"):
        problems(_seen(["0", "1", "2", "3"], "CUDA_VISIBLE_DEVICES"), ["4", "5", "6", "7"])
