"""Chapter 6 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Faults that do not disturb each other's checks share one sandbox (``FAULT_GROUPS``): a
sandbox start and a pytest start cost seconds each, and each group is one of both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "6.5.b": ("priority_ignored", "the priority-1 job started first, not the priority-100 job"),
    "6.5.c": ("topology_ignored", "placed across switch groups"),
    "6.5.d": ("single_cluster_scheduling", "stayed pending"),
    "6.5.e": ("burst_policy_absent", "declares no burst policy"),
    "6.5.f": ("lazy_pull_unsupported", "lazy-pull start"),
}

#: More faults that break an item's behaviour another way: item → [(fault, words)].
ALSO_BREAKS: dict[str, list[tuple[str, str]]] = {
    "6.1.a": [("cross_tenant_write", "tenant B's user could stop the job")],
    "6.1.b": [("quota_enforced_after_placement", "was placed")],
    "6.1.c": [("readonly_submit_carried_out", "left job(s)")],
    "6.2.a": [("inventory_hides_cards", "exporters report cards the inventory does not list")],
    "6.2.b": [("worker_cards_unrecorded", "was given no card")],
    "6.2.c": [("usage_billed_by_started_hour", "the tenant's bill carries 3600.00 card-seconds")],
    "6.2.e": [("domestic_cards_unschedulable", "listed but not usable: {'cambricon'")],
    "6.2.f": [("scratch_filesystem_not_shared", "(scratch) is not visible on")],
    "6.2.g": [("usage_overmetered", "metered for")],
    "6.3.a": [("preset_images_unversioned", "name no framework version"),
              ("preset_image_framework_stale", "carries pytorch {'torch': '2.1.0'}")],
    "6.3.c": [("layer_cache_hits_misreported", "not faster on the check's clock")],
    "6.3.d": [("lazy_pull_size_inflated", "the whole image (the pull reports")],
    "6.4.a": [("exporters_stalled", "series not current"),
              ("cluster_unlabelled_metrics", "no cluster-level view"),
              ("card_series_blank", "carry values out of range")],
    "6.4.b": [("notifications_report_threshold", "not above the threshold"),
              ("notifications_name_no_series", "names none of the series that fired")],
    "6.4.c": [("diagnosis_skips_nodes", "covered no verdict for its nodes"),
              ("diagnosis_node_health_inverted", "contradicts the inventory's health")],
    "6.4.d": [("exporters_stalled", "series not current"),
              ("load_series_on_one_node", "no load series for nodes of the inventory"),
              ("memory_load_scaled_twice", "(its total)")],
    "6.5.a": [("pending_reason_vague", "do not name the")],
    "6.5.b": [("queue_newest_first", "the priority-50 job started first")],
    "6.5.c": [("job_record_cards_misreported", "the record and the job disagree")],
    "6.5.e": [("burst_target_unknown", "target what the platform does not have: "
                                       "['gpu-pool-retired']")],
    "6.5.f": [("lazy_pull_time_misreported", "is not faster than the full pull of"),
              ("lazy_pull_on_faster_node", "lazy-pull start not under half the full one")],
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

#: The other faults started together: group → (fault, items it shows failing).
OTHER_FAULT_GROUPS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "writes-metering-versions-staleness-notified-values-diagnosis-queue-readonly-submit": (
        ("cross_tenant_write", ("6.1.a",)), ("usage_overmetered", ("6.2.g",)),
        ("preset_images_unversioned", ("6.3.a",)), ("exporters_stalled", ("6.4.a", "6.4.d")),
        ("diagnosis_skips_nodes", ("6.4.c",)), ("queue_newest_first", ("6.5.b",)),
        ("notifications_report_threshold", ("6.4.b",)),
        ("readonly_submit_carried_out", ("6.1.c",))),
    # Apart: 6.4.a would stop at the missing cluster label before it reads freshness.
    "cluster-label-notified-series-vague-pending-inflated-pull-memory-twice-stale-torch": (
        ("cluster_unlabelled_metrics", ("6.4.a",)),
        ("notifications_name_no_series", ("6.4.b",)), ("pending_reason_vague", ("6.5.a",)),
        ("lazy_pull_size_inflated", ("6.3.d",)), ("memory_load_scaled_twice", ("6.4.d",)),
        ("preset_image_framework_stale", ("6.3.a",))),
    # 6.4.d stops at the nodes without series before it reads the blank cards' values.
    # A lazy pull that is a full one on a faster node: only the same node's full pull shows it.
    "late-quota-unrecorded-cards-hourly-bills-scratch-diagnosis-blank-cards-one-exporter-"
    "faster-node": (
        ("quota_enforced_after_placement", ("6.1.b",)), ("worker_cards_unrecorded", ("6.2.b",)),
        ("usage_billed_by_started_hour", ("6.2.c",)),
        ("scratch_filesystem_not_shared", ("6.2.f",)),
        ("diagnosis_node_health_inverted", ("6.4.c",)), ("card_series_blank", ("6.4.a",)),
        ("load_series_on_one_node", ("6.4.d",)), ("lazy_pull_on_faster_node", ("6.5.f",))),
    # Pulls that report less than they transfer: only the check's clock shows it; a job
    # record that lists other cards than its worker got: only the worker shows it. Claims
    # that only a second source shows wrong: cards the exporter reports and the inventory
    # hides (bm-3's), cards listed that no job can use (Cambricon's; 6.5.c takes DCU cards),
    # a burst rule naming a cluster the platform does not have.
    "pulls-cards-misreported-hidden-unusable-burst-target": (
        ("layer_cache_hits_misreported", ("6.3.c",)),
        ("lazy_pull_time_misreported", ("6.5.f",)),
        ("job_record_cards_misreported", ("6.5.c",)),
        ("inventory_hides_cards", ("6.2.a",)),
        ("domestic_cards_unschedulable", ("6.2.e",)),
        ("burst_target_unknown", ("6.5.e",))),
}

#: Checks that only run with --sca-disruptive (they hold a whole card model for seconds).
DISRUPTIVE = ("--sca-disruptive",)


def _assert_fails(report: dict[str, Any], item: str, words: str) -> None:
    """The item fails, every failing case says so under its id, and one names ``words``."""
    entry = next(i for i in report["items"] if i["id"] == item)
    assert entry["verdict"] == "fail", (item, entry["verdict"], entry["reason"])
    reasons = [t["reason"] for t in entry["tests"] if t["outcome"] == "fail"]
    assert all(r.startswith(f"[{item}]") for r in reasons), (item, reasons)
    assert any(words in r for r in reasons), (item, reasons)


def test_groups_cover_every_item_once() -> None:
    grouped = [item for items in FAULT_GROUPS.values() for item in items]
    assert sorted(grouped) == sorted(BREAKS)
    other = sorted((item, fault) for group in OTHER_FAULT_GROUPS.values()
                   for fault, items in group for item in items)
    assert other == sorted((item, fault) for item, faults in ALSO_BREAKS.items()
                           for fault, _ in faults)


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS, extra=DISRUPTIVE)) == {
        item: ("pass", "") for item in BREAKS}


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(FAULT_GROUPS))
def test_checks_fail_under_their_faults(group: str, tmp_path: Path) -> None:
    items = FAULT_GROUPS[group]
    faults = sorted({BREAKS[item][0] for item in items})
    report = evaluate(tmp_path, items, faults, extra=DISRUPTIVE)
    for item in items:
        _assert_fails(report, item, BREAKS[item][1])


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(OTHER_FAULT_GROUPS))
def test_checks_fail_under_other_faults(group: str, tmp_path: Path) -> None:
    pairs = OTHER_FAULT_GROUPS[group]
    items = {item for _, found in pairs for item in found}
    report = evaluate(tmp_path, items, sorted(fault for fault, _ in pairs), extra=DISRUPTIVE)
    for fault, found in pairs:
        for item in found:
            words = dict(ALSO_BREAKS[item])[fault]
            _assert_fails(report, item, words)
