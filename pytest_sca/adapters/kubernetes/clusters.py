"""``clusters``: bare-metal and container clusters through Cluster API
(``cluster.x-k8s.io/v1beta1``, https://cluster-api.sigs.k8s.io/).

A cluster is a ``Cluster`` in the principal's namespace (a probe tenant's), built from the
ClusterClass the target file names for its kind (``cluster_classes``; a managed topology,
https://cluster-api.sigs.k8s.io/tasks/experimental-features/cluster-class/): its workers are
one topology MachineDeployment ``md-0`` of ``cluster_worker_classes[kind]`` (else the class's
first worker class). Its id is ``<namespace>/<name>``; its kind is the kind whose ClusterClass
``spec.topology`` names (else the ``sca.evaluation/cluster-kind`` label the adapter sets).

- status: ``failed`` on phase Failed, ``deleting`` on Deleting; ``ready`` when the Cluster is
  Provisioned with ``status.controlPlaneReady`` and ``status.infrastructureReady`` and every
  topology MachineDeployment has as many replicas, ready and available, as the topology asks;
  ``scaling`` when only the workers differ; else ``provisioning``;
- node ids: ``status.nodeRef.name`` of the cluster's Machines (label
  ``cluster.x-k8s.io/cluster-name``); :meth:`KubeClusters.nodes` (``compute.list_nodes`` of
  the cluster) lists those whose Machine is Running — the same objects, read for another
  state: the workload cluster's own Node list (behind the ``<cluster>-kubeconfig`` Secret) is
  not read;
- scale out: raise the topology MachineDeployment's ``replicas``; scale in: annotate the
  Machine of the node ``cluster.x-k8s.io/delete-machine`` and lower ``replicas`` by one, the
  way Cluster API removes a chosen machine
  (https://cluster-api.sigs.k8s.io/reference/api/labels-and-annotations);
- delete: the Cluster (its controller removes what it owns).
"""

from __future__ import annotations

from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    Cluster,
    Labels,
    Node,
    Refused,
    Unsupported,
)

from .adapter import KubernetesAdapter
from .resources import dns_name

KINDS_OF_CLUSTER = ("baremetal", "container")
CLUSTER_NAME = "cluster.x-k8s.io/cluster-name"
#: The topology MachineDeployment a Machine belongs to (set by the topology controller).
TOPOLOGY_DEPLOYMENT = "topology.cluster.x-k8s.io/deployment-name"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"
KIND_LABEL = "sca.evaluation/cluster-kind"
WORKERS = "md-0"
#: The worker class of CAPD's quick-start ClusterClass: the default where none is named and
#: the ClusterClass cannot be read.
DEFAULT_WORKER_CLASS = "default-worker"
WHAT = "clusters (Cluster API)"


