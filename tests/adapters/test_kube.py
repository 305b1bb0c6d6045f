"""The Kubernetes adapter against a Kubernetes API emulator (kmock's KubernetesEmulator).

No real kube-apiserver can run on this machine, so this is an EMULATOR: it stores and
serves objects over real HTTP to the official client, but runs no controllers and ignores
selectors. Where a behaviour needs a controller (a Job's pods, their exit codes, the Job's
conditions) the test writes those objects itself, as the kubelet and job controller would.
Every call the shipped checks make through the `tenancy`, `compute` and `jobs` capabilities is
here (kube_emulator.py bridges the emulator's two gaps: Namespace paths and token requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter, dns_name, vendor_of
from pytest_sca.adapters.registry import load_adapter_class
from pytest_sca.capabilities import Refused, TargetError, Unsupported

from .kube_emulator import EmulatedCluster, emulated_cluster

NAMESPACE = "sca-probe"
RUN = "run-kube-1"

NODES = {
    "gpu-1": ({"nvidia.com/gpu": "8"}, {"nvidia.com/gpu.product": "H100",
                                         "topology.kubernetes.io/zone": "z1"}),
    "npu-1": ({"huawei.com/Ascend910B": "8"}, {}),
    "mlu-1": ({"cambricon.com/mlu370": "4"}, {}),
    "dcu-1": ({"hygon.com/dcu": "8", "nvidia.com/gpumem": "1000"}, {}),
    "acme-1": ({"acme.example/npu": "2"}, {}),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedCluster]:
    folder = tmp_path_factory.mktemp("kube")
    logs = {(NAMESPACE, "sca-job-w0"): "sca-allreduce rank=0 world=2 sum=3\n"}
    with emulated_cluster(folder, logs) as emulated:
        api = _raw(emulated)
        for name, (allocatable, labels) in NODES.items():
            api.create_node({"apiVersion": "v1", "kind": "Node",
                             "metadata": {"name": name, "labels": labels},
                             "status": {"allocatable": {"cpu": "64", "memory": "512Gi",
                                                        **allocatable},
                                        "conditions": [{"type": "Ready", "status": "True"}]}})
        yield emulated


def _raw(cluster: EmulatedCluster) -> Any:
    configuration = client.Configuration()
    configuration.host = cluster.url
    return client.CoreV1Api(client.ApiClient(configuration))


@pytest.fixture
def adapter(cluster: EmulatedCluster) -> Iterator[KubernetesAdapter]:
    config = KubernetesConfig(kubeconfig=str(cluster.kubeconfig), context="emulated",
                              namespace=NAMESPACE, vendor_resources={"acme.example/npu": "acme"})
    made = KubernetesAdapter(config, AdapterContext("kube-test", None, RUN))
    yield made
    made.close()


def test_registry_serves_the_kubernetes_transport() -> None:
    assert load_adapter_class("kubernetes") is KubernetesAdapter
    assert {"tenancy", "compute", "jobs"} <= KubernetesAdapter.provides


def test_vendor_table_knows_domestic_accelerators_and_shares() -> None:
    assert vendor_of("huawei.com/Ascend910B") == "huawei"
    assert vendor_of("cambricon.com/mlu370") == "cambricon"
    assert vendor_of("nvidia.com/mig-1g.10gb") == "nvidia"
    assert vendor_of("nvidia.com/gpumem") is None  # a HAMi share, not a card
    assert vendor_of("cpu") is None
    assert vendor_of("acme.example/npu", {"acme.example/npu": "acme"}) == "acme"
    assert dns_name("SCA-Run_1/allreduce") == "sca-run-1-allreduce"


def test_nodes_list_cards_of_every_vendor_from_allocatable(adapter: KubernetesAdapter) -> None:
    nodes = {n["id"]: n for n in adapter.capability("compute").list_nodes()}
    assert set(nodes) == set(NODES)
    vendors = {n: {c["vendor"] for c in node["accelerators"]} for n, node in nodes.items()}
    assert vendors == {"gpu-1": {"nvidia"}, "npu-1": {"huawei"}, "mlu-1": {"cambricon"},
                       "dcu-1": {"hygon"}, "acme-1": {"acme"}}
    assert len(nodes["dcu-1"]["accelerators"]) == 8  # gpumem is not counted as cards
    assert nodes["gpu-1"]["accelerators"][0]["model"] == "H100"
    assert nodes["npu-1"]["accelerators"][0]["model"] == "Ascend910B"
    assert nodes["gpu-1"]["topology"] == {"topology.kubernetes.io/zone": "z1"}
    assert nodes["gpu-1"]["cpu"] == 64 and nodes["gpu-1"]["memory_gib"] == 512
    assert nodes["gpu-1"]["health"] == "healthy"
    assert adapter.capability("compute").get_node("mlu-1")["id"] == "mlu-1"
    with pytest.raises(Refused) as missing:
        adapter.capability("compute").get_node("nope")
    assert missing.value.status == 404


def test_multi_worker_job_is_an_indexed_job_with_a_rendezvous(
        cluster: EmulatedCluster, adapter: KubernetesAdapter) -> None:
    jobs = adapter.capability("jobs")
    job = jobs.submit("sca-job", "probe:1", ["python", "-c", "print(1)"],
                      {"cpu": 1, "memory_gib": 2, "accelerators": 1,
                       "accelerator_model": "Ascend910B"},
                      workers=2, env={"X": "1"}, labels={"sca-run": "evil", "team": "a"})
    assert job["id"] == "sca-job" and job["world_size"] == 2 and job["status"] == "pending"
    assert job["labels"]["sca-run"] == RUN and job["labels"]["team"] == "a"
    raw: Any = client.BatchV1Api(adapter.api).read_namespaced_job("sca-job", NAMESPACE)
    spec = raw.spec
    assert (spec.completions, spec.parallelism, spec.completion_mode) == (2, 2, "Indexed")
    container = spec.template.spec.containers[0]
    assert container.resources.limits == {"cpu": "1", "memory": "2Gi",
                                          "huawei.com/Ascend910B": "1"}
    env = {e.name: e for e in container.env}
    assert env["MASTER_ADDR"].value == "sca-job-0.sca-job" and env["WORLD_SIZE"].value == "2"
    assert "job-completion-index" in env["RANK"].value_from.field_ref.field_path
    assert env["SCA_NODE_NAME"].value_from.field_ref.field_path == "spec.nodeName"
    service = _raw(cluster).read_namespaced_service("sca-job", NAMESPACE)
    assert service.spec.cluster_ip == "None"
    assert [j["id"] for j in jobs.list_jobs(label=f"sca-run={RUN}")] == ["sca-job"]
    assert jobs.list_jobs(label="sca-run=other") == []

    # The emulator runs no job controller: write what the kubelet and controller would.
    core = _raw(cluster)
    for rank in range(2):
        core.create_namespaced_pod(NAMESPACE, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"sca-job-w{rank}", "labels": {"job-name": "sca-job"},
                         "annotations": {"batch.kubernetes.io/job-completion-index": str(rank)}},
            "spec": {"nodeName": "npu-1", "containers": [{
                "name": "worker", "image": "probe:1",
                "resources": {"limits": {"huawei.com/Ascend910B": "1"}}}]},
            "status": {"phase": "Running"}})
    running = jobs.get("sca-job")
    assert running["status"] == "running"
    assert [(w["rank"], w["node_id"]) for w in running["workers"]] == [(0, "npu-1"),
                                                                      (1, "npu-1")]
    held = [c for c in adapter.capability("compute").get_node("npu-1")["accelerators"]
            if c["allocated_to"] == "sca-job"]
    assert len(held) == 2
    client.BatchV1Api(adapter.api).patch_namespaced_job_status(
        "sca-job", NAMESPACE, {"status": {"conditions": [{"type": "Complete",
                                                          "status": "True"}]}})
    assert jobs.wait("sca-job", timeout=5)["status"] == "succeeded"
    assert "sum=3" in jobs.logs("sca-job", worker=0)
    with pytest.raises(Refused):
        jobs.logs("sca-job", worker=7)
    core.create_namespaced_event(NAMESPACE, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "sca-job.1"},
        "involvedObject": {"kind": "Job", "name": "sca-job", "namespace": NAMESPACE},
        "reason": "Completed", "message": "Job completed", "type": "Normal"})
    assert [e["reason"] for e in jobs.events("sca-job")] == ["Completed"]
    jobs.delete("sca-job")
    with pytest.raises(Refused) as gone:
        jobs.get("sca-job")
    assert gone.value.status == 404
    with pytest.raises(client.ApiException):
        core.read_namespaced_service("sca-job", NAMESPACE)


def test_stop_suspends_and_the_undo_removes_what_the_run_created(
        cluster: EmulatedCluster, adapter: KubernetesAdapter) -> None:
    jobs = adapter.capability("jobs")
    jobs.submit("sca-left", "probe:1", ["sleep", "60"], {"cpu": 1, "memory_gib": 1}, workers=1)
    assert jobs.stop("sca-left")["status"] == "stopped"
    assert jobs.restart("sca-left")["status"] == "pending"
    assert "kubernetes:job" in adapter.context.ledger.kinds
    assert adapter.context.ledger.sweep() == []
    with pytest.raises(Refused):
        jobs.get("sca-left")


def test_a_job_that_failed_reports_its_worker_exit_code(
        cluster: EmulatedCluster, adapter: KubernetesAdapter) -> None:
    jobs = adapter.capability("jobs")
    jobs.submit("sca-fail", "probe:1", ["false"], {"cpu": 1, "memory_gib": 1})
    _raw(cluster).create_namespaced_pod(NAMESPACE, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "sca-fail-0", "labels": {"job-name": "sca-fail"}},
        "spec": {"nodeName": "gpu-1", "containers": [{"name": "worker", "image": "probe:1"}]},
        "status": {"phase": "Failed", "containerStatuses": [{
            "name": "worker", "image": "probe:1", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}})
    client.BatchV1Api(adapter.api).patch_namespaced_job_status(
        "sca-fail", NAMESPACE, {"status": {"conditions": [{"type": "Failed", "status": "True"}]}})
    failed = jobs.get("sca-fail")
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert failed["workers"][0]["status"] == "failed"


def test_acting_as_sends_the_other_token(adapter: KubernetesAdapter) -> None:
    other = adapter.capability("compute").acting_as("sa-token-123456")
    assert other.subject.api.configuration.api_key == {
        "authorization": "Bearer sa-token-123456"}
    assert len(other.list_nodes()) == len(NODES)
    assert "sa-token-123456" not in adapter.context.redact("sa-token-123456")


def test_an_unreachable_cluster_is_a_target_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n")
    adapter = KubernetesAdapter(KubernetesConfig(kubeconfig=str(kubeconfig), namespace="x"),
                                AdapterContext("t", None, RUN))
    adapter.api.configuration.retries = 0
    with pytest.raises(TargetError, match="cannot reach"):
        adapter.capability("compute").list_nodes()
    adapter.close()


def test_tenants_users_and_quotas_are_namespaces_rbac_and_resource_quota(
        cluster: EmulatedCluster, adapter: KubernetesAdapter) -> None:
    tenancy = adapter.capability("tenancy")
    tenant = tenancy.create_tenant("SCA run-kube-1 quota", labels={"team": "a"})
    assert tenant["id"] == "sca-run-kube-1-quota"
    assert tenant["labels"]["sca-run"] == RUN and tenant["labels"]["sca-tenant"] == "true"
    assert tenant["id"] in [t["id"] for t in tenancy.list_tenants()]
    assert tenancy.get_tenant(tenant["id"])["labels"]["team"] == "a"
    member = tenancy.create_user(tenant["id"], "probe-member", "member")
    tenancy.create_user(tenant["id"], "probe-reader", "readonly")
    assert member["api_key"] == f"tok.{tenant['id']}.probe-member"
    assert "***" in adapter.context.redact(member["api_key"])
    rbac: Any = client.RbacAuthorizationV1Api(adapter.api)
    bindings = {b.metadata.name: b.role_ref.name
                for b in rbac.list_namespaced_role_binding(tenant["id"]).items}
    assert bindings == {"probe-member": "edit", "probe-reader": "view"}
    assert {u["id"]: u["role"] for u in tenancy.list_users(tenant["id"])} == {
        "probe-member": "member", "probe-reader": "readonly"}
    assert {r["name"] for r in tenancy.list_roles()} >= {"member", "readonly", "tenant_admin"}

    assert tenancy.get_quota(tenant["id"])["accelerators"] is None
    quota = tenancy.set_quota(tenant["id"], cpu=4, memory_gib=16, accelerators=1)
    assert (quota["cpu"], quota["memory_gib"], quota["accelerators"]) == (4, 16, 1)
    core: Any = client.CoreV1Api(adapter.api)
    hard = core.read_namespaced_resource_quota("sca-quota", tenant["id"]).spec.hard
    assert hard["requests.huawei.com/Ascend910B"] == "1" and hard["requests.cpu"] == "4"
    assert tenancy.set_quota(tenant["id"], accelerators=2)["accelerators"] == 2

    # The member's key acts inside its tenant: its whoami, and jobs in its namespace.
    as_member = tenancy.acting_as(member["api_key"])
    assert as_member.whoami() == {"user_id": f"system:serviceaccount:{tenant['id']}:probe-member",
                                  "tenant_id": tenant["id"], "role": "member"}
    job = adapter.capability("jobs").acting_as(member["api_key"]).submit(
        "sca-member-job", "probe:1", ["true"], {"cpu": 1, "memory_gib": 1})
    assert job["tenant_id"] == tenant["id"]
    client.BatchV1Api(adapter.api).read_namespaced_job("sca-member-job", tenant["id"])
    with pytest.raises(Unsupported):
        tenancy.storage_credentials(tenant["id"])
    tenancy.delete_user(tenant["id"], "probe-reader")
    assert [u["id"] for u in tenancy.list_users(tenant["id"])] == ["probe-member"]
    assert adapter.context.ledger.sweep() == []
    assert tenant["id"] not in [t["id"] for t in tenancy.list_tenants()]
