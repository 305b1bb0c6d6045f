"""Chapter 6 (6.6–6.10) checks: pass on the healthy sandbox, fail under the fault that breaks
each. Disruptive checks run with --sca-disruptive, as an evaluator would allow them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import evaluate, verdicts

DISRUPTIVE = ["--sca-disruptive"]

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "6.6.a": ("rendezvous_broken", "2-worker all-reduce did not complete"),
    "6.6.b": ("gang_scheduling_off", "partly started"),
    "6.6.c": ("bond_failover_off", "training did not survive port"),
    "6.6.d": ("elastic_relaunch_off", "did not continue after worker 2 died"),
    "6.6.e": ("checkpoints_not_carried_over", "the relaunch started from step 0"),
    "6.7.a": ("service_ignores_accelerators", "service asked for 1"),
    "6.7.b": ("load_balancer_pinned", "were all served by replica(s) [0]"),
    "6.8.a": ("accelerator_sharing_off", "not one shared card"),
    "6.8.b": ("accelerators_hidden_from_jobs", "its process saw none"),
    "6.9.a": ("cluster_scaling_ignored", "scale-out by 1 left the baremetal cluster"),
    "6.9.b": ("cluster_scaling_ignored", "scale-out by 1 left the container cluster"),
    "6.10.a": ("order_cancel_ignored", "is still active"),
    "6.10.b": ("report_without_recommendations", "gives no recommendation"),
    "6.10.c": ("orders_not_billed", "is not in the bill"),
}

#: Further behaviours an item checks, each broken by its own fault: (item, fault, words).
MORE_BREAKS: tuple[tuple[str, str, str], ...] = (
    ("6.9.a", "scaled_nodes_unlisted", "at 1 listed and 2 recorded node(s)"),
    ("6.9.b", "scaled_nodes_unlisted", "at 1 listed and 2 recorded node(s)"),
    ("6.10.c", "usage_billed_at_stale_prices", "the catalogue price is"),
    ("6.6.a", "worker_cards_unrecorded", "held [0, 0] card(s)"),
    ("6.8.b", "worker_cards_unrecorded", "holds 0 accelerator(s)"),
    ("6.10.c", "accelerator_usage_billed_twice", "over 2 line(s)"),
    ("6.6.c", "bond_stays_on_dead_port", "did not fail over within"),
    ("6.10.b", "report_allocation_stale", "allocated cards; the node listing shows 1 held"),
    ("6.8.b", "job_cpus_pinned_to_one", "may run on 1 CPU(s)"),
    ("6.10.b", "report_advice_names_retired_nodes", "which the platform does not have"),
    ("6.10.b", "report_advice_inverted", "advises adding capacity to a subject the report"),
)


#: Faults that do not touch each other's behaviour share one sandbox start (CI time).
FAULT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("rendezvous_broken", "checkpoints_not_carried_over",
     "bond_failover_off", "accelerator_sharing_off", "service_ignores_accelerators",
     "report_advice_names_retired_nodes"),
    ("gang_scheduling_off", "accelerators_hidden_from_jobs", "cluster_scaling_ignored",
     "order_cancel_ignored", "orders_not_billed", "load_balancer_pinned",
     "report_without_recommendations", "elastic_relaunch_off"),
    ("scaled_nodes_unlisted", "usage_billed_at_stale_prices", "bond_stays_on_dead_port",
     "report_allocation_stale", "job_cpus_pinned_to_one"),
    # Apart: 6.8.a and 6.6.b read the workers' cards too.
    ("worker_cards_unrecorded", "accelerator_usage_billed_twice", "report_advice_inverted"),
)


def _cases() -> list[tuple[str, str, str]]:
    return [(item, fault, words) for item, (fault, words) in BREAKS.items()] + list(MORE_BREAKS)


def test_fault_groups_cover_every_item() -> None:
    grouped = [fault for group in FAULT_GROUPS for fault in group]
    assert sorted(grouped) == sorted({fault for _, fault, _ in _cases()})


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    found = verdicts(evaluate(tmp_path, BREAKS, extra=DISRUPTIVE))
    assert {item: found[item] for item in BREAKS} == {item: ("pass", "") for item in BREAKS}


@pytest.mark.slow
@pytest.mark.parametrize("faults", FAULT_GROUPS, ids=lambda group: "+".join(group))
def test_checks_fail_under_their_fault(faults: tuple[str, ...], tmp_path: Path) -> None:
    cases = [(item, words) for item, fault, words in _cases() if fault in faults]
    found = verdicts(evaluate(tmp_path, {item for item, _ in cases}, faults, extra=DISRUPTIVE))
    for item, words in cases:
        verdict, reason = found[item]
        assert verdict == "fail", (item, verdict, reason)
        assert reason.startswith(f"[{item}]"), reason
        assert words in reason, reason
