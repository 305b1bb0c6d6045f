"""8.6 工作流管理 Workflow applications: import, environment, lifecycle, trial, records."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.capabilities import (
    EnvironmentCheck,
    RefusalReason,
    TargetError,
    WorkflowApps,
    WorkflowRun,
)
from pytest_sca.fixtures import CheckContext

from ..library import READ_DENIED, refusal_of
from .conftest import MakeWorkflowApp
from .probes import generated_workflow, png_size

#: Refusals that say a workflow is not (any more) offered: its state (409), its published
#: endpoint gone (404), access to it withdrawn (401/403). A malformed request, a rate limit or
#: an unclassified refusal says nothing about the unpublish.
UNPUBLISHED = READ_DENIED | {RefusalReason.CONFLICT}

#: A node type no platform has: a workflow using it must be flagged unavailable.
MISSING_NODE = "ScaProbeMissingNode"
MISSING_MODEL = "sca-probe-missing-upscaler.pth"


def _probe_graph(sca: CheckContext) -> dict[str, Any]:
    return generated_workflow(24, 16, 0x3366CC, sca.name("wf"))


def _graph(sca: CheckContext, needs: str) -> dict[str, Any]:
    """The probe graph, complete or needing a node type or a model the platform lacks."""
    graph = _probe_graph(sca)
    if needs == "missing-node":
        graph["9"] = {"class_type": MISSING_NODE, "inputs": {"image": ["2", 0]}}
    elif needs == "missing-model":
        graph["8"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": MISSING_MODEL}}
        graph["9"] = {"class_type": "ImageUpscaleWithModel",
                      "inputs": {"upscale_model": ["8", 0], "image": ["2", 0]}}
    return graph


def _logs(run: WorkflowRun) -> str:
    """A run's logs as text (platforms answer one text or a list of lines)."""
    logs: object = run.get("logs")
    return "\n".join(str(line) for line in logs) if isinstance(logs, list) else str(logs or "")


@pytest.mark.clause("8.6.a")
@pytest.mark.mutating
@pytest.mark.parametrize("document", ["api-format", "invalid-json"])
def test_import_comfyui_workflow_json(sca: CheckContext, workflow_apps: WorkflowApps,
                                      workflow_app: MakeWorkflowApp, document: str) -> None:
    """[api-format] an API-format ComfyUI workflow imports and is listed; [invalid-json] text
    that is not JSON is refused as invalid, with a message."""
    if document == "api-format":
        workflow = workflow_app(_probe_graph(sca), configure=False)
        listed = [w.get("id") for w in workflow_apps.list_workflows()]
        assert workflow["id"] in listed, (
            f"[8.6.a] the imported workflow {workflow['id']} is not listed")
        return
    broken = '{"1": {"class_type": "EmptyImage", "inputs": {'
    refusal = refusal_of(lambda: workflow_apps.import_workflow(sca.name("broken"), broken,
                                                               labels=sca.labels))
    assert refusal is not None, "[8.6.a] a workflow that is not valid JSON was accepted"
    sca.evidence("invalid JSON refused", str(refusal))
    assert refusal.reason is RefusalReason.INVALID and refusal.message.strip(), (
        f"[8.6.a] invalid JSON was not refused as invalid, with a message: {refusal}")


@pytest.mark.clause("8.6.b")
@pytest.mark.mutating
@pytest.mark.parametrize("needs", ["complete", "missing-node", "missing-model"])
def test_environment_is_validated_automatically(sca: CheckContext,
                                                workflow_app: MakeWorkflowApp,
                                                needs: str) -> None:
    """Configured with an environment, a complete workflow is available; one needing a missing
    node type, or a missing model, is unavailable, and the validation names the node type or
    model that is missing (and nothing else)."""
    configured = workflow_app(_graph(sca, needs))
    environment = configured.get("environment") or {}
    sca.evidence("environment validation", environment)
    expected = "available" if needs == "complete" else "unavailable"
    assert environment.get("status") == expected, (
        f"[8.6.b] a workflow {'that is ' + needs if needs == 'complete' else 'with a ' + needs} "
        f"was flagged {environment.get('status')}, not {expected}")
    _names_what_is_missing(environment, needs)


#: What a validation must name missing, per case: (node types, models).
MISSING: dict[str, tuple[list[str], list[str]]] = {
    "complete": ([], []), "missing-node": ([MISSING_NODE], []),
    "missing-model": ([], [MISSING_MODEL])}


