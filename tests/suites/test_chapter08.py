"""Chapter 8 checks: pass on the healthy sandbox, fail under each fault that breaks them.

Faults are grouped so that one sandbox run shows several items failing: within a group no
fault disturbs another item's check (docs/chapter08.md lists which fault breaks what).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from ..adapters.stub_server import Route, StubServer, json_route, stub_server
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
    "8.6.b": ("workflow_env_not_validated", "was flagged available"),
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

#: Further faults that break a behaviour an item's check verifies: (item, fault) → words.
ALSO_BREAKS: dict[tuple[str, str], str] = {
    ("8.1.b", "model_licence_unknown"): "lack basic information",
    ("8.1.b", "catalogue_context_length_overstated"): "serves shorter contexts than the model",
    ("8.1.b", "catalogue_size_overstated"):
        "states more than the models' own artefacts hold",
    ("8.2.b", "stream_usage_wrong"): "usage the stream reported is wrong",
    ("8.3.a", "finetune_loss_flat"): "loss did not go down",
    ("8.3.a", "finetune_trains_sample_file"): "not the file the check uploaded",
    ("8.3.b", "finetuned_model_serves_base"): "answers as its base model",
    ("8.4.b", "model_delete_ignored"): "can still be read",
    ("8.4.c", "imported_model_serves_preset"): "words its artefact does not have",
    ("8.5.a", "deployment_resources_ignored"): "does not run with the chosen resources",
    ("8.5.a", "deployment_replicas_default_sized"):
        "replicas do not hold the chosen resources the deployment record states",
    ("8.5.c", "deployment_replicas_not_ready"): "ready replicas after",
    ("8.5.c", "deployment_routes_to_first_replica"): "were all served by replica(s) [0]",
    ("8.6.b", "workflow_env_reason_missing"): "names missing node types",
    ("8.6.c", "workflow_delete_ignored"): "can still be read",
    ("8.7.c", "queue_listing_stale"): "still lists tasks",
    ("8.8.a", "model_usage_summary_stale"): "usage summary disagrees with its",
    ("8.8.c", "workflow_usage_duration_zero"): "the check saw it take",
    ("8.8.c", "workflow_usage_summary_stale"): "summary disagrees with its",
    ("8.2.b", "max_tokens_not_applied"): "words and punctuation runs",
}

#: Faults under which an item's check cannot find out, or lacks the means, and says so: item →
#: (the faults, the verdict, words its reason must contain).
UNDECIDED: dict[str, tuple[tuple[str, ...], str, str]] = {
    # A base model that is not deterministic: the fine-tuned one's other answer proves nothing.
    "8.3.b": (("finetuned_model_serves_base", "temperature_ignored"), "error",
              "is not deterministic at temperature 0"),
    # Refused by a rate limit, not as unpublished.
    "8.6.c": (("workflow_invocations_throttled",), "error", "refused by a rate limit"),
    # One model to call: the model filter is not shown to leave another model's calls out.
    "8.8.b": (("model_list_truncated",), "not_assessed", "lists one model"),
}

#: Which faults share one sandbox run: group → {item: the fault it is shown failing under}.
GROUPS: dict[str, dict[str, str]] = {
    "models-and-usage": {item: BREAKS[item][0] for item in (
        "8.1.b", "8.2.a", "8.2.b", "8.3.a", "8.4.a", "8.4.b", "8.4.c", "8.5.c", "8.6.d",
        "8.7.a", "8.8.a")},
    "serving": {**{item: BREAKS[item][0] for item in ("8.1.a", "8.3.b", "8.5.a", "8.7.d")},
                # Only the weights the model's files hold show the catalogue's figure wrong.
                "8.1.b": "catalogue_size_overstated"},
    "workflows": {**{item: BREAKS[item][0] for item in (
        "8.5.b", "8.6.a", "8.6.b", "8.6.c", "8.6.e", "8.7.b", "8.7.c", "8.8.c")},
        # The job trains on data, only not the user's: 8.3.b is not in this group.
        "8.3.a": "finetune_trains_sample_file"},
    "values": {
        "8.1.b": "model_licence_unknown", "8.2.b": "stream_usage_wrong",
        "8.3.a": "finetune_loss_flat", "8.4.b": "model_delete_ignored",
        "8.4.c": "imported_model_serves_preset",
        "8.5.a": "deployment_resources_ignored", "8.5.c": "deployment_replicas_not_ready",
        "8.6.c": "workflow_delete_ignored", "8.7.c": "queue_listing_stale",
        "8.8.a": "model_usage_summary_stale", "8.8.c": "workflow_usage_duration_zero"},
    "cross-checks": {"8.1.b": "catalogue_context_length_overstated",
                     "8.3.b": "finetuned_model_serves_base", "8.8.b": "usage_filters_ignored",
                     "8.8.c": "workflow_usage_summary_stale", "8.2.b": "max_tokens_not_applied",
                     "8.5.c": "deployment_routes_to_first_replica",
                     "8.6.b": "workflow_env_reason_missing",
                     # The record echoes the choice; the replica listing tells.
                     "8.5.a": "deployment_replicas_default_sized"},
}


def _words(item: str, fault: str) -> str:
    return BREAKS[item][1] if BREAKS[item][0] == fault else ALSO_BREAKS[(item, fault)]


def test_groups_show_every_fault_once() -> None:
    grouped = sorted((item, fault) for group in GROUPS.values() for item, fault in group.items())
    expected = sorted([(item, fault) for item, (fault, _) in BREAKS.items()] + list(ALSO_BREAKS))
    assert grouped == expected


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS)) == {item: ("pass", "") for item in BREAKS}


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_check_fails_under_its_fault(group: str, tmp_path: Path) -> None:
    cases = GROUPS[group]
    report = evaluate(tmp_path, cases, sorted(set(cases.values())))
    seen = verdicts(report)
    for item, fault in cases.items():
        verdict, reason = seen[item]
        words = _words(item, fault)
        assert verdict == "fail", (item, fault, verdict, reason)
        assert reason.startswith(f"[{item}]"), (item, reason)
        assert words in reason, (item, fault, reason)


@pytest.mark.slow
def test_undecided_checks_say_so(tmp_path: Path) -> None:
    """Under these faults the check could not find out (``error``, inconclusive) or lacks the
    means (``not_assessed``): never a pass. The faults leave each other's items alone, so one
    sandbox run shows them all."""
    faults = sorted({fault for fault_set, _, _ in UNDECIDED.values() for fault in fault_set})
    seen = verdicts(evaluate(tmp_path, UNDECIDED, faults))
    for item, (_, expected, words) in UNDECIDED.items():
        verdict, reason = seen[item]
        assert verdict == expected and words in reason, (item, verdict, reason)


def _instant_comfyui(server: StubServer) -> Route:
    """POST /prompt of a ComfyUI that has run each prompt before it answers: the prompt is in
    the history at once and never in the queue (a test double: ComfyUI cannot be installed
    here, and a real one is only sometimes this fast)."""

    def queue_prompt(handler: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        prompt_id = str(uuid.uuid4())
        entry = {"prompt": [1, prompt_id, {}, {}, ["9"]], "outputs": {},
                 "status": {"status_str": "success", "completed": True, "messages": []}}
        server.routes[("GET", f"/history/{prompt_id}")] = json_route(200, {prompt_id: entry})
        return 200, "application/json", json.dumps(
            {"prompt_id": prompt_id, "number": 1, "node_errors": {}}).encode()

    return queue_prompt


@pytest.mark.slow
def test_a_queue_too_fast_to_watch_is_inconclusive_not_a_fail(tmp_path: Path) -> None:
    empty: Route = lambda handler: (200, "application/octet-stream", b"")  # noqa: E731
    routes: dict[tuple[str, str], Route] = {
        ("GET", "/queue"): json_route(200, {"queue_running": [], "queue_pending": []}),
        ("POST", "/queue"): empty, ("POST", "/history"): empty}
    with stub_server(routes) as server:
        server.routes[("POST", "/prompt")] = _instant_comfyui(server)
        target = tmp_path / "fast-comfyui.yaml"
        target.write_text(f"name: fast-comfyui\nadapters:\n  comfyui:\n    url: {server.url}\n")
        # The stub serves only what 8.7.c uses: the preflight's probes would find it unusable.
        subprocess.run([sys.executable, "-m", "pytest", f"--sca-target={target}",
                        "-p", "no:cacheprovider", "--sca-preflight=off",
                        "-m", "clause(id='8.7.c')",
                        "--sca-json=report.json"], cwd=tmp_path, capture_output=True, timeout=300)
    verdict, reason = verdicts(json.loads((tmp_path / "report.json").read_text()))["8.7.c"]
    assert verdict == "error" and "inconclusive" in reason, (verdict, reason)
