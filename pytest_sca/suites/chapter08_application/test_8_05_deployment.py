"""8.5 模型自部署 Self-deployment of model services."""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import (
    Completion,
    Deployment,
    Inference,
    Models,
    ModelServices,
    RefusalReason,
    Refused,
    TargetError,
    WaitTimeout,
    reply_text,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..library import refusal_of, spread_over_replicas
from .conftest import DEPLOY_RESOURCES, Deploy, ask, preset_model, served

#: Requests sent through a scaled deployment's endpoint: every one must be answered.
SCALED_REQUESTS = 4


def _preset(sca: CheckContext, models: Models) -> str:
    return preset_model(sca, models, sca.settings.services.model, "services.model", "deploy")


@pytest.mark.clause("8.5.a")
@pytest.mark.mutating
def test_self_service_deployment_becomes_ready(sca: CheckContext, models: Models,
                                               deployed: Deploy) -> None:
    """Deploy a preset model with 1 CPU, 2 GiB and 1 replica: the service reaches running with
    its replica ready, and runs with the resources chosen."""
    created, ready = deployed(_preset(sca, models))
    sca.evidence("deployment", ready)
    assert ready.get("status") == "running" and ready.get("ready_replicas") == 1, (
        f"[8.5.a] the deployment {created['id']} did not become ready: status "
        f"{ready.get('status')}, ready replicas {ready.get('ready_replicas')} of 1")
    given = ready.get("resources")
    if not given:
        raise TargetError(f"[8.5.a] the deployment {created['id']} does not say which "
                          "resources it runs with: cannot tell the choice was applied")
    wrong = {key: (given.get(key), wanted) for key, wanted in DEPLOY_RESOURCES.items()
             if given.get(key) != wanted}
    assert not wrong, (
        f"[8.5.a] the deployment {created['id']} does not run with the chosen resources "
        f"(given, chosen): {wrong}")


@pytest.mark.clause("8.5.b")
@pytest.mark.mutating
def test_deployed_service_speaks_openai(sca: CheckContext, models: Models,
                                        inference: Inference, deployed: Deploy) -> None:
    """The running deployment answers /chat/completions at its OpenAI-compatible endpoint."""
    _, ready = deployed(_preset(sca, models))
    if ready.get("status") != "running":
        pytest.fail(f"[8.5.b] the deployment never served: {ready.get('status')}")
    answer = served(inference, ready, "8.5.b")
    if isinstance(answer, Exception):
        pytest.fail(f"[8.5.b] the running deployment's endpoint did not answer: {answer}")
    sca.evidence("endpoint answer", answer)
    assert answer.get("object") == "chat.completion" and reply_text(answer).strip(), (
        f"[8.5.b] the endpoint's answer is not an OpenAI chat completion: {answer}")


def _wait(model_services: ModelServices, deployment_id: str, timeout: float,
          settled: str, ready: int) -> Deployment:
    """The deployment once its status is ``settled`` with ``ready`` ready replicas, or as last
    seen after ``timeout`` seconds."""
    try:
        return wait_for(lambda: model_services.get(deployment_id),
                        lambda d: d.get("status") == settled and d.get("ready_replicas") == ready,
                        timeout, lambda d: f"deployment {deployment_id} {d.get('status')}",
                        first=0.05, longest=1.0)
    except WaitTimeout as late:
        last: Deployment | None = late.last
        return last if last is not None else model_services.get(deployment_id)


def _replicas_of(deployment: Deployment) -> list[object]:
    """The replicas a deployment says are ready: it gives a count, so 0 .. count - 1 (the
    indices its answers name)."""
    return list(range(int(deployment.get("ready_replicas") or 0)))


def _both_replicas_serve(sca: CheckContext, inference: Inference, scaled: Deployment) -> None:
    """Every request through the scaled deployment's endpoint is answered, and where the
    answers name their replica they come from both (as 6.7.b)."""
    answers: list[Completion] = []
    refused = []
    for _ in range(SCALED_REQUESTS):
        try:
            answers.append(ask(inference, scaled, "8.5.c"))
        except Refused as refusal:
            refused.append(refusal)
    served = [answer.get("replica") for answer in answers]
    sca.evidence("replica of each request", {"listed replicas": _replicas_of(scaled),
                                             "served by": served})
    assert not refused, (
        f"[8.5.c] the scaled deployment refused {len(refused)} of {SCALED_REQUESTS} "
        f"requests: {refused[0]}")
    if all(replica is None for replica in served):
        # Most serving stacks (vLLM, OpenAI-compatible gateways) do not say which replica
        # answered. Scaling is then shown by the ready replicas the platform reports and
        # every request answered; that both serve is 6.7.b's to show, where it can.
        sca.evidence("replicas serving", "not shown: no answer names its replica; scaled by "
                                         "the deployment's ready replicas")
        return
    spread_over_replicas("8.5.c", _replicas_of(scaled), served)


@pytest.mark.clause("8.5.c")
@pytest.mark.mutating
@pytest.mark.parametrize("operation", ["scale", "stop", "delete"])
def test_deployment_scales_stops_and_deletes(sca: CheckContext, models: Models,
                                             model_services: ModelServices,
                                             inference: Inference, deployed: Deploy,
                                             operation: str) -> None:
    """[scale] scaled to 2, a running deployment gets 2 ready replicas and its endpoint
    answers every request, from both replicas (each answer names its replica); [stop]
    stopped, it has no ready replica and its endpoint, which answered the same request
    before, refuses it; [delete] deleted, it reads 404."""
    created, ready = deployed(_preset(sca, models))
    if ready.get("status") != "running":
        pytest.fail(f"[8.5.c] the deployment never served: {ready.get('status')}")
    deployment_id = created["id"]
    timeout = sca.settings.services.ready_timeout_s
    if operation == "scale":
        model_services.scale(deployment_id, 2)
        scaled = _wait(model_services, deployment_id, timeout, "running", 2)
        sca.evidence("after scaling to 2", scaled)
        assert scaled.get("replicas") == 2, (
            f"[8.5.c] scaling to 2 replicas was not applied: replicas {scaled.get('replicas')}")
        assert scaled.get("ready_replicas") == 2, (
            f"[8.5.c] scaled to 2, the deployment has {scaled.get('ready_replicas')} ready "
            f"replicas after {timeout:g} s")
        _both_replicas_serve(sca, inference, scaled)
    elif operation == "stop":
        ask(inference, ready, "8.5.c")  # answers while running: a refusal later is the stop's
        model_services.stop(deployment_id)
        stopped = _wait(model_services, deployment_id, timeout, "stopped", 0)
        assert stopped.get("status") == "stopped" and not stopped.get("ready_replicas"), (
            f"[8.5.c] the stop was not applied: status {stopped.get('status')}, ready "
            f"replicas {stopped.get('ready_replicas')}")
        try:
            refusal: Exception | None = refusal_of(lambda: ask(inference, ready, "8.5.c"))
        except TargetError as error:  # 5xx or no connection: nothing serves there
            refusal = error
        sca.evidence("after stop", {"deployment": stopped, "endpoint": str(refusal)})
        assert refusal is not None, "[8.5.c] the stopped deployment's endpoint still answers"
    else:
        model_services.delete(deployment_id)
        refusal = refusal_of(lambda: model_services.get(deployment_id))
        assert refusal is not None, (
            f"[8.5.c] the deleted deployment {deployment_id} can still be read")
        assert refusal.reason is RefusalReason.NOT_FOUND, (
            f"[8.5.c] reading a deleted deployment answered {refusal}, not 404")
