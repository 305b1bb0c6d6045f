"""6.5.c compares cards by the finest topology level every card names."""

from __future__ import annotations

from pytest_sca.suites.chapter06_scheduling.test_6_05_scheduling import _group_level


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