def _names_what_is_missing(environment: EnvironmentCheck, needs: str) -> None:
    """The validation's reason names the missing node type or model, and nothing else: a
    verdict whose reason is wrong does not tell the user what to install."""
    nodes, models = environment.get("missing_node_types"), environment.get("missing_models")
    if nodes is None or models is None:
        raise TargetError("[8.6.b] the environment validation does not list what is missing "
                          f"(missing_node_types, missing_models): {environment}")
    wanted_nodes, wanted_models = MISSING[needs]
    assert (sorted(map(str, nodes)), sorted(map(str, models))) == (wanted_nodes, wanted_models), (
        f"[8.6.b] the validation of a workflow {needs.replace('-', ' ')} names missing node "
        f"types {nodes} and models {models}, not {wanted_nodes} and {wanted_models}")


@pytest.mark.clause("8.6.c")
@pytest.mark.mutating
@pytest.mark.parametrize("step", ["invoke", "unpublish", "delete"])
def test_workflow_publish_invoke_unpublish_delete(sca: CheckContext, workflow_apps: WorkflowApps,
                                                  workflow_app: MakeWorkflowApp,
                                                  step: str) -> None:
    """[invoke] a published workflow's invocation succeeds; [unpublish] once unpublished, the
    invocation that succeeded before is refused; [delete] deleted, it reads 404 and is no
    longer listed."""
    workflow = workflow_app(_probe_graph(sca))
    if step == "delete":
        workflow_apps.delete(workflow["id"])
        refusal = refusal_of(lambda: workflow_apps.get(workflow["id"]))
        assert refusal is not None, (
            f"[8.6.c] the deleted workflow {workflow['id']} can still be read")
        assert refusal.reason is RefusalReason.NOT_FOUND, (
            f"[8.6.c] reading a deleted workflow answered {refusal}, not 404")
        listed = [w.get("id") for w in workflow_apps.list_workflows()]
        assert workflow["id"] not in listed, (
            f"[8.6.c] the deleted workflow {workflow['id']} is still listed")
        return
    workflow_apps.publish(workflow["id"])
    run = workflow_apps.wait_run(workflow_apps.invoke(workflow["id"])["id"])
    sca.evidence("invocation of the published workflow", run)
    assert run.get("status") == "succeeded", (
        f"[8.6.c] invoking the published workflow ended {run.get('status')}")
    if step == "invoke":
        return
    workflow_apps.unpublish(workflow["id"])
    refusal = refusal_of(lambda: workflow_apps.invoke(workflow["id"]))
    sca.evidence("invocation after unpublish", str(refusal))
    assert refusal is not None, "[8.6.c] the unpublished workflow could still be invoked"
    if refusal.reason is RefusalReason.QUOTA:
        raise TargetError(f"[8.6.c] inconclusive: the invocation after unpublish was refused by "
                          f"a rate limit or quota ({refusal}), not shown refused as unpublished")
    assert refusal.reason in UNPUBLISHED, (
        f"[8.6.c] the unpublished workflow's invocation was refused for another reason than "
        f"its unpublishing: {refusal}")


@pytest.mark.clause("8.6.d")
@pytest.mark.mutating
def test_trial_run_produces_an_image(sca: CheckContext, workflow_apps: WorkflowApps,
                                     workflow_app: MakeWorkflowApp) -> None:
    """A trial run of a configured workflow ends with a downloadable output image of the size
    the workflow makes."""
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
def test_run_history_has_node_information_and_logs(sca: CheckContext,
                                                   workflow_apps: WorkflowApps,
                                                   workflow_app: MakeWorkflowApp) -> None:
    """After a trial run, the workflow's history lists it with each node of the workflow and
    the run's logs."""
    graph = _probe_graph(sca)
    workflow = workflow_app(graph)
    run = workflow_apps.wait_run(workflow_apps.trial(workflow["id"])["id"])
    history = workflow_apps.runs(workflow["id"])
    sca.evidence("run history", history)
    listed = next((r for r in history if r.get("id") == run["id"]), None)
    assert listed is not None, f"[8.6.e] the history does not list the probe's run {run['id']}"
    nodes = {str(n.get("node_id")) for n in listed.get("nodes") or []}
    logs = _logs(listed)
    assert nodes == set(graph) and logs.strip(), (
        f"[8.6.e] the run history has no per-node information or logs: nodes {sorted(nodes)}, "
        f"{len(logs)} characters of logs")