class KubeClusters(Facade[KubernetesAdapter]):
    """Clusters as Cluster API Clusters (:class:`~pytest_sca.capabilities.Clusters`)."""

    def list_clusters(self, kind: str | None = None) -> list[Cluster]:
        adapter = self.subject
        adapter.require("capicluster", what=WHAT)
        # A tenant's own namespace; the evaluator's view is the whole management cluster.
        found = adapter.list_objects("capicluster", adapter._own_namespace)
        records = [self._record(cluster) for cluster in found]
        return [r for r in records if kind is None or r.get("kind") == kind]

    def create_cluster(self, name: str, kind: str, nodes: int, *,
                       accelerator_model: str | None = None,
                       labels: Labels | None = None) -> Cluster:
        adapter = self.subject
        adapter.require("capicluster", what=WHAT)
        if kind not in KINDS_OF_CLUSTER:
            raise Refused("kubernetes create cluster", 422, "invalid_request",
                          f"kind {kind!r} is none of {', '.join(KINDS_OF_CLUSTER)}")
        where = adapter.config.cluster_classes.get(kind)  # type: ignore[call-overload]
        if not where:
            raise Unsupported(
                f"the target file names no ClusterClass for {kind} clusters: set "
                f"adapters.kubernetes.cluster_classes.{kind} to one the platform offers "
                f"([<namespace>/]<name>, e.g. a Metal3 class for bare metal)")
        if accelerator_model is not None:
            raise Unsupported("a card model is a ClusterClass variable of its own on every "
                              "platform: the Kubernetes adapter creates clusters without one")
        namespace = adapter.ensure_namespace()
        class_namespace, _, class_name = str(where).rpartition("/")
        topology: dict[str, Any] = {
            "class": class_name, "version": adapter.config.cluster_version,
            "workers": {"machineDeployments": [{
                "class": self._worker_class(kind, class_namespace or namespace, class_name),
                "name": WORKERS, "replicas": int(nodes)}]}}
        if class_namespace:
            topology["classNamespace"] = class_namespace
        created = adapter.create_object("capicluster", namespace, {
            "metadata": {"name": dns_name(name, limit=40),
                         "labels": {**(labels or {}), KIND_LABEL: kind}},
            "spec": {"topology": topology}})
        # A Cluster is asynchronous: the checks wait for it to be ready (clusters.*_timeout_s).
        return self.get_cluster(f"{namespace}/{created['metadata']['name']}")

    def get_cluster(self, cluster_id: str) -> Cluster:
        namespace, name = self._split(cluster_id)
        return self._record(self.subject.get_object("capicluster", namespace, name))

    def delete_cluster(self, cluster_id: str) -> None:
        namespace, name = self._split(cluster_id)
        self.subject.require("capicluster", what=WHAT)
        self.subject.delete_object("capicluster", namespace, name)

    def scale_out(self, cluster_id: str, count: int) -> Cluster:
        namespace, name = self._split(cluster_id)
        cluster = self.subject.get_object("capicluster", namespace, name)
        self._set_replicas(cluster, WORKERS, +int(count))
        return self.get_cluster(cluster_id)

    def scale_in(self, cluster_id: str, node_id: str) -> Cluster:
        adapter = self.subject
        namespace, name = self._split(cluster_id)
        cluster = adapter.get_object("capicluster", namespace, name)
        machine = next((m for m in self._machines(namespace, name)
                        if _node_of(m) == node_id), None)
        if machine is None:
            raise Refused(f"kubernetes clusters/{cluster_id}/nodes/{node_id}", 404,
                          "not_found", f"no Machine of cluster {cluster_id} has node {node_id}")
        meta = machine["metadata"]
        adapter.patch_object("machine", namespace, meta["name"],
                             {"metadata": {"annotations": {DELETE_MACHINE: "yes"}}})
        deployment = (meta.get("labels") or {}).get(TOPOLOGY_DEPLOYMENT) or WORKERS
        self._set_replicas(cluster, deployment, -1)
        return self.get_cluster(cluster_id)

    # nodes ------------------------------------------------------------------------------------

    def nodes(self, cluster_id: str) -> list[Node]:
        """The nodes of a cluster: its Running Machines' ``status.nodeRef``; none for a
        cluster that does not exist."""
        namespace, name = self._split(cluster_id)
        try:
            cluster = self.subject.get_object("capicluster", namespace, name)
        except Refused as refusal:
            if refusal.status == 404:
                return []
            raise
        kind = self._kind(cluster)
        return [self._node(m, cluster_id, kind) for m in self._machines(namespace, name)
                if _node_of(m) and (m.get("status") or {}).get("phase") == "Running"
                and not m["metadata"].get("deletionTimestamp")]

    def node(self, node_id: str) -> Node | None:
        """A workload cluster's node by name, among the Clusters the principal sees (``None``
        where no Machine has it)."""
        adapter = self.subject
        if not adapter.serves("capicluster"):
            return None
        for cluster in adapter.list_objects("capicluster", adapter._own_namespace):
            meta = cluster["metadata"]
            cluster_id = f"{meta['namespace']}/{meta['name']}"
            found = next((n for n in self.nodes(cluster_id) if n.get("id") == node_id), None)
            if found is not None:
                return found
        return None

    @staticmethod
    def _node(machine: dict[str, Any], cluster_id: str, kind: str) -> Node:
        state = machine.get("status") or {}
        name = _node_of(machine) or ""
        return {"id": name, "cluster_id": cluster_id, "hostname": name, "kind": kind,
                "accelerators": [], "health": "healthy" if state.get("phase") == "Running"
                else "unhealthy", "labels": dict(machine["metadata"].get("labels") or {}),
                "topology": {}, "simulated": False}

    # reading ----------------------------------------------------------------------------------

    def _record(self, cluster: dict[str, Any]) -> Cluster:
        meta = cluster["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        machines = self._machines(namespace, name)
        return {"id": f"{namespace}/{name}", "name": name, "kind": self._kind(cluster),
                "tenant_id": namespace,
                "node_ids": sorted({n for n in map(_node_of, machines) if n}),
                "status": self._status(cluster), "labels": dict(meta.get("labels") or {}),
                "created_at": str(meta.get("creationTimestamp") or "")}

    def _status(self, cluster: dict[str, Any]) -> str:
        state = cluster.get("status") or {}
        phase = state.get("phase")
        if phase == "Failed":
            return "failed"
        if phase == "Deleting" or cluster["metadata"].get("deletionTimestamp"):
            return "deleting"
        if phase != "Provisioned" or not state.get("controlPlaneReady") \
                or not state.get("infrastructureReady"):
            return "provisioning"
        meta = cluster["metadata"]
        deployments = {(d["metadata"].get("labels") or {}).get(TOPOLOGY_DEPLOYMENT): d
                       for d in self.subject.list_objects("machinedeployment",
                                                          meta["namespace"],
                                                          f"{CLUSTER_NAME}={meta['name']}")}
        for wanted in _topology_deployments(cluster):
            deployment = deployments.get(wanted.get("name"))
            if deployment is None:
                return "scaling"
            replicas = int(wanted.get("replicas") or 0)
            shown = deployment.get("status") or {}
            if int((deployment.get("spec") or {}).get("replicas") or 0) != replicas or any(
                    int(shown.get(field) or 0) != replicas
                    for field in ("replicas", "readyReplicas", "availableReplicas")):
                return "scaling"
        return "ready"

    def _kind(self, cluster: dict[str, Any]) -> str:
        """The kind whose ClusterClass the cluster uses, else the kind the adapter recorded."""
        topology = (cluster.get("spec") or {}).get("topology") or {}
        namespace = topology.get("classNamespace") or cluster["metadata"]["namespace"]
        for kind, where in self.subject.config.cluster_classes.items():
            class_namespace, _, class_name = str(where).rpartition("/")
            if class_name == topology.get("class") and (
                    not class_namespace or class_namespace == namespace):
                return str(kind)
        return str((cluster["metadata"].get("labels") or {}).get(KIND_LABEL) or "unknown")

    def _machines(self, namespace: str, cluster: str) -> list[dict[str, Any]]:
        return list(self.subject.list_objects("machine", namespace,
                                              f"{CLUSTER_NAME}={cluster}"))

    def _worker_class(self, kind: str, namespace: str, class_name: str) -> str:
        """The worker class named for ``kind``, else the ClusterClass's first (read by the
        evaluator: a tenant may not read a shared namespace's classes)."""
        named = self.subject.config.cluster_worker_classes.get(kind)  # type: ignore[call-overload]
        if named:
            return str(named)
        try:
            found = self.subject._root.get_object("clusterclass", namespace, class_name)
        except Refused:
            return DEFAULT_WORKER_CLASS
        classes = ((found.get("spec") or {}).get("workers") or {}).get("machineDeployments")
        return str((classes or [{}])[0].get("class") or DEFAULT_WORKER_CLASS)

    # changing ---------------------------------------------------------------------------------

    def _set_replicas(self, cluster: dict[str, Any], deployment: str, change: int) -> None:
        """Change one topology MachineDeployment's ``replicas`` (the list is patched whole:
        a merge patch replaces lists)."""
        meta = cluster["metadata"]
        wanted = [dict(d) for d in _topology_deployments(cluster)]
        entry = next((d for d in wanted if d.get("name") == deployment), None)
        if entry is None:
            raise Refused(f"kubernetes clusters/{meta['name']}", 409, "conflict",
                          f"cluster {meta['namespace']}/{meta['name']} has no topology "
                          f"MachineDeployment {deployment}")
        entry["replicas"] = max(int(entry.get("replicas") or 0) + change, 0)
        self.subject.patch_object("capicluster", meta["namespace"], meta["name"], {
            "spec": {"topology": {"workers": {"machineDeployments": wanted}}}})

    @staticmethod
    def _split(cluster_id: str) -> tuple[str, str]:
        namespace, _, name = cluster_id.partition("/")
        if not namespace or not name or "/" in name:
            raise Refused(f"kubernetes clusters/{cluster_id}", 404, "not_found",
                          f"cluster ids are <namespace>/<name>, not {cluster_id!r}")
        return namespace, name


def _topology_deployments(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    topology = (cluster.get("spec") or {}).get("topology") or {}
    return list((topology.get("workers") or {}).get("machineDeployments") or [])


def _node_of(machine: dict[str, Any]) -> str | None:
    ref = (machine.get("status") or {}).get("nodeRef") or {}
    return str(ref["name"]) if ref.get("name") else None
