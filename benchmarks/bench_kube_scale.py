"""The Kubernetes adapter on a large cluster: API requests per object (goal: at most 2).

Starts the project's emulated Kubernetes API server (tests/kube: an EMULATOR written to the
upstream API, see its modules) with ``--nodes`` extra nodes of 8 cards each and as many
running pods (one card each), then, through the adapter as a check uses it:

- ``list_nodes``: the whole inventory with its cards and who holds them;
- ``get_node`` of every node, one after another (what a check that walks the inventory
  does);
Each step's requests are counted on the client (the kubernetes client's REST calls) and
divided by the objects it returned; its wall time is measured. The goal (at most 2
requests per object) is the listing's; a point read (``get_node``) costs a constant 3
(the node, the pods on it and its DRA slices, by field selectors), whatever the cluster's
size. Run it at two sizes (``--nodes 100`` and ``--nodes 1000``): no figure per object may
grow with the cluster.

Run: ``python benchmarks/bench_kube_scale.py [--nodes 1000]``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_sca.adapters.base import AdapterContext  # noqa: E402
from pytest_sca.adapters.config import KubernetesConfig  # noqa: E402
from pytest_sca.adapters.kubernetes import KubernetesAdapter  # noqa: E402
from tests.kube.cluster import emulated_kube  # noqa: E402

GOAL = 2.0
CARDS_PER_NODE = 8


def populate(store: Any, nodes: int) -> None:
    """``nodes`` GPU nodes with 8 cards, and one running pod holding one card on each."""
    for n in range(nodes):
        name = f"bench-node-{n:05d}"
        store.create("", "nodes", None, {
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "nvidia.com/gpu.product": "NVIDIA-H100"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "64", "memory": "512Gi",
                                       "nvidia.com/gpu": str(CARDS_PER_NODE)},
                       "capacity": {"cpu": "64", "memory": "512Gi",
                                    "nvidia.com/gpu": str(CARDS_PER_NODE)},
                       "conditions": [{"type": "Ready", "status": "True"}]}})
        store.create("", "pods", "default", {
            "metadata": {"name": f"bench-pod-{n:05d}", "namespace": "default",
                         "labels": {"job-name": f"bench-job-{n:05d}", "sca-bench": "1"}},
            "spec": {"nodeName": name, "containers": [{
                "name": "main", "image": "python:3.12-slim",
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "status": {"phase": "Running"}})


class RequestCounter:
    """Counts the kubernetes client's REST requests (every API call goes through it) while
    it is entered; the client is as it was afterwards."""

    def __init__(self) -> None:
        self.count = 0
        self._original: Any = None

    def __enter__(self) -> RequestCounter:
        from kubernetes.client import rest

        original = self._original = rest.RESTClientObject.request

        def counted(client: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(client, *args, **kwargs)

        rest.RESTClientObject.request = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from kubernetes.client import rest

        rest.RESTClientObject.request = self._original  # type: ignore[method-assign]


def step(counter: RequestCounter, run: Callable[[], int]) -> dict[str, float]:
    """Requests, objects and wall seconds of one step."""
    before, started = counter.count, time.perf_counter()
    objects = run()
    requests = counter.count - before
    return {"objects": objects, "requests": requests,
            "requests_per_object": round(requests / max(objects, 1), 4),
            "wall_s": round(time.perf_counter() - started, 3)}


def measure(nodes: int) -> dict[str, Any]:
    """The three steps on a cluster with ``nodes`` extra nodes."""
    with RequestCounter() as counter, tempfile.TemporaryDirectory() as folder, \
            emulated_kube(Path(folder)) as cluster:
        cluster.call(populate, cluster.server.store, nodes)
        settings = cluster.adapter_settings()
        config = KubernetesConfig(kubeconfig=settings["kubeconfig"],
                                  context=settings["context"])
        context = AdapterContext(target_name="bench", target_path=None,
                                 run_id=uuid.uuid4().hex[:8])
        adapter = KubernetesAdapter(config, context)
        try:
            compute = adapter.capability("compute")
            listed: list[Any] = []
            steps = {"list_nodes": step(counter, lambda: len(listed.extend(
                compute.list_nodes()) or listed))}
            steps["get_node each"] = step(counter, lambda: sum(
                1 for node in listed if compute.get_node(node["id"])))
            cards = sum(len(node.get("accelerators") or []) for node in listed)
            held = sum(1 for node in listed for card in node.get("accelerators") or []
                       if card.get("allocated_to"))
        finally:
            adapter.close()
    return {"nodes": len(listed), "cards": cards, "cards_held": held, "steps": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    result = measure(args.nodes)
    worst = result["steps"]["list_nodes"]["requests_per_object"]
    print(json.dumps({"benchmark": "kube_scale", **result, "goal_requests_per_object": GOAL,
                      "within_goal": worst <= GOAL}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
