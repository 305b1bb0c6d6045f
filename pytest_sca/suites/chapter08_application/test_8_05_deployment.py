"""8.5 模型自部署 Self-deployment of model services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, TargetError, reply_text
from pytest_sca.fixtures import CheckContext

from .conftest import preset_model


def _preset(sca: CheckContext, models: Any) -> str:
    return preset_model(sca, models, sca.settings.services.model, "services.model", "deploy")


@pytest.mark.clause("8.5.a")
@pytest.mark.mutating
def test_self_service_deployment_becomes_ready(sca: CheckContext, models: Any,
                                               deployed: Callable[..., Any]) -> None:
    """Deploy a preset model with 1 CPU, 1 GiB and 1 replica: the service reaches running."""
    created, ready = deployed(_preset(sca, models))
    sca.evidence("deployment", ready)
    assert ready.get("status") == "running" and (ready.get("ready_replicas") or 0) >= 1, (
        f"[8.5.a] the deployment {created['id']} did not become ready: status "
        f"{ready.get('status')}, ready replicas {ready.get('ready_replicas')}")


@pytest.mark.clause("8.5.b")
@pytest.mark.mutating
def test_deployed_service_speaks_openai(sca: CheckContext, models: Any, inference: Any,
                                        deployed: Callable[..., Any]) -> None:
    """The running deployment answers /chat/completions at its OpenAI-compatible endpoint."""
    _, ready = deployed(_preset(sca, models))
    if ready.get("status") != "running":
        pytest.fail(f"[8.5.b] the deployment never served: {ready.get('status')}")
    endpoint = inference.at(ready["endpoint"])
    try:
        answer = endpoint.chat([{"role": "user", "content": "hello"}], model=ready["model"],
                               max_tokens=16, temperature=0)
    except (Refused, TargetError) as refusal:
        pytest.fail(f"[8.5.b] the running deployment's endpoint did not answer: {refusal}")
    sca.evidence("endpoint answer", answer)
    assert answer.get("object") == "chat.completion" and reply_text(answer).strip(), (
        f"[8.5.b] the endpoint's answer is not an OpenAI chat completion: {answer}")


@pytest.mark.clause("8.5.c")
@pytest.mark.mutating
def test_deployment_scales_stops_and_deletes(sca: CheckContext, models: Any,
                                             model_services: Any, inference: Any,
                                             deployed: Callable[..., Any]) -> None:
    """Scale a running deployment to 2 replicas, stop it (its endpoint refuses), delete it."""
    created, ready = deployed(_preset(sca, models))
    if ready.get("status") != "running":
        pytest.fail(f"[8.5.c] the deployment never served: {ready.get('status')}")
    model_services.scale(created["id"], 2)
    scaled = model_services.wait(created["id"], until=("running",), timeout=30)
    sca.evidence("after scaling to 2", scaled)
    assert scaled.get("replicas") == 2, (
        f"[8.5.c] scaling to 2 replicas was not applied: replicas {scaled.get('replicas')}")
    stopped = model_services.stop(created["id"])
    stopped = model_services.wait(created["id"], until=("stopped",), timeout=30)
    refused: Exception | None = None
    try:
        inference.at(ready["endpoint"]).chat([{"role": "user", "content": "hello"}],
                                             model=ready["model"], max_tokens=4)
    except (Refused, TargetError) as exc:
        refused = exc
    sca.evidence("after stop", {"deployment": stopped, "endpoint": str(refused)})
    assert refused is not None, "[8.5.c] the stopped deployment's endpoint still answers"
    model_services.delete(created["id"])
    try:
        model_services.get(created["id"])
    except Refused as refusal:
        assert refusal.status == 404, f"[8.5.c] reading a deleted deployment answered {refusal}"
        return
    pytest.fail(f"[8.5.c] the deleted deployment {created['id']} can still be read")
