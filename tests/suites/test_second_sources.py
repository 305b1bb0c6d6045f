"""What 8.5.a holds against a deployment's replicas, and what 6.10.b holds against a report's
recommendations: the pure comparisons, on answers written here (no platform)."""

from __future__ import annotations

from pytest_sca.capabilities import Node, ResourceReport, Resources, ServiceReplica
from pytest_sca.suites.chapter06_scheduling.test_6_10_operations import recommendation_problems
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


def test_a_card_the_inventory_does_not_list_is_not_of_another_model() -> None:
    chosen: Resources = {"accelerators": 1, "accelerator_model": "H100"}
    replica: ServiceReplica = {"id": "r0", "node_id": "n9", "cards": ["0"],
                               "resources": {"accelerators": 1}}
    assert replica_disagreements(chosen, chosen, [replica], _no_model) == (
        [], ["r0: model of card 0 on n9"])


def test_what_a_replica_does_not_say_is_not_a_disagreement() -> None:
    wrong, unsaid = replica_disagreements(CHOSEN, CHOSEN, [{"id": "r0", "resources": {}}],
                                          _no_model)
    assert wrong == [] and unsaid == ["r0: cpu", "r0: memory_gib", "r0: cards"]


NODES: list[Node] = [
    {"id": "n1", "cluster_id": "c1", "accelerators": [
        {"index": 0, "model": "H100", "allocated_to": "job-1"},
        {"index": 1, "model": "H100", "allocated_to": "job-2"}]},
    {"id": "n2", "cluster_id": "c1", "accelerators": [
        {"index": i, "model": "A10", "allocated_to": None} for i in range(10)]},
]
KNOWN = {"nodes": {"n1", "n2"}, "clusters": {"c1"}, "accelerators": {"H100", "A10"},
         "tenants": {"t1"}}


def _report(*advice: dict[str, str], jobs: dict[str, int] | None = None) -> ResourceReport:
    return {"accelerators": {
        "total": 12, "allocated": 2,
        "by_model": [{"model": "A10", "total": 10, "allocated": 0},
                     {"model": "H100", "total": 2, "allocated": 2}],
        "by_cluster": [{"cluster_id": "c1", "total": 12, "allocated": 2}]},
        "jobs": jobs or {"submitted": 3, "failed": 0},
        "recommendations": list(advice)}  # type: ignore[typeddict-item]


def test_sound_advice_passes() -> None:
    report = _report(
        {"kind": "scale_in", "subject": "accelerators/A10", "message": "10 idle A10"},
        {"kind": "scale_out", "subject": "accelerators/H100", "message": "H100 full"},
        {"kind": "raise_quota", "subject": "tenants/t1", "message": "t1 at its quota"},
        {"kind": "repair", "subject": "node/n2", "message": "n2 faulty"},
        {"kind": "investigate_failures", "subject": "jobs", "message": "failures"})
    assert recommendation_problems(report, KNOWN, NODES) == ([], [])


def test_subjects_the_platform_does_not_have_fail() -> None:
    report = _report(
        {"kind": "drain", "subject": "nodes/n9", "message": "drain n9"},
        {"kind": "raise_quota", "subject": "tenants/t7", "message": "t7 at its quota"},
        {"kind": "scale_in", "subject": "accelerators/V100", "message": "idle V100"})
    problems, _ = recommendation_problems(report, KNOWN, NODES)
    assert [p.split(" names ")[1].split(",")[0] for p in problems] == [
        "nodes 'n9'", "tenants 't7'", "accelerators 'V100'"]


def test_advice_against_the_reports_own_figures_fails() -> None:
    report = _report(
        {"kind": "scale_in", "subject": "accelerators/H100", "message": "release H100"},
        {"kind": "scale_out", "subject": "accelerators/A10", "message": "add A10"},
        {"kind": "scale_in", "subject": "nodes/n1", "message": "release n1"})
    problems, _ = recommendation_problems(report, KNOWN, NODES)
    assert len(problems) == 3
    assert "releasing capacity of a subject the report shows 2 of 2" in problems[0]
    assert "adding capacity to a subject the report shows 0 of 10" in problems[1]
    assert "releasing capacity of a subject the report shows 2 of 2" in problems[2]


def test_waiting_work_or_low_utilisation_explain_the_advice() -> None:
    out = {"kind": "scale_out", "subject": "accelerators/A10", "message": "add A10"}
    assert recommendation_problems(_report(out, jobs={"submitted": 3, "pending": 2}), KNOWN,
                                   NODES)[0] == []
    report = _report({"kind": "scale_in", "subject": "accelerators/H100", "message": "x"})
    report["accelerators"]["by_model"][1]["utilisation"] = 12.0  # percent: allocated, unused
    assert recommendation_problems(report, KNOWN, NODES)[0] == []


def test_subjects_of_unknown_kinds_are_not_compared() -> None:
    report = _report({"kind": "review", "subject": "images/x", "message": "old image"},
                     {"kind": "raise_quota", "message": "no subject"})
    problems, unchecked = recommendation_problems(report, {"nodes": {"n1"}}, NODES)
    assert problems == [] and len(unchecked) == 2
