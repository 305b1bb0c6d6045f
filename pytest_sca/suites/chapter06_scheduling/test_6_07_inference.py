"""6.7 推理服务部署 Inference service deployment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from pytest_sca.capabilities import Compute, Node, Service, Services, TargetError
from pytest_sca.fixtures import CheckContext

from ..library import SMALL, spread_over_replicas

REQUESTS = 8


def _free_model(nodes: Sequence[Node]) -> str | None:
    """The model of a free card on a healthy node, or None."""
    for node in nodes:
        if node.get("health", "healthy") != "healthy":
            continue
        for card in node.get("accelerators") or []:
            if card.get("allocated_to") is None and card.get("model"):
                return str(card["model"])
    return None


def _card_ids(cards: Sequence[object]) -> list[str]:
    """Card indices as strings, whether a platform lists indices or card records."""
    return [str(card.get("index") if isinstance(card, Mapping) else card) for card in cards]


def _ready(services: Services, service: Service, item: str) -> Service:
    ready = services.wait_ready(service["id"])
    assert ready.get("status") == "ready", (
        f"[{item}] the probe service ended {ready.get('status')}, not ready")
    return ready


@pytest.mark.clause("6.7.a")
@pytest.mark.mutating
def test_service_runs_on_the_chosen_accelerator(sca: CheckContext, services: Services,
                                                compute: Compute, probe_image: str) -> None:
    """Deploy a probe service on 1 card of a chosen model: it answers this request, and its
    replica holds one card of that model (node inventory) and sees one card."""
    nodes = compute.list_nodes()
    if not any(node.get("accelerators") for node in nodes):
        sca.not_assessed("the inventory lists no accelerator to deploy a probe service on")
    model = _free_model(nodes)
    if model is None:
        raise TargetError("[6.7.a] every accelerator of a healthy node is busy: no card to "
                          "deploy the probe service on (run when the platform is idle)")
    service = services.deploy(sca.name("svc-card"), probe_image,
                              {**SMALL, "accelerators": 1, "accelerator_model": model},
                              replicas=1, labels=sca.labels)
    ready = _ready(services, service, "6.7.a")
    replicas = ready.get("replica_status") or []
    node_id = replicas[0].get("node_id") if len(replicas) == 1 else None
    if not node_id:
        raise TargetError(f"[6.7.a] the 1-replica service lists replicas {replicas}: no node "
                          f"to look its card up on")
    answer = services.invoke(service["id"], {"probe": sca.run_id})
    held = _card_ids(list(replicas[0].get("accelerators") or []))
    node = compute.get_node(node_id)
    models = sorted({str(c.get("model")) for c in node.get("accelerators") or []
                     if str(c.get("index")) in held})
    seen = answer.get("accelerators")
    sca.evidence("service on a chosen card", {"service": ready, "answer": answer,
                                              "card models": models})
    assert sca.run_id in str(answer.get("echo")), (
        f"[6.7.a] the service did not answer the request sent to it: {answer}")
    assert len(held) == 1 and models == [model] and isinstance(seen, list) and len(seen) == 1, (
        f"[6.7.a] service asked for 1 {model} card holds {held or 'none'} ({models}) and its "
        f"replica sees {seen or 'none'}")


@pytest.mark.clause("6.7.b")
@pytest.mark.mutating
def test_service_balances_across_two_replicas(sca: CheckContext, services: Services,
                                              probe_image: str) -> None:
    """A probe service with 2 replicas: 8 requests through its one endpoint are each answered
    by one of its listed replicas, and by both."""
    service = services.deploy(sca.name("svc-lb"), probe_image, SMALL, replicas=2,
                              labels=sca.labels)
    ready = _ready(services, service, "6.7.b")
    listed = sorted({r.get("index") for r in ready.get("replica_status") or []}, key=str)
    if len(listed) != 2:
        raise TargetError(f"[6.7.b] the 2-replica service lists replicas {listed}")
    served = [services.invoke(service["id"], {"n": n}).get("replica") for n in range(REQUESTS)]
    sca.evidence("replica of each request", {"listed replicas": listed, "served by": served})
    spread_over_replicas("6.7.b", listed, served)
