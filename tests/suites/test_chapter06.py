"""Chapter 6 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Faults that do not disturb each other's checks share one sandbox (``FAULT_GROUPS``): a
sandbox start and a pytest start cost seconds each, and each group is one of both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "6.1.a": ("cross_tenant_read", "tenant B's user could get the job"),
    "6.1.b": ("quota_not_enforced", "quota 1 accelerator not enforced"),
    "6.1.c": ("readonly_role_can_write", "a read-only user could submit a job"),
    "6.2.a": ("accelerators_unmanaged", "lists no accelerator with vendor and model"),
    "6.2.b": ("visible_devices_unisolated", "a job requesting 1 card(s) sees"),
    "6.2.c": ("cards_not_released", "after release, cards still allocated"),
    "6.2.d": ("new_clusters_unschedulable", "a job pinned to the new baremetal cluster"),
    "6.2.e": ("domestic_vendors_unmanaged", "1 domestic accelerator vendor(s) managed"),
    "6.2.f": ("filesystem_not_shared", "is not visible on"),
    "6.2.g": ("usage_not_metered", "no usage record for job"),
    "6.3.a": ("preset_images_missing", "no preset PyTorch image"),
    "6.3.b": ("registry_push_lost", "pushed tag v1 is not listed"),
    "6.3.c": ("layer_cache_off", "not faster"),
    "6.3.d": ("lazy_pull_unsupported", "the whole image"),
    "6.4.a": ("accelerator_metrics_missing", "no per-card series"),
    "6.4.b": ("alerts_never_fire", "never fired"),
    "6.4.c": ("diagnosis_reports_nothing", "gave no component verdict"),
    "6.4.d": ("network_load_unmonitored", "no load series for any node of: network"),
    "6.5.a": ("accelerator_model_ignored", "landed on"),
    "6.5.b": ("priority_ignored", "the priority-1 job started before the priority-100 job"),
    "6.5.c": ("topology_ignored", "placed across switch groups"),
    "6.5.d": ("single_cluster_scheduling", "stayed pending"),
    "6.5.e": ("burst_policy_absent", "declares no burst policy"),
    "6.5.f": ("lazy_pull_unsupported", "lazy-pull start"),
}

#: Faults started together, and the items whose checks each group shows failing.
FAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "tenancy-quota-roles": ("6.1.a", "6.1.b", "6.1.c"),
    "inventory-catalogue-alerts": ("6.2.a", "6.2.f", "6.3.a", "6.3.b", "6.4.b", "6.4.c",
                                   "6.5.e"),
    "devices-metering-metrics-pulls": ("6.2.b", "6.2.e", "6.2.g", "6.3.c", "6.3.d", "6.4.a",
                                       "6.4.d", "6.5.d", "6.5.f"),
    "release-clusters-and-model": ("6.2.c", "6.2.d", "6.5.a"),
    "queue-and-topology": ("6.5.b", "6.5.c"),
}

#: Checks that only run with --sca-disruptive (they hold a whole card model for seconds).
DISRUPTIVE = ("--sca-disruptive",)


def test_groups_cover_every_item_once() -> None:
    grouped = [item for items in FAULT_GROUPS.values() for item in items]
    assert sorted(grouped) == sorted(BREAKS)


def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS, extra=DISRUPTIVE)) == {
        item: ("pass", "") for item in BREAKS}


@pytest.mark.parametrize("group", sorted(FAULT_GROUPS))
def test_checks_fail_under_their_faults(group: str, tmp_path: Path) -> None:
    items = FAULT_GROUPS[group]
    faults = sorted({BREAKS[item][0] for item in items})
    seen = verdicts(evaluate(tmp_path, items, faults, extra=DISRUPTIVE))
    for item in items:
        verdict, reason = seen[item]
        assert verdict == "fail", (item, verdict, reason)
        assert reason.startswith(f"[{item}]"), (item, reason)
        assert BREAKS[item][1] in reason, (item, reason)
