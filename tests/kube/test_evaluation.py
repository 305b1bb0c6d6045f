"""The shipped checks over the Kubernetes adapter, end to end, on the emulated cluster
(an EMULATOR: see apiserver.py and controllers.py): each item reachable through the
Kubernetes stack passes on the conforming cluster, and the items a controller's behaviour
decides fail when that controller misbehaves (one fault each, named for the behaviour).
Faults that touch disjoint items share one cluster and one run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.capabilities import Unsupported

from .cluster import EmulatedKubeCluster, emulated_kube
from .evaluate import HEALTHY, HEALTHY_IN_THE_SHAPE, evaluate, write_target

#: Faults evaluated together (their items are disjoint) → the items each one must fail.
FAULT_RUNS: list[dict[str, set[str]]] = [
    {"quota_not_enforced": {"6.1.b"}, "networkpolicy_ignored": {"10.2.f"},
     "jobset_never_restarts": {"6.6.e"}, "kserve_never_ready": {"8.5.a"},
     "audit_dropped": {"10.2.d"}, "cadvisor_not_scraped": {"7.2.e"},
     "dcgm_exporter_down": {"9.4.2.d"}, "comfyui_outputs_truncated": {"8.7.b", "8.7.d"}},
    # The InferenceService keeps the choice; its predictor pod does not (8.5.a's replicas).
    {"kueue_ignores_priority": {"6.5.b"}, "dra_ignores_constraints": {"6.5.c"},
     "kserve_pods_default_sized": {"8.5.a"}},
    {"rbac_not_enforced": {"6.1.c", "10.2.c"}},
    {"logs_dropped": {"7.2.f"}},
    {"notebook_drops_accelerators": {"7.1.a"}},
]


@pytest.mark.slow
def test_conforming_cluster_passes_the_items_that_consult_other_adapters_too(
        tmp_path: Path) -> None:
    """The items of :data:`HEALTHY` the reach run cannot pass (there they consult the closed
    ``registry``/``openai`` endpoints) pass with the Kubernetes adapter alone; the reach run
    (test_reach.py) checks that every other one passes."""
    with emulated_kube(tmp_path) as cluster:
        verdicts = evaluate(write_target(cluster, tmp_path), HEALTHY - HEALTHY_IN_THE_SHAPE)
    wrong = {item: verdicts[item] for item in HEALTHY - HEALTHY_IN_THE_SHAPE
             if verdicts[item][0] != "pass"}
    assert not wrong, wrong


@pytest.mark.slow
@pytest.mark.parametrize("faults", FAULT_RUNS, ids=lambda f: "+".join(sorted(f)))
def test_each_misbehaving_controller_fails_its_items(tmp_path: Path,
                                                     faults: dict[str, set[str]]) -> None:
    items = set().union(*faults.values())
    with emulated_kube(tmp_path, faults=frozenset(faults)) as cluster:
        verdicts = evaluate(write_target(cluster, tmp_path), items)
    wrong = {item: verdicts[item] for item in items if verdicts[item][0] != "fail"}
    assert not wrong, wrong


# --- a cluster without the upstream components -------------------------------------------


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedKubeCluster]:
    with emulated_kube(tmp_path_factory.mktemp("bare"), components=frozenset()) as cluster:
        yield cluster


@pytest.fixture
def adapter(bare: EmulatedKubeCluster) -> Iterator[KubernetesAdapter]:
    made = KubernetesAdapter(KubernetesConfig(**bare.adapter_settings()),
                             AdapterContext("bare", None, "run-bare"))
    yield made
    made.context.ledger.sweep()
    made.close()


@pytest.mark.parametrize(("capability", "call", "group"), [
    ("scheduling", lambda c: c.submit_queued("q", "python:3.12", ["true"], {}, priority=1),
     "kueue.x-k8s.io"),
    ("training", lambda c: c.submit("t", "python:3.12", ["true"], {}, workers=1),
     "jobset.x-k8s.io"),
    ("devmachines", lambda c: c.create("d", "python:3.12", {}), "kubeflow.org"),
    ("models", lambda c: c.list_models(), "serving.kserve.io"),
    ("model_services", lambda c: c.deploy("m", "preset"), "serving.kserve.io"),
    ("devtools", lambda c: c.frameworks(), "trainer.kubeflow.org"),
])
def test_a_missing_component_is_unsupported_naming_its_api_group(
        adapter: KubernetesAdapter, capability: str, call: Any, group: str) -> None:
    with pytest.raises(Unsupported, match=group.replace(".", r"\.")):
        call(adapter.capability(capability))


def test_plain_jobs_run_without_kueue(adapter: KubernetesAdapter) -> None:
    jobs: Any = adapter.capability("jobs")
    job = jobs.submit("plain", "python:3.12", ["python", "-c", "print('sca-plain')"],
                      {"cpu": 1, "memory_gib": 1})
    done = jobs.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded" and "sca-plain" in jobs.logs(job["id"])
