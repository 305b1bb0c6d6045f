"""Clusters through Cluster API (``cluster.x-k8s.io/v1beta1``) on the emulated management
cluster (an EMULATOR: capi.py): the adapter's operations, what is not assessed without the
component or a ClusterClass, the sweep after a kill, and 6.9.a/6.9.b end to end — a pass on
the conforming cluster, a fail under each misbehaving controller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.capabilities import Unsupported, wait_for

from .apiserver import COMPONENTS
from .cluster import EmulatedKubeCluster, emulated_kube
from .evaluate import evaluate, write_target

ITEMS = {"6.9.a", "6.9.b"}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedKubeCluster]:
    # Only what the clusters need: no pod runs here.
    with emulated_kube(tmp_path_factory.mktemp("capi"),
                       components=frozenset({"clusterapi"})) as cluster:
        yield cluster


def _adapter(cluster: EmulatedKubeCluster, run_id: str, **settings: Any) -> KubernetesAdapter:
    return KubernetesAdapter(KubernetesConfig(**{**cluster.adapter_settings(), **settings}),
                             AdapterContext("capi", None, run_id))


@pytest.fixture
def adapter(kube: EmulatedKubeCluster) -> Iterator[KubernetesAdapter]:
    made = _adapter(kube, "run-capi")
    yield made
    made.context.ledger.sweep()
    made.close()


def test_a_cluster_is_created_scaled_out_and_in_and_deleted(adapter: KubernetesAdapter) -> None:
    clusters: Any = adapter.capability("clusters")
    compute: Any = adapter.capability("compute")
    asked = clusters.create_cluster("sca-c1", "container", 1, labels={"sca-run": "run-capi"})
    assert asked["status"] == "provisioning", asked  # asynchronous, as Cluster API is
    created = wait_for(lambda: clusters.get_cluster(asked["id"]),
                       lambda c: c["status"] == "ready", 20, lambda c: f"creation: {c}")
    assert len(created["node_ids"]) == 1, created
    assert created["id"] == f"{adapter.namespace}/sca-c1" and created["kind"] == "container"
    listed = compute.list_nodes(cluster_id=created["id"])
    assert [n["id"] for n in listed] == created["node_ids"]
    assert {n["kind"] for n in listed} == {"container"}
    assert compute.get_node(created["node_ids"][0])["cluster_id"] == created["id"]
    first = created["node_ids"][0]

    clusters.scale_out(created["id"], 1)
    grown = wait_for(lambda: clusters.get_cluster(created["id"]),
                     lambda c: c["status"] == "ready" and len(c["node_ids"]) == 2, 20,
                     lambda c: f"scale-out: {c}")
    added = next(n for n in grown["node_ids"] if n != first)
    clusters.scale_in(created["id"], added)
    shrunk = wait_for(lambda: clusters.get_cluster(created["id"]),
                      lambda c: c["status"] == "ready" and len(c["node_ids"]) == 1, 20,
                      lambda c: f"scale-in: {c}")
    # The machine annotated cluster.x-k8s.io/delete-machine went, not the older one.
    assert shrunk["node_ids"] == [first]
    assert [c["id"] for c in clusters.list_clusters("container")] == [created["id"]]
    assert clusters.list_clusters("baremetal") == []

    clusters.delete_cluster(created["id"])
    assert clusters.list_clusters() == []
    assert compute.list_nodes(cluster_id=created["id"]) == []


def test_the_kind_is_the_cluster_class_a_cluster_uses(adapter: KubernetesAdapter,
                                                     kube: EmulatedKubeCluster) -> None:
    clusters: Any = adapter.capability("clusters")
    created = clusters.create_cluster("sca-bm", "baremetal", 1)
    cluster = kube.call(lambda: kube.server.store.get(
        "cluster.x-k8s.io", "clusters", adapter.namespace, "sca-bm"))
    topology = cluster["spec"]["topology"]
    assert (topology["class"], topology["classNamespace"]) == ("metal3-example", "capi-classes")
    # The worker class is the ClusterClass's own (CAPM3's example names it example-worker).
    assert topology["workers"]["machineDeployments"] == [
        {"class": "example-worker", "name": "md-0", "replicas": 1}]
    assert created["kind"] == "baremetal"


def test_a_kind_without_a_cluster_class_is_unsupported(kube: EmulatedKubeCluster) -> None:
    made = _adapter(kube, "run-capi-one", cluster_classes={"container": "capi-classes/quick-start"})
    try:
        with pytest.raises(Unsupported, match=r"cluster_classes\.baremetal"):
            made.capability("clusters").create_cluster("x", "baremetal", 1)  # type: ignore[attr-defined]
    finally:
        made.context.ledger.sweep()
        made.close()


def test_without_cluster_classes_clusters_go_to_the_next_adapter() -> None:
    why = KubernetesAdapter.unconfigured(KubernetesConfig(), "clusters")
    assert why is not None and "cluster_classes" in why
    assert KubernetesAdapter.unconfigured(
        KubernetesConfig(cluster_classes={"container": "quick-start"}), "clusters") is None


def test_a_cluster_without_cluster_api_is_unsupported_naming_the_group(tmp_path: Path) -> None:
    with emulated_kube(tmp_path, components=frozenset()) as bare:
        made = _adapter(bare, "run-bare")
        try:
            with pytest.raises(Unsupported, match=r"cluster\.x-k8s\.io"):
                made.capability("clusters").create_cluster("x", "container", 1)  # type: ignore[attr-defined]
        finally:
            made.close()


def test_the_sweep_deletes_a_killed_runs_clusters(kube: EmulatedKubeCluster) -> None:
    killed = _adapter(kube, "run-killed")
    created = killed.capability("clusters").create_cluster(  # type: ignore[attr-defined]
        "sca-left", "container", 2)
    killed.close()  # killed: its ledger never ran
    sweeper = _adapter(kube, "other")
    try:
        assert "kubernetes:capicluster" in KubernetesAdapter.sweeps
        assert sweeper.sweep("run-killed") == []
        namespace = created["id"].split("/")[0]
        # Cluster API's controllers delete a Cluster's descendants asynchronously.
        wait_for(lambda: kube.call(lambda: [
            kube.server.store.list("cluster.x-k8s.io", plural, namespace)
            for plural in ("clusters", "machinedeployments", "machinesets", "machines")]),
            lambda left: left == [[], [], [], []], 10, lambda left: f"left: {left}")
    finally:
        sweeper.close()


def test_the_component_is_served_as_upstream_names_it() -> None:
    assert {s.kind for s in COMPONENTS["clusterapi"]} >= {
        "Cluster", "ClusterClass", "MachineDeployment", "MachineSet", "Machine"}


# --- 6.9.a and 6.9.b end to end -------------------------------------------------------------


#: (faults, items): the stuck scale-out leaves each cluster ``scaling``, so each item waits out
#: the target's ``clusters.scale_timeout_s`` (:data:`SCALE_TIMEOUT_S` here) before it fails.
CASES = [(frozenset(), ITEMS), (frozenset({"capi_scale_in_ignored"}), ITEMS),
         (frozenset({"capi_scale_out_stuck"}), ITEMS)]
#: Longer than the emulated controllers take to add or remove a machine, many times over.
SCALE_TIMEOUT_S = 15


@pytest.mark.slow
@pytest.mark.parametrize(("faults", "items"), CASES,
                         ids=["+".join(sorted(f)) + f"-{'+'.join(sorted(i))}" if f
                              else "conforming" for f, i in CASES])
def test_scaling_items_pass_on_a_conforming_cluster_and_fail_on_a_broken_one(
        tmp_path: Path, faults: frozenset[str], items: set[str]) -> None:
    expected = "fail" if faults else "pass"
    with emulated_kube(tmp_path, faults=faults) as cluster:
        verdicts = evaluate(write_target(cluster, tmp_path, capabilities={
            "clusters": {"scale_timeout_s": SCALE_TIMEOUT_S}}), items)
    wrong = {item: verdicts[item] for item in items if verdicts[item][0] != expected}
    assert not wrong, wrong
