"""An emulated Kubernetes AI platform on loopback: the API server of :mod:`.apiserver`, the
controllers of :mod:`.controllers`, nodes with cards of several vendors, and the objects a
platform operator installs (Kueue's ClusterQueue and ResourceFlavor, a StorageClass and a
shared volume, a preset KServe model, the Dashboard, Prometheus, ComfyUI, Cluster API's
ClusterClasses) — read from
``fixtures/``, recorded from the upstream projects' examples. An EMULATOR: see those modules
for what it does and does not do.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .apiserver import ADMIN_TOKEN, COMPONENTS, ApiServer
from .controllers import Controllers

FIXTURES = Path(__file__).parent / "fixtures"
#: A complete stack: every component the adapter can use.
ALL_COMPONENTS = frozenset(c for c in COMPONENTS if c != "core")

#: name → (allocatable extended resources, labels).
NODES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "gpu-node-01": ({"nvidia.com/gpu": "8"}, {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                             "topology.kubernetes.io/zone": "zone-a",
                                             "network.topology/switch": "sw-1"}),
    # HAMi shares this node's cards (https://github.com/Project-HAMi/HAMi).
    "gpu-node-02": ({"nvidia.com/gpu": "8", "nvidia.com/gpucores": "800",
                     "nvidia.com/gpumem-percentage": "800"},
                    {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                             "topology.kubernetes.io/zone": "zone-a",
                                             "network.topology/switch": "sw-1"}),
    # NVIDIA's DRA driver publishes this node's GPUs (fixtures/dra.yaml): no device plugin.
    "gpu-node-03": ({}, {"topology.kubernetes.io/zone": "zone-a",
                         "network.topology/switch": "sw-2"}),
    "npu-node-1": ({"huawei.com/Ascend910B": "8"}, {"accelerator": "Ascend910B",
                                                     "topology.kubernetes.io/zone": "zone-b"}),
    "mlu-node-1": ({"cambricon.com/mlu370": "4"}, {"accelerator": "MLU370-X8"}),
    "dcu-node-1": ({"hygon.com/dcu": "8"}, {"accelerator": "K100-AI"}),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmulatedKubeCluster:
    """The emulated platform in its own thread and event loop."""

    def __init__(self, folder: Path, *, components: frozenset[str] = ALL_COMPONENTS,
                 faults: frozenset[str] = frozenset()) -> None:
        self.folder = folder
        self.components, self.faults = set(components), set(faults)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kube-emulated",
                                       daemon=True)
        self.server = ApiServer(self.components, self.faults)
        self.server.audit_path = folder / "audit.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.ingress = f"http://127.0.0.1:{free_port()}"
        self.controllers = Controllers(self.server, folder, self.faults, self.ingress)
        self.kubeconfig = folder / "kubeconfig"
        self._runners: list[web.AppRunner] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._up(), self.loop).result(timeout=20)
        self.server.audit_path.touch()
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulated",
            "clusters": [{"name": "emulated", "cluster": {"server": self.url}}],
            "contexts": [{"name": "emulated",
                          "context": {"cluster": "emulated", "user": "evaluator"}}],
            "users": [{"name": "evaluator", "user": {"token": ADMIN_TOKEN}}]}))

    async def _up(self) -> None:
        self.seed()
        ingress = web.Application()
        ingress.router.add_route("*", "/{tail:.*}", self.controllers.ingress_handler)
        for app, url in ((self.server.app, self.url), (ingress, self.ingress)):
            # A watch the adapter keeps open would hold the stop for aiohttp's default 60 s
            # (a teardown timed out at 30 s in CI).
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", int(url.rsplit(":", 1)[1])).start()
            self._runners.append(runner)
        self.controllers.start()

    def seed(self) -> None:
        """Nodes, and what the operator installed for each component the cluster serves."""
        store = self.server.store
        for name in ("default", "kube-system", "kserve-models", "kubernetes-dashboard",
                     "monitoring", "comfyui", "capi-classes"):
            store.create("", "namespaces", None, {"metadata": {"name": name}})
        for number, (name, (cards, labels)) in enumerate(NODES.items(), start=11):
            annotations = {}
            if "nvidia.com/gpucores" in cards:  # HAMi registers the node's cards in order
                annotations["hami.io/node-nvidia-register"] = ":".join(
                    f"GPU-{name}-{i},10,81920,100,NVIDIA-H100,0,true" for i in range(8)) + ":"
            store.create("", "nodes", None, {
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                      **labels},
                             "annotations": annotations},
                "spec": {},
                "status": {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110",
                                           **cards},
                           "capacity": {"cpu": "64", "memory": "512Gi", **cards},
                           "addresses": [{"type": "InternalIP", "address": f"10.0.1.{number}"},
                                         {"type": "Hostname", "address": name}],
                           "conditions": [{"type": "Ready", "status": "True"},
                                          {"type": "MemoryPressure", "status": "False"},
                                          {"type": "DiskPressure", "status": "False"}]}})
        for path in sorted(FIXTURES.glob("*.yaml")):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if not document or "kind" not in document:
                    continue
                group, _, _ = document["apiVersion"].rpartition("/")
                served = next((s for s in store.served.values()
                               if s.group == group and s.kind == document["kind"]), None)
                if served is None:
                    continue  # a component this cluster does not serve
                store.create(group, served.plural,
                             document["metadata"].get("namespace", "default")
                             if served.namespaced else None, document)

    def stop(self) -> None:
        async def down() -> None:
            await self.controllers.stop()
            for runner in self._runners:
                await runner.cleanup()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(down(), self.loop).result(timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.loop.close()

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on the emulator's loop (to read or change its state)."""
        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def adapter_settings(self) -> dict[str, Any]:
        """``adapters.kubernetes`` of a target file for this cluster."""
        return {"kubeconfig": str(self.kubeconfig), "context": "emulated",
                "probe_image": "python:3.12-slim", "cluster_queue": "sca-cluster-queue",
                "audit_log": str(self.server.audit_path),
                "console_service": "kubernetes-dashboard/https:kubernetes-dashboard:",
                "prometheus_service": "monitoring/prometheus-k8s:web",
                "comfyui_service": "comfyui/comfyui:http",
                "cluster_classes": {"baremetal": "capi-classes/metal3-example",
                                    "container": "capi-classes/quick-start"}}


@contextmanager
def emulated_kube(folder: Path, *, components: frozenset[str] = ALL_COMPONENTS,
                  faults: frozenset[str] = frozenset()) -> Iterator[EmulatedKubeCluster]:
    cluster = EmulatedKubeCluster(folder, components=components, faults=faults)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
