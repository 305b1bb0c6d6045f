"""6.7 推理服务部署 Inference service deployment."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

REQUESTS = 8


def _free_model(compute: Any) -> str | None:
    for node in compute.list_nodes():
        for card in node.get("accelerators", []):
            if card.get("allocated_to") is None and node.get("health", "healthy") == "healthy":
                return str(card["model"])
    return None


@pytest.mark.clause("6.7.a")
@pytest.mark.mutating
def test_service_runs_on_the_chosen_accelerator(sca: CheckContext, services: Any,
                                                compute: Any, probe_image: str,
                                                cleanup: Cleanup) -> None:
    """Deploy a probe service on 1 card of a chosen model: it answers, and the replica that
    answers holds one card of that model."""
    model = _free_model(compute)
    if model is None:
        sca.not_assessed("no free accelerator to deploy a probe service on")
    wanted = {"cpu": 1, "memory_gib": 1, "accelerators": 1, "accelerator_model": model}
    service = services.deploy(sca.name("svc-card"), probe_image, wanted, replicas=1,
                              labels=sca.labels)
    ready = services.wait_ready(service["id"])
    assert ready["status"] == "ready", f"[6.7.a] the probe service ended {ready['status']}"
    answer = services.invoke(service["id"], {"probe": sca.run_id})
    replica = ready["replica_status"][0]
    node = compute.get_node(replica["node_id"]) if replica.get("node_id") else {}
    models = sorted({c["model"] for c in node.get("accelerators", [])
                     if c["index"] in replica.get("accelerators", [])})
    sca.evidence("service on a chosen card", {"service": ready, "answer": answer,
                                              "card models": models})
    held = [str(i) for i in replica.get("accelerators", [])]
    assert len(held) == 1 and models == [model] and answer.get("accelerators") == held, (
        f"[6.7.a] service asked for 1 {model} card holds {held or 'none'} ({models}) and its "
        f"replica sees {answer.get('accelerators') or 'none'}")


@pytest.mark.clause("6.7.b")
@pytest.mark.mutating
def test_service_balances_across_two_replicas(sca: CheckContext, services: Any,
                                              probe_image: str, cleanup: Cleanup) -> None:
    """A probe service with 2 replicas: 8 requests through its one endpoint are served by
    both replicas."""
    service = services.deploy(sca.name("svc-lb"), probe_image,
                              {"cpu": 1, "memory_gib": 1, "accelerators": 0}, replicas=2,
                              labels=sca.labels)
    ready = services.wait_ready(service["id"])
    assert ready["status"] == "ready", f"[6.7.b] the 2-replica service ended {ready['status']}"
    served = [services.invoke(service["id"], {"n": n}).get("replica") for n in range(REQUESTS)]
    sca.evidence("replica of each request", served)
    assert len(set(served)) >= 2, (
        f"[6.7.b] {REQUESTS} requests through the service endpoint were all served by "
        f"replica(s) {sorted(set(served))}")
