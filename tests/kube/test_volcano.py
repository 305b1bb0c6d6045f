"""Queues and gangs through Volcano on an emulated cluster that serves it and not Kueue (an
EMULATOR: volcano.py): probe jobs as Volcano Jobs, their PodGroups, Queues, PriorityClasses
and Commands; and 6.5.b and 6.6.b end to end — a pass on the conforming cluster, a fail under
each misbehaving scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.capabilities import Refused, Unsupported, wait_for
from pytest_sca.suites.library import cards_held_by

from .apiserver import COMPONENTS
from .cluster import FIXTURES, EmulatedKubeCluster, emulated_kube
from .evaluate import evaluate, write_target

VOLCANO = frozenset({"volcano"})
ITEMS = {"6.5.b", "6.6.b"}
RANKS = ["python", "-c", "import os; print('rank', os.environ['RANK'], 'of', "
                         "os.environ['WORLD_SIZE'], 'at', os.environ['MASTER_ADDR'])"]
SLEEP = ["python", "-c", "import time; time.sleep(600)"]


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedKubeCluster]:
    with emulated_kube(tmp_path_factory.mktemp("volcano"), components=VOLCANO) as cluster:
        yield cluster


def _adapter(cluster: EmulatedKubeCluster, run_id: str, **settings: Any) -> KubernetesAdapter:
    return KubernetesAdapter(KubernetesConfig(**{**cluster.adapter_settings(), **settings}),
                             AdapterContext("volcano", None, run_id))


@pytest.fixture
def adapter(kube: EmulatedKubeCluster) -> Iterator[KubernetesAdapter]:
    made = _adapter(kube, "run-vc")
    yield made
    made.context.ledger.sweep()
    made.close()


def _stored(kube: EmulatedKubeCluster, group: str, plural: str, namespace: str | None,
            name: str) -> dict[str, Any]:
    return kube.call(lambda: kube.server.store.get(group, plural, namespace, name))


def test_the_component_is_served_as_upstream_names_it() -> None:
    served = {(s.group, s.version, s.plural, s.kind, s.namespaced) for s in COMPONENTS["volcano"]}
    assert served == {("batch.volcano.sh", "v1alpha1", "jobs", "Job", True),
                      ("scheduling.volcano.sh", "v1beta1", "queues", "Queue", False),
                      ("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", True),
                      ("bus.volcano.sh", "v1alpha1", "commands", "Command", True)}


def test_volcano_is_the_route_where_kueue_is_not_served(adapter: KubernetesAdapter) -> None:
    assert adapter.batch_scheduler() == "volcano"


def test_kueue_is_preferred_where_both_are_served_unless_the_target_names_volcano(
        tmp_path: Path) -> None:
    with emulated_kube(tmp_path, components=frozenset({"kueue", "volcano"})) as both:
        for setting, route in (("auto", "kueue"), ("kueue", "kueue"), ("volcano", "volcano")):
            made = _adapter(both, "run-both", batch_scheduler=setting)
            try:
                assert made.batch_scheduler() == route, setting
            finally:
                made.close()


@pytest.mark.slow
def test_a_job_is_a_gang_scheduled_volcano_job(adapter: KubernetesAdapter,
                                               kube: EmulatedKubeCluster) -> None:
    jobs: Any = adapter.capability("jobs")
    job = jobs.submit("two", "python:3.12", RANKS, {"cpu": 1, "memory_gib": 1}, workers=2)
    done = jobs.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded", done
    assert [w["rank"] for w in done["workers"]] == [0, 1]
    # rank 0 is reached at its pod's hostname in the job's subdomain (the svc plugin)
    assert jobs.logs(job["id"], 1).strip() == "rank 1 of 2 at two-worker-0.two"
    stored = _stored(kube, "batch.volcano.sh", "jobs", adapter.namespace, "two")
    spec = stored["spec"]
    assert (spec["schedulerName"], spec["minAvailable"], spec["queue"]) == (
        "volcano", 2, "sca-run-vc-default")
    assert [(t["name"], t["replicas"]) for t in spec["tasks"]] == [("worker", 2)]
    assert stored["status"]["state"]["phase"] == "Completed"
    group = _stored(kube, "scheduling.volcano.sh", "podgroups", adapter.namespace,
                    f"two-{stored['metadata']['uid']}")
    assert group["spec"]["minMember"] == 2
    assert [j["id"] for j in jobs.list_jobs()] == ["two"]


def test_a_gang_that_cannot_fit_holds_no_card_and_says_why(adapter: KubernetesAdapter) -> None:
    jobs: Any = adapter.capability("jobs")
    scheduling: Any = adapter.capability("scheduling")
    # mlu-node-1 has the only 4 MLU370 cards: two workers of 4 cannot fit.
    job = jobs.submit("gang", "python:3.12", ["true"], {
        "cpu": 1, "memory_gib": 1, "accelerators": 4, "accelerator_model": "MLU370-X8"},
        workers=2)
    reasons = wait_for(lambda: jobs.events(job["id"]),
                       lambda events: any(e["type"] == "Unschedulable" for e in events), 10,
                       lambda events: f"events: {events}")
    seen = jobs.get(job["id"])
    assert seen["status"] == "pending" and not any(w.get("node_id") for w in seen["workers"])
    assert any("cambricon.com/mlu370" in str(e["message"]) for e in reasons), reasons
    assert scheduling.podgroup(job["id"])["status"]["phase"] == "Pending"


def test_a_stopped_job_is_aborted_and_resumes(adapter: KubernetesAdapter,
                                              kube: EmulatedKubeCluster) -> None:
    jobs: Any = adapter.capability("jobs")
    job = jobs.submit("held", "python:3.12", SLEEP, {"cpu": 1, "memory_gib": 1})
    jobs.wait(job["id"], until={"running"}, timeout=20)
    jobs.stop(job["id"])
    stopped = jobs.wait(job["id"], until={"stopped"}, timeout=20)
    assert stopped["workers"] == []  # Volcano deleted the pods: nothing held
    assert _stored(kube, "batch.volcano.sh", "jobs", adapter.namespace,
                   "held")["status"]["state"]["phase"] == "Aborted"
    jobs.restart(job["id"])
    assert jobs.wait(job["id"], until={"running"}, timeout=20)["status"] == "running"
    # Both Commands were consumed by Volcano's job controller.
    assert kube.call(lambda: kube.server.store.list("bus.volcano.sh", "commands",
                                                    adapter.namespace)) == []


def test_the_inventory_and_topology_name_the_volcano_job_holding_cards(
        adapter: KubernetesAdapter) -> None:
    jobs: Any = adapter.capability("jobs")
    job = jobs.submit("holder", "python:3.12", SLEEP, {
        "cpu": 1, "memory_gib": 1, "accelerators": 2, "accelerator_model": "MLU370-X8"})
    running = jobs.wait(job["id"], until={"running"}, timeout=20)
    held = cards_held_by(adapter.capability("compute").list_nodes(),  # type: ignore[attr-defined]
                         job["id"])
    assert held == ["mlu-node-1:0", "mlu-node-1:1"], held
    assert running["workers"][0]["accelerators"] == [0, 1]
    topology = adapter.capability("topology").of_job(job["id"])  # type: ignore[attr-defined]
    assert [(n["id"], n["workers"], len(n["accelerators"])) for n in topology["nodes"]] == [
        ("mlu-node-1", [0], 2)], topology


def test_queued_jobs_carry_their_priority_class_and_queue(adapter: KubernetesAdapter,
                                                          kube: EmulatedKubeCluster) -> None:
    scheduling: Any = adapter.capability("scheduling")
    job = scheduling.submit_queued("queued", "python:3.12", ["true"],
                                   {"cpu": 1, "memory_gib": 1}, priority=100, queue="batch")
    spec = _stored(kube, "batch.volcano.sh", "jobs", adapter.namespace, job["id"])["spec"]
    assert (spec["queue"], spec["priorityClassName"]) == ("sca-run-vc-batch", "sca-run-vc-p100")
    priority = _stored(kube, "scheduling.k8s.io", "priorityclasses", None, "sca-run-vc-p100")
    assert (priority["value"], priority["preemptionPolicy"]) == (100, "Never")
    assert job["priority"] == 100 and job["queue"] == "sca-run-vc-batch"


def test_the_target_may_name_its_queue(kube: EmulatedKubeCluster) -> None:
    made = _adapter(kube, "run-named", volcano_queue="default")
    try:
        job = made.capability("jobs").submit(  # type: ignore[attr-defined]
            "named", "python:3.12", ["true"], {"cpu": 1, "memory_gib": 1})
        assert job["queue"] == "default"
        assert kube.call(lambda: kube.server.store.list(
            "scheduling.volcano.sh", "queues", None, "sca-run=run-named")) == []
    finally:
        made.context.ledger.sweep()
        made.close()


def test_a_closed_queue_is_refused_by_volcanos_admission(adapter: KubernetesAdapter,
                                                         kube: EmulatedKubeCluster) -> None:
    kube.call(lambda: kube.server.store.create("scheduling.volcano.sh", "queues", None, {
        "metadata": {"name": "closed"}, "spec": {"weight": 1},
        "status": {"state": "Closed"}}))
    made = _adapter(kube, "run-closed", volcano_queue="closed")
    try:
        with pytest.raises(Refused) as refused:
            made.capability("jobs").submit(  # type: ignore[attr-defined]
                "refused", "python:3.12", ["true"], {"cpu": 1, "memory_gib": 1})
        assert refused.value.status == 400
    finally:
        made.context.ledger.sweep()
        made.close()


def test_volcanos_example_job_starts_whole(kube: EmulatedKubeCluster) -> None:
    example = yaml.safe_load((FIXTURES / "examples" / "volcano-job.yaml").read_text())
    kube.call(lambda: kube.server.store.create("batch.volcano.sh", "jobs", "default", example))
    try:
        pods = wait_for(lambda: kube.call(lambda: kube.server.store.list(
            "", "pods", "default", "volcano.sh/job-name=test-job")),
            lambda found: len(found) == 6 and all(p["status"].get("phase") == "Running"
                                                  for p in found), 20,
            lambda found: f"pods: {[p['status'].get('phase') for p in found]}")
        assert sorted(p["metadata"]["name"] for p in pods) == [
            f"test-job-default-nginx-{i}" for i in range(6)]
        wait_for(lambda: _stored(kube, "batch.volcano.sh", "jobs", "default", "test-job"),
                 lambda job: job["status"]["state"]["phase"] == "Running", 5,
                 lambda job: f"job {job['status']['state']}")
    finally:
        kube.call(lambda: kube.server.store.delete("batch.volcano.sh", "jobs", "default",
                                                   "test-job"))


def test_the_sweep_deletes_a_killed_runs_volcano_objects(kube: EmulatedKubeCluster) -> None:
    killed = _adapter(kube, "run-killed")
    scheduling: Any = killed.capability("scheduling")
    scheduling.submit_queued("left", "python:3.12", SLEEP, {"cpu": 1, "memory_gib": 1},
                             priority=5)
    killed.close()  # killed: its ledger never ran
    sweeper = _adapter(kube, "other", comfyui_service=None)  # only the Kubernetes objects
    try:
        assert {"kubernetes:vcjob", "kubernetes:vcqueue",
                "kubernetes:priorityclass"} <= KubernetesAdapter.sweeps
        assert sweeper.sweep("run-killed") == []
        left = kube.call(lambda: [
            kube.server.store.list(group, plural, None, "sca-run=run-killed")
            for group, plural in (("batch.volcano.sh", "jobs"),
                                  ("scheduling.volcano.sh", "queues"),
                                  ("scheduling.k8s.io", "priorityclasses"))])
        assert left == [[], [], []]
    finally:
        sweeper.close()


def test_without_a_batch_scheduler_queued_jobs_are_unsupported_naming_both(
        tmp_path: Path) -> None:
    with emulated_kube(tmp_path, components=frozenset()) as bare:
        made = _adapter(bare, "run-bare")
        try:
            with pytest.raises(Unsupported, match=r"kueue\.x-k8s\.io.*batch\.volcano\.sh"):
                made.capability("scheduling").submit_queued(  # type: ignore[attr-defined]
                    "q", "python:3.12", ["true"], {}, priority=1)
        finally:
            made.close()


# --- 6.5.b and 6.6.b end to end ---------------------------------------------------------------

#: (faults, items that must fail under them); the conforming cluster passes every item.
CASES = [(frozenset(), ITEMS), (frozenset({"volcano_gang_off"}), {"6.6.b"}),
         (frozenset({"volcano_priority_ignored"}), {"6.5.b"})]


@pytest.mark.slow
@pytest.mark.parametrize(("faults", "items"), CASES,
                         ids=["+".join(sorted(f)) if f else "conforming" for f, _ in CASES])
def test_queue_and_gang_items_pass_through_volcano_and_fail_when_it_misbehaves(
        tmp_path: Path, faults: frozenset[str], items: set[str]) -> None:
    expected = "fail" if faults else "pass"
    with emulated_kube(tmp_path, components=VOLCANO, faults=faults) as cluster:
        verdicts = evaluate(write_target(cluster, tmp_path), items)
    wrong = {item: verdicts[item] for item in items if verdicts[item][0] != expected}
    assert not wrong, wrong
