"""``compute``: nodes with their allocatable extended resources read through
:data:`~.resources.VENDOR_RESOURCES` (extendable with ``vendor_resources`` in the target
file) and DRA ``ResourceSlice`` devices where the cluster serves ``resource.k8s.io``; a card
is ``allocated_to`` the job of a live pod that requests it (a DRA device: of the pod its
allocated ``ResourceClaim`` is reserved for). A DRA device's ``topology`` is its
``dra_topology_attribute`` (the PCIe root by default), where it publishes one. The nodes of
a Cluster API workload cluster (a ``cluster_id`` ``<namespace>/<name>``) are its Machines'
(:mod:`.clusters`)."""

from __future__ import annotations

from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    Accelerator,
    Node,
    PlatformInfo,
    Refused,
)

from .adapter import KubernetesAdapter
from .clusters import KubeClusters
from .dra import DeviceKey, allocated, reserved_pods, shown, slice_devices
from .resources import DRA_DRIVERS, JOB_LABELS, MODEL_LABELS, TOPOLOGY_LABELS, vendor_of
from .resources import quantity as _quantity


class KubeCompute(Facade[KubernetesAdapter]):
    """Nodes and their accelerators (:class:`~pytest_sca.capabilities.Compute`)."""

    def platform_info(self) -> PlatformInfo:
        from kubernetes import client

        version = self.subject.call("version", client.VersionApi(self.subject.api).get_code)
        return {"name": "kubernetes", "version": version.git_version,
                "api_version": f"{version.major}.{version.minor}", "simulated": False}

    def list_nodes(self, cluster_id: str | None = None) -> list[Node]:
        return self.nodes(cluster_id)

    def nodes(self, cluster_id: str | None = None, *, finished: bool = False) -> list[Node]:
        """Nodes and their cards; ``finished`` also counts cards of pods that ended as held
        (to tell which cards a finished job had)."""
        cluster = self.subject.config.context or "kubernetes"
        if cluster_id not in (None, cluster):
            # A Cluster API workload cluster (``<namespace>/<name>``): its Machines' nodes.
            if cluster_id is not None and "/" in cluster_id \
                    and self.subject.serves("capicluster"):
                return KubeClusters(self.subject).nodes(cluster_id)
            return []
        core = self.subject.core()
        # Three lists whatever the fleet's size (nodes, pods, DRA slices), grouped by node
        # here: never a request per node.
        nodes = self.subject.call("list nodes", core.list_node).items
        pods = _by_node(self.subject.call("list pods", core.list_pod_for_all_namespaces).items)
        slices = self._slices_by_node()
        claims = allocated(self.subject) if slices else {}
        return [self._node(node, pods.get(node.metadata.name, []), cluster, finished,
                           slices.get(node.metadata.name, []), claims) for node in nodes]

    def get_node(self, node_id: str) -> Node:
        """One node: its object, the pods placed on it and its DRA slices (field selectors:
        what is read does not grow with the fleet)."""
        core = self.subject.core()
        try:
            node = self.subject.call(f"read node {node_id}", core.read_node, node_id)
        except Refused as refusal:
            if refusal.status == 404:
                workload = KubeClusters(self.subject).node(node_id)
                if workload is not None:  # a node of a Cluster API workload cluster
                    return workload
                raise Refused(f"kubernetes nodes/{node_id}", 404, "not_found",
                              f"node {node_id}") from None
            raise
        on_node = f"spec.nodeName={node_id}"
        pods = self.subject.call("list pods", core.list_pod_for_all_namespaces,
                                 field_selector=on_node).items
        cluster = self.subject.config.context or "kubernetes"
        slices = self._slices_by_node(on_node).get(node_id, [])
        return self._node(node, pods, cluster, False, slices,
                          allocated(self.subject) if slices else {})

    def _node(self, node: Any, pods: list[Any], cluster: str, finished: bool,
              slices: list[dict[str, Any]],
              claims: dict[DeviceKey, dict[str, Any]]) -> Node:
        extra = self.subject.config.vendor_resources
        labels = dict(node.metadata.labels or {})
        allocatable = dict(node.status.allocatable or {}) if node.status else {}
        model_label = next((labels[k] for k in MODEL_LABELS if k in labels), None)
        holders = self._holders(node.metadata.name, pods, finished)
        shared = _hami_shares(node, pods, finished)
        cards: list[Accelerator] = []
        # Where a device plugin's card sits, Kubernetes does not say: only DRA attributes do.
        unplaced = "device-plugin cards have no topology and " + (
            "no DRA ResourceSlice publishes them" if self.subject.serves("resourceslice")
            else "the cluster serves no resource.k8s.io (DRA) ResourceSlices")
        for resource, amount in sorted(allocatable.items()):
            vendor = vendor_of(resource, extra)
            if vendor is None:
                continue
            owners = holders.get(resource, [])
            for position in range(int(_quantity(amount))):
                index = len(cards)
                sharing = shared.get(position, []) if resource == "nvidia.com/gpu" else []
                owner, pod = sharing[0] if sharing else owners.pop(0) if owners else (None, None)
                cards.append({  # type: ignore[typeddict-unknown-key]
                    "index": index, "vendor": vendor, "resource": resource,
                    "model": model_label or resource.split("/", 1)[1],
                    "memory_gib": None, "allocated_to": owner, "pod": pod,
                    "pods": [p for _, p in sharing] or ([pod] if pod else []),
                    "topology_note": unplaced,
                })
        cards.extend(self._slice_devices(slices, len(cards), model_label, claims, pods))
        conditions = {c.type: c.status for c in (node.status.conditions or [])} \
            if node.status else {}
        return {
            "id": node.metadata.name, "cluster_id": cluster, "hostname": node.metadata.name,
            "kind": "container", "cpu": _quantity(allocatable.get("cpu")),
            "memory_gib": round(_quantity(allocatable.get("memory")) / 2**30, 3),
            "accelerators": cards,
            "health": "healthy" if conditions.get("Ready") == "True" else "unhealthy",
            "topology": {k: labels[k] for k in TOPOLOGY_LABELS if k in labels},
            "labels": labels, "simulated": False,
        }

    def _slices_by_node(self, field_selector: str | None = None
                        ) -> dict[str, list[dict[str, Any]]]:
        """Node name → the ``ResourceSlice``s DRA drivers publish for it
        (https://kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation/),
        in one list; none where the cluster does not serve ``resource.k8s.io``."""
        adapter = self.subject
        if not adapter.serves("resourceslice"):
            return {}
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in adapter.list_objects("resourceslice", None,
                                         field_selector=field_selector):
            node_name = (item.get("spec") or {}).get("nodeName")
            if node_name:
                grouped.setdefault(str(node_name), []).append(item)
        return grouped

    def _slice_devices(self, slices: list[dict[str, Any]], first: int,
                       model_label: str | None, claims: dict[DeviceKey, dict[str, Any]],
                       pods: list[Any]) -> list[Accelerator]:
        """The devices of a node's ``ResourceSlice``s, numbered after its ``first`` cards;
        ``resource`` is the driver, ``device`` where the allocation results name it."""
        jobs = {p.metadata.name: job_of(p) for p in pods}
        extra = {**self.subject.config.vendor_resources, **DRA_DRIVERS}
        attribute = self.subject.config.dra_topology_attribute
        devices: list[Accelerator] = []
        for device in slice_devices(slices):
            vendor = vendor_of(f"{device.driver}/dra", extra) or device.driver
            model = device.model()
            claim = claims.get(device.key)
            holders = reserved_pods(claim) if claim is not None else []
            owner = next((jobs[p] for p in holders if p in jobs), None)
            if claim is not None and owner is None:
                owner = str(claim["metadata"]["name"])  # allocated, not (yet) to a pod here
            card: dict[str, Any] = {
                "index": first + len(devices), "vendor": vendor, "resource": device.driver,
                "model": model[1] if model else model_label or device.driver,
                "memory_gib": None, "allocated_to": owner,
                "pods": [p for p in holders if p in jobs],
                "device": {"driver": device.driver, "pool": device.pool,
                           "device": device.name,
                           **({"model_attribute": model[0], "model": model[1]}
                              if model else {})}}
            value = device.attribute(attribute)
            if value is not None:
                card["topology"] = {"switch": shown(value), "attribute": attribute}
            else:
                card["topology_note"] = (f"DRA driver {device.driver} publishes no "
                                         f"{attribute} (dra_topology_attribute)")
            devices.append(card)  # type: ignore[arg-type]
        return devices

    def _holders(self, node_name: str, pods: list[Any], finished: bool = False
                 ) -> dict[str, list[tuple[str, str]]]:
        """Resource → (job or pod, pod) of each card a live pod on the node requests."""
        held: dict[str, list[tuple[str, str]]] = {}
        for pod in pods:
            if pod.spec is None or pod.spec.node_name != node_name:
                continue
            if not finished and pod.status is not None \
                    and pod.status.phase in ("Succeeded", "Failed"):
                continue
            if HAMI_ALLOCATED in (pod.metadata.annotations or {}):
                continue  # a share of a card: placed by its device UUID (_hami_shares)
            owner = job_of(pod)
            for container in pod.spec.containers or []:
                limits = (container.resources.limits or {}) if container.resources else {}
                for resource, amount in limits.items():
                    if vendor_of(resource, self.subject.config.vendor_resources):
                        held.setdefault(resource, []).extend(
                            [(owner, pod.metadata.name)] * int(_quantity(amount)))
        return held




