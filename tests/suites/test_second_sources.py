"""What 8.5.a holds against a deployment's replicas, what 6.10.b holds against a report's
recommendations, what 6.2.a holds against the exporters' cards and what 6.5.e holds against
the platform's clusters and nodes: the pure comparisons, on answers written here (no
platform)."""

from __future__ import annotations

from pytest_sca.capabilities import (
    MetricSample,
    Node,
    RefusalReason,
    Refused,
    ResourceReport,
    Resources,
    ServiceReplica,
    metric_table,
)
from pytest_sca.suites.chapter06_scheduling.test_6_02_compute import exporter_card_counts
from pytest_sca.suites.chapter06_scheduling.test_6_05_scheduling import PlatformNames
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


# --- 6.2.a: the exporters' cards against the inventory ------------------------------------

TABLE = metric_table()
NOW = 1_000_000.0


def _card(node: str, index: int, at: float | None = NOW, metric: str = "DCGM_FI_DEV_GPU_UTIL",
          node_label: str = "Hostname", card_label: str = "gpu") -> MetricSample:
    return MetricSample(metric, {node_label: node, card_label: str(index)}, 0.0, at)


def _listing(cards: int) -> list[Node]:
    return [{"id": "n1", "hostname": "host-1",
             "accelerators": [{"index": i, "model": "H100"} for i in range(cards)]}]


def test_an_exporter_with_more_current_cards_than_listed_is_beyond() -> None:
    found = {"dcgm": [_card("host-1", i) for i in range(8)]}
    compared, beyond, lagging = exporter_card_counts(_listing(4), TABLE, found, 60.0, NOW)
    assert list(beyond) == ["n1"] and lagging == {}
    assert compared["n1"] == "the inventory lists 4 card(s); dcgm reports 8 (8 current)"
    assert exporter_card_counts(_listing(8), TABLE, found, 60.0, NOW)[1:] == ({}, {})


def test_extra_cards_only_in_stale_series_are_lagging_not_beyond() -> None:
    found = {"dcgm": [_card("n1", i) for i in range(4)]
             + [_card("n1", i, at=NOW - 600) for i in range(4, 8)]}
    _, beyond, lagging = exporter_card_counts(_listing(4), TABLE, found, 60.0, NOW)
    assert beyond == {} and list(lagging) == ["n1"]


def test_exporters_are_compared_alone_and_unreported_nodes_not_at_all() -> None:
    # Two exporters reporting the same four cards: no card beyond the four listed.
    found = {"dcgm": [_card("n1", i) for i in range(4)],
             "sca": [_card("n1", i, metric="sca_accelerator_utilization_ratio",
                           node_label="node", card_label="index") for i in range(4)]}
    compared, beyond, _ = exporter_card_counts(_listing(4), TABLE, found, 60.0, NOW)
    assert beyond == {} and "dcgm reports 4" in compared["n1"] and "sca reports 4" in compared["n1"]
    # Fewer cards reported than listed is 6.4.a's finding, not this comparison's.
    assert exporter_card_counts(_listing(8), TABLE, found, 60.0, NOW)[1] == {}
    assert exporter_card_counts(_listing(8), TABLE, {}, 60.0, NOW) == ({}, {}, {})


# --- 6.5.e: the burst targets against what the platform has -------------------------------


def _not_found(name: str) -> object:
    raise Refused("GET /clusters/x", 404, "not_found", f"{name} not found",
                  RefusalReason.NOT_FOUND)


def _forbidden(name: str) -> object:
    raise Refused("GET /nodes/x", 403, "forbidden", "no", RefusalReason.FORBIDDEN)


def test_a_burst_target_is_listed_read_back_missing_or_undecided() -> None:
    names = PlatformNames(listed={"c1"}, reads=[_not_found, lambda name: {"id": name}])
    assert names.has("c1") is True and names.has("n7") is True
    assert PlatformNames(listed={"c1"}, reads=[_not_found, _not_found]).has("gone") is False
    assert PlatformNames(reads=[_not_found, _forbidden]).has("hidden") is None
    assert PlatformNames(listed={"c1"}).has("c2") is None
