"""Dynamic Resource Allocation through the Kubernetes adapter on the emulated cluster (an
EMULATOR: see dra.py): a multi-card job claims its cards through a ResourceClaimTemplate
whose ``matchAttribute`` keeps them in one PCIe root; the cards a worker holds are read back
from its allocated claim; what the run created goes at the end; and 6.5.c is not assessed,
with the reason, where the cluster cannot say where a card sits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter

from .cluster import ALL_COMPONENTS, EmulatedKubeCluster, emulated_kube
from .evaluate import evaluate, write_target

#: The model NVIDIA's DRA driver publishes on gpu-node-03 (fixtures/dra.yaml): gpu-0..3 under
#: PCIe root pci0000:00, gpu-4..7 under pci0000:80.
MODEL = "NVIDIA A100-SXM4-80GB"
GROUP = "resource.k8s.io"


@pytest.fixture
def adapter(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[KubernetesAdapter, EmulatedKubeCluster]]:
    faults = frozenset(getattr(request, "param", ()))
    with emulated_kube(tmp_path, faults=faults) as cluster:
        made = KubernetesAdapter(KubernetesConfig(**cluster.adapter_settings()),
                                 AdapterContext("dra", None, "run-dra"))
        yield made, cluster
        made.context.ledger.sweep()
        made.close()


def _objects(cluster: EmulatedKubeCluster, plural: str) -> list[dict[str, Any]]:
    return list(cluster.call(lambda: cluster.server.store.list(GROUP, plural, None)))


@pytest.mark.slow
@pytest.mark.parametrize(("adapter", "roots"), [((), 1), (("dra_ignores_constraints",), 2)],
                         indirect=["adapter"], ids=["conforming", "dra_ignores_constraints"])
def test_a_four_card_claim_stays_under_one_pcie_root(
        adapter: tuple[KubernetesAdapter, EmulatedKubeCluster], roots: int) -> None:
    kube, cluster = adapter
    compute: Any = kube.capability("compute")
    jobs: Any = kube.capability("jobs")
    wanted = {"cpu": 1, "memory_gib": 1, "accelerator_model": MODEL}
    sleep = ["python", "-c", "import time; time.sleep(60)"]
    one = jobs.wait(jobs.submit("one", "python:3.12", sleep, {**wanted, "accelerators": 1})["id"],
                    until={"running", "failed"}, timeout=30)
    four = jobs.wait(jobs.submit("four", "python:3.12", sleep,
                                 {**wanted, "accelerators": 4})["id"],
                     until={"running", "failed"}, timeout=30)
    assert one["workers"][0]["accelerators"] == [0] and four["status"] == "running"
    assert four["resources"]["accelerators"] == 4
    cards = {c["index"]: c for c in compute.get_node("gpu-node-03")["accelerators"]}
    held = four["workers"][0]["accelerators"]
    assert len(held) == 4 and all(cards[i]["allocated_to"] == four["id"] for i in held)
    assert len({cards[i]["topology"]["switch"] for i in held}) == roots
    # The template the adapter wrote: 4 devices of the model's class, one PCIe root.
    template = next(t for t in _objects(cluster, "resourceclaimtemplates")
                    if t["metadata"]["name"] == four["id"])
    devices = template["spec"]["spec"]["devices"]
    assert devices["requests"][0]["exactly"]["deviceClassName"] == "gpu.nvidia.com"
    assert devices["requests"][0]["exactly"]["count"] == 4
    assert devices["constraints"] == [{"requests": ["cards"],
                                       "matchAttribute": "resource.kubernetes.io/pcieRoot"}]
    # Stopped jobs' pods go, and their generated claims with them; the templates at the end.
    jobs.stop(one["id"])
    jobs.stop(four["id"])
    jobs.delete(four["id"])
    assert [t["metadata"]["name"] for t in _objects(cluster, "resourceclaimtemplates")] \
        == [one["id"]]
    kube.context.ledger.sweep()
    assert not _objects(cluster, "resourceclaimtemplates")
    assert [s["metadata"]["name"] for s in _objects(cluster, "resourceslices")] \
        and _objects(cluster, "deviceclasses"), "the driver's objects are not the run's"


@pytest.mark.slow
def test_without_dra_the_item_is_not_assessed_naming_what_is_missing(tmp_path: Path) -> None:
    with emulated_kube(tmp_path, components=ALL_COMPONENTS - {"dra"}) as cluster:
        verdict, reason = evaluate(write_target(cluster, tmp_path), ["6.5.c"])["6.5.c"]
    assert verdict == "not_assessed", (verdict, reason)
    assert "serves no resource.k8s.io (DRA) ResourceSlices" in reason, reason


@pytest.mark.slow
def test_slices_without_the_attribute_leave_the_item_not_assessed(tmp_path: Path) -> None:
    with emulated_kube(tmp_path) as cluster:
        settings = {**cluster.adapter_settings(),
                    "dra_topology_attribute": "gpu.nvidia.com/nvlinkDomain"}
        target = write_target(cluster, tmp_path, adapters={"kubernetes": settings})
        verdict, reason = evaluate(target, ["6.5.c"])["6.5.c"]
        left = _objects(cluster, "resourceclaimtemplates")
    assert verdict == "not_assessed", (verdict, reason)
    assert "DRA driver gpu.nvidia.com publishes no gpu.nvidia.com/nvlinkDomain" in reason, reason
    assert not left
