"""8.5 模型自部署 Self-deployment of model services."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from pytest_sca.capabilities import (
    Completion,
    Compute,
    Deployment,
    Inference,
    Models,
    ModelServices,
    RefusalReason,
    Refused,
    Resources,
    ServiceReplica,
    TargetError,
    Unsupported,
    WaitTimeout,
    reply_text,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

from ..library import refusal_of, spread_over_replicas
from .conftest import DEPLOY_RESOURCES, Deploy, ask, preset_model, served

#: Requests sent through a scaled deployment's endpoint: every one must be answered.
SCALED_REQUESTS = 4


def _preset(sca: CheckContext, models: Models) -> str:
    return preset_model(sca, models, sca.settings.services.model, "services.model", "deploy")


def _held_cards(replica: ServiceReplica) -> int | None:
    """How many cards a replica holds: the cards it names, else its ``accelerators``; ``None``
    where it says neither."""
    cards = replica.get("cards")
    if cards is not None:
        return len(cards)
    count = (replica.get("resources") or {}).get("accelerators")
    return int(count) if isinstance(count, (int, float)) else None


def replica_disagreements(chosen: Resources, record: Resources,
                          replicas: Sequence[ServiceReplica],
                          card_model: Callable[[str, str], str | None]
                          ) -> tuple[list[str], list[str]]:
    """(what the replicas hold unlike the choice, what they do not say): per replica its
    CPU and memory, the number of cards it holds, and (where a card model was chosen and the
    replica names its cards) each card's model as ``card_model(node, index)`` gives it, each
    named with the deployment record's figure."""
    wrong: list[str] = []
    unsaid: list[str] = []
    for replica in replicas:
        name = replica.get("id", "?")
        given = replica.get("resources") or {}
        for key, wanted_size, value, stated in (
                ("cpu", chosen.get("cpu"), given.get("cpu"), record.get("cpu")),
                ("memory_gib", chosen.get("memory_gib"), given.get("memory_gib"),
                 record.get("memory_gib"))):
            if wanted_size is None:
                continue
            if not isinstance(value, (int, float)):
                unsaid.append(f"{name}: {key}")
            elif not math.isclose(float(value), float(wanted_size), rel_tol=1e-3):
                wrong.append(f"replica {name} runs with {key} {value:g}, the deployment "
                             f"record states {stated}, chosen {wanted_size:g}")
        held, wanted = _held_cards(replica), int(chosen.get("accelerators") or 0)
        if held is None:
            unsaid.append(f"{name}: cards")
        elif held != wanted:
            wrong.append(f"replica {name} holds {held} card(s), the deployment record states "
                         f"{record.get('accelerators')}, chosen {wanted}")
        model = chosen.get("accelerator_model")
        node = replica.get("node_id")
        if model and replica.get("cards") is not None and node:
            seen_models = {card: card_model(node, card) for card in replica.get("cards") or []}
            # A card the inventory does not list cannot be told of another model.
            unsaid += [f"{name}: model of card {card} on {node}"
                       for card, seen in seen_models.items() if seen is None]
            others = {card: seen for card, seen in seen_models.items()
                      if seen is not None and seen != model}
            if others:
                wrong.append(f"replica {name} holds card(s) of another model on {node}: "
                             f"{others}, the deployment record states "
                             f"{record.get('accelerator_model')}, chosen {model}")
    return wrong, unsaid


def _card_models(request: pytest.FixtureRequest) -> Callable[[str, str], str | None]:
    """``(node, card index) → model`` from the compute inventory, read once when first asked;
    without one, every card is of an unknown model (``None``)."""
    known: dict[tuple[str, str], str | None] = {}

    def model_of(node: str, index: str) -> str | None:
        if not known:
            try:
                compute: Compute = request.getfixturevalue("compute")
            except NotAssessed:
                return None
            known.update({(str(n.get("id")), str(c.get("index"))): c.get("model")
                          for n in compute.list_nodes() for c in n.get("accelerators") or []})
        return known.get((node, str(index)))

    return model_of


@pytest.mark.clause("8.5.a")
@pytest.mark.mutating
def test_self_service_deployment_becomes_ready(sca: CheckContext, models: Models,
                                               model_services: ModelServices,
                                               deployed: Deploy,
                                               request: pytest.FixtureRequest) -> None:
    """Deploy a preset model with 1 CPU, 2 GiB and 1 replica: the service reaches running with
    its replica ready, and runs with the resources chosen — as its record states them and as
    its ready replicas hold them (the platform's replica listing: a KServe predictor pod's
    requests, its cards and their model), where the platform shows its replicas."""
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
    try:
        listed = model_services.replicas(created["id"])
    except Unsupported as why:
        sca.evidence("replicas (second source)", f"not available: {why}; the resources are "
                                                 "the deployment record's only")
        return
    except Refused as refusal:
        raise TargetError(f"[8.5.a] the platform refused to list the replicas of "
                          f"{created['id']}: {refusal}") from None
    sca.evidence("replicas (second source)", listed)
    serving = [r for r in listed if r.get("ready", True)]
    if not serving:
        raise TargetError(f"[8.5.a] the deployment {created['id']} states 1 ready replica, "
                          f"its replica listing shows {len(listed)} and none ready: cannot "
                          "tell what the replica holds")
    if all(not r.get("resources") and r.get("cards") is None for r in serving):
        raise TargetError(f"[8.5.a] the replicas of {created['id']} say neither their CPU, "
                          "memory nor cards: cannot tell what they hold")
    problems, unsaid = replica_disagreements(DEPLOY_RESOURCES, given, serving,
                                             _card_models(request))
    assert not problems, (
        f"[8.5.a] the deployment {created['id']}'s replicas do not hold the chosen resources "
        f"the deployment record states (replica listing vs record): {'; '.join(problems)}")
    if unsaid:
        sca.evidence("not stated by the replica listing", unsaid)


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
