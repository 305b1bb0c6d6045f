"""8.6 工作流管理 Workflow applications: import, environment, lifecycle, trial, records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.capabilities import RefusalReason, Refused
from pytest_sca.fixtures import CheckContext

from .probes import generated_workflow, png_size

#: A node type no platform has: a workflow using it must be flagged unavailable.
MISSING_NODE = "ScaProbeMissingNode"
MISSING_MODEL = "sca-probe-missing-upscaler.pth"


def _probe_graph(sca: CheckContext) -> dict[str, Any]:
    return generated_workflow(24, 16, 0x3366CC, sca.name("wf"))


@pytest.mark.clause("8.6.a")
@pytest.mark.mutating
def test_import_comfyui_workflow_json(sca: CheckContext, workflow_apps: Any,
                                      workflow_app: Callable[..., dict[str, Any]]) -> None:
    """An API-format ComfyUI workflow imports and is listed; text that is not JSON is refused
    with a clear error."""
    workflow = workflow_app(_probe_graph(sca), configure=False)
    listed = [w.get("id") for w in workflow_apps.list_workflows()]
    assert workflow["id"] in listed, f"[8.6.a] the imported workflow {workflow['id']} is not listed"
    broken = '{"1": {"class_type": "EmptyImage", "inputs": {'
    try:
        accepted = workflow_apps.import_workflow(sca.name("broken"), broken, labels=sca.labels)
    except Refused as refusal:
        sca.evidence("invalid JSON refused", str(refusal))
        assert refusal.reason is RefusalReason.INVALID and refusal.message.strip(), (
            f"[8.6.a] invalid JSON was not refused as invalid, with a message: {refusal}")
        return
    pytest.fail(f"[8.6.a] a workflow that is not valid JSON was accepted as {accepted.get('id')}")


@pytest.mark.clause("8.6.b")
@pytest.mark.mutating
def test_environment_is_validated_automatically(
        sca: CheckContext, workflow_app: Callable[..., dict[str, Any]]) -> None:
    """Configured with an environment, a complete workflow is available; one needing a missing
    node type, or a missing model, is unavailable."""
    complete = workflow_app(_probe_graph(sca))
    missing_node = _probe_graph(sca)
    missing_node["9"] = {"class_type": MISSING_NODE, "inputs": {"image": ["2", 0]}}
    missing_model = _probe_graph(sca)
    missing_model["8"] = {"class_type": "UpscaleModelLoader",
                          "inputs": {"model_name": MISSING_MODEL}}
    missing_model["9"] = {"class_type": "ImageUpscaleWithModel",
                          "inputs": {"upscale_model": ["8", 0], "image": ["2", 0]}}
    seen = {"complete": complete["environment"],
            MISSING_NODE: workflow_app(missing_node)["environment"],
            MISSING_MODEL: workflow_app(missing_model)["environment"]}
    sca.evidence("environment validation", seen)
    assert seen["complete"].get("status") == "available", (
        f"[8.6.b] a complete workflow was flagged {seen['complete'].get('status')}")
    wrong = [what for what in (MISSING_NODE, MISSING_MODEL)
             if seen[what].get("status") != "unavailable"]
    assert not wrong, (f"[8.6.b] workflows needing a missing {' and '.join(wrong)} were flagged "
                       f"{[seen[w].get('status') for w in wrong]}, not unavailable")


@pytest.mark.clause("8.6.c")
@pytest.mark.mutating
def test_workflow_publish_invoke_unpublish_delete(
        sca: CheckContext, workflow_apps: Any,
        workflow_app: Callable[..., dict[str, Any]]) -> None:
    """Publish a configured workflow and invoke it; once unpublished it cannot be invoked;
    deleted it is gone."""
    workflow = workflow_app(_probe_graph(sca))
    workflow_apps.publish(workflow["id"])
    run = workflow_apps.wait_run(workflow_apps.invoke(workflow["id"])["id"])
    sca.evidence("invocation of the published workflow", run)
    assert run.get("status") == "succeeded", (
        f"[8.6.c] invoking the published workflow ended {run.get('status')}")
    workflow_apps.unpublish(workflow["id"])
    try:
        late = workflow_apps.invoke(workflow["id"])
    except Refused as refusal:
        sca.evidence("invocation after unpublish", str(refusal))
    else:
        pytest.fail(f"[8.6.c] the unpublished workflow could still be invoked "
                    f"(run {late.get('id')})")
    workflow_apps.delete(workflow["id"])
    try:
        workflow_apps.get(workflow["id"])
    except Refused as refusal:
        assert refusal.status == 404, f"[8.6.c] reading a deleted workflow answered {refusal}"
        return
    pytest.fail(f"[8.6.c] the deleted workflow {workflow['id']} can still be read")


@pytest.mark.clause("8.6.d")
@pytest.mark.mutating
def test_trial_run_produces_an_image(sca: CheckContext, workflow_apps: Any,
                                     workflow_app: Callable[..., dict[str, Any]]) -> None:
    """A trial run of a configured workflow ends with a downloadable output image."""
    workflow = workflow_app(_probe_graph(sca))
    run = workflow_apps.wait_run(workflow_apps.trial(workflow["id"])["id"])
    sca.evidence("trial run", run)
    assert run.get("status") == "succeeded", f"[8.6.d] the trial run ended {run.get('status')}"
    outputs = run.get("outputs") or []
    assert outputs, "[8.6.d] the trial run produced no output image"
    size = png_size(workflow_apps.download(outputs[0]["url"]))
    assert size == (24, 16), f"[8.6.d] the trial's output is not the expected 24x16 PNG: {size}"


@pytest.mark.clause("8.6.e")
@pytest.mark.mutating
def test_run_history_has_node_information_and_logs(
        sca: CheckContext, workflow_apps: Any,
        workflow_app: Callable[..., dict[str, Any]]) -> None:
    """After a trial run, the workflow's history lists it with each node's information and
    the run's logs."""
    graph = _probe_graph(sca)
    workflow = workflow_app(graph)
    run = workflow_apps.wait_run(workflow_apps.trial(workflow["id"])["id"])
    history = workflow_apps.runs(workflow["id"])
    sca.evidence("run history", history)
    listed = next((r for r in history if r.get("id") == run["id"]), None)
    assert listed is not None, f"[8.6.e] the history does not list the probe's run {run['id']}"
    nodes = {str(n.get("node_id")) for n in listed.get("nodes") or []}
    assert nodes == set(graph) and (listed.get("logs") or "").strip(), (
        f"[8.6.e] the run history has no per-node information or logs: nodes {sorted(nodes)}, "
        f"{len(listed.get('logs') or '')} characters of logs")
