"""What 8.5.a holds against a deployment's replicas, and what 6.10.b holds against a report's
recommendations: the pure comparisons, on answers written here (no platform)."""

from __future__ import annotations

from pytest_sca.capabilities import Resources, ServiceReplica
from pytest_sca.suites.chapter08_application.test_8_05_deployment import replica_disagreements

CHOSEN: Resources = {"cpu": 1, "memory_gib": 2, "accelerators": 0}


def _no_model(node: str, index: str) -> str | None:
    return None


def test_replicas_holding_the_choice_agree() -> None:
    replica: ServiceReplica = {"id": "r0", "node_id": "n1",
                               "resources": {"cpu": 1.0, "memory_gib": 2.0, "accelerators": 0}}
    assert replica_disagreements(CHOSEN, CHOSEN, [replica], _no_model) == ([], [])


def test_a_replica_unlike_the_record_is_named_with_both() -> None:
    replica: ServiceReplica = {"id": "r0", "resources": {"cpu": 1, "memory_gib": 1,
                                                         "accelerators": 1}}
    wrong, unsaid = replica_disagreements(CHOSEN, CHOSEN, [replica], _no_model)
    assert unsaid == []
    assert wrong == [
        "replica r0 runs with memory_gib 1, the deployment record states 2, chosen 2",
        "replica r0 holds 1 card(s), the deployment record states 0, chosen 0"]


def test_named_cards_count_and_their_model_is_compared() -> None:
    chosen: Resources = {"accelerators": 2, "accelerator_model": "H100"}
    models = {("n1", "0"): "H100", ("n1", "1"): "A10"}
    replica: ServiceReplica = {"id": "r0", "node_id": "n1", "cards": ["0", "1"],
                               "resources": {"accelerators": 2}}
    wrong, _ = replica_disagreements(chosen, chosen, [replica],
                                     lambda node, index: models.get((node, index)))
    assert len(wrong) == 1 and "another model on n1: {'1': 'A10'}" in wrong[0]
    fewer: ServiceReplica = {"id": "r1", "node_id": "n1", "cards": ["0"],
                             "resources": {"accelerators": 2}}
    wrong, _ = replica_disagreements(chosen, chosen, [fewer],
                                     lambda node, index: models.get((node, index)))
    # The cards it names count, not the request it echoes.
    assert wrong == ["replica r1 holds 1 card(s), the deployment record states 2, chosen 2"]


def test_what_a_replica_does_not_say_is_not_a_disagreement() -> None:
    wrong, unsaid = replica_disagreements(CHOSEN, CHOSEN, [{"id": "r0", "resources": {}}],
                                          _no_model)
    assert wrong == [] and unsaid == ["r0: cpu", "r0: memory_gib", "r0: cards"]