def _by_node(pods: list[Any]) -> dict[str, list[Any]]:
    """Pods grouped by the node they are placed on (unplaced pods are left out)."""
    grouped: dict[str, list[Any]] = {}
    for pod in pods:
        if pod.spec is not None and pod.spec.node_name:
            grouped.setdefault(pod.spec.node_name, []).append(pod)
    return grouped


#: HAMi's annotations: the devices a node registered (in order) and the device(s) a pod got
#: (https://github.com/Project-HAMi/HAMi/blob/master/docs/develop/protocol.md).
HAMI_REGISTER = "hami.io/node-nvidia-register"
HAMI_ALLOCATED = "hami.io/vgpu-devices-allocated"


def _hami_shares(node: Any, pods: list[Any], finished: bool) -> dict[int, list[tuple[str, str]]]:
    """Card position on the node → (job or pod, pod) of each pod holding a share of it."""
    register = str((node.metadata.annotations or {}).get(HAMI_REGISTER) or "")
    uuids = [entry.split(",", 1)[0] for entry in register.split(":") if entry.strip()]
    shares: dict[int, list[tuple[str, str]]] = {}
    for pod in pods:
        if pod.spec is None or pod.spec.node_name != node.metadata.name:
            continue
        if not finished and pod.status is not None \
                and pod.status.phase in ("Succeeded", "Failed"):
            continue
        allocated = str((pod.metadata.annotations or {}).get(HAMI_ALLOCATED) or "")
        owner = job_of(pod)
        for device in allocated.replace(";", ":").split(":"):
            uuid = device.split(",", 1)[0].strip()
            if uuid in uuids:
                shares.setdefault(uuids.index(uuid), []).append((owner, pod.metadata.name))
    return shares


def job_of(pod: Any) -> str:
    """The job a pod works for (its batch or Volcano Job), else the pod itself."""
    labels = pod.metadata.labels or {}
    return str(next((labels[k] for k in JOB_LABELS if labels.get(k)), pod.metadata.name))
