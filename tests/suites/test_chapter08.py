"""Chapter 8 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Faults are grouped so that one sandbox run shows several items failing: within a group no
fault disturbs another item's check (docs/chapter08.md lists which fault breaks what).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "8.1.a": ("model_list_empty", "lists no model"),
    "8.1.b": ("model_info_missing", "lack basic information"),
    "8.2.a": ("chat_history_dropped", "did not keep its context"),
    "8.2.b": ("stream_not_terminated", "without data: [DONE]"),
    "8.3.a": ("finetune_fails", "ended failed"),
    "8.3.b": ("finetuned_model_not_served", "does not answer"),
    "8.4.a": ("model_import_not_listed", "is not listed"),
    "8.4.b": ("model_metadata_not_updated", "metadata update was not applied"),
    "8.4.c": ("imported_model_not_deployable", "deployment ended failed"),
    "8.5.a": ("deployment_fails_to_start", "did not become ready"),
    "8.5.b": ("deployment_endpoint_down", "endpoint did not answer"),
    "8.5.c": ("deployment_scale_ignored", "scaling to 2 replicas was not applied"),
    "8.6.a": ("workflow_invalid_json_accepted", "not valid JSON was accepted"),
    "8.6.b": ("workflow_env_not_validated", "were flagged"),
    "8.6.c": ("workflow_unpublish_ignored", "could still be invoked"),
    "8.6.d": ("workflow_outputs_missing", "produced no output image"),
    "8.6.e": ("workflow_node_logs_missing", "no per-node information or logs"),
    "8.7.a": ("workflow_submit_no_task_id", "answered no prompt_id"),
    "8.7.b": ("workflow_inputs_ignored", "identical"),
    "8.7.c": ("queue_position_missing", "reported no position"),
    "8.7.d": ("workflow_output_corrupt", "is not a valid 20x10 image"),
    "8.8.a": ("usage_tokens_undercounted", "usage tokens differ"),
    "8.8.b": ("usage_filters_ignored", "usage filtered by user and model returned"),
    "8.8.c": ("workflow_usage_not_recorded", "do not list the probe's runs"),
}

#: Items whose faults can share one sandbox run.
GROUPS: dict[str, tuple[str, ...]] = {
    "models-and-usage": ("8.1.b", "8.2.a", "8.2.b", "8.3.a", "8.4.a", "8.4.b", "8.4.c",
                         "8.5.c", "8.6.d", "8.7.a", "8.8.a", "8.8.b"),
    "serving": ("8.1.a", "8.3.b", "8.5.a", "8.7.d"),
    "workflows": ("8.5.b", "8.6.a", "8.6.b", "8.6.c", "8.6.e", "8.7.b", "8.7.c", "8.8.c"),
}


def test_groups_cover_every_item_once() -> None:
    grouped = [item for items in GROUPS.values() for item in items]
    assert sorted(grouped) == sorted(BREAKS)


def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS)) == {item: ("pass", "") for item in BREAKS}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_check_fails_under_its_fault(group: str, tmp_path: Path) -> None:
    items = GROUPS[group]
    report = evaluate(tmp_path, items, sorted(BREAKS[item][0] for item in items))
    seen = verdicts(report)
    for item in items:
        verdict, reason = seen[item]
        fault, words = BREAKS[item]
        assert verdict == "fail", (item, fault, verdict, reason)
        assert reason.startswith(f"[{item}]"), (item, reason)
        assert words in reason, (item, fault, reason)
