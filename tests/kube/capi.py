"""Cluster API for the emulated cluster — a TEST DOUBLE of the upstream controllers of
``cluster.x-k8s.io/v1beta1`` (https://cluster-api.sigs.k8s.io/), moving the objects through
the states its book and types (``api/v1beta1``) describe:

- topology controller (managed topologies, https://cluster-api.sigs.k8s.io/tasks/experimental-features/cluster-class/):
  a Cluster whose ``spec.topology.class`` names a ClusterClass (in ``classNamespace``, else
  the Cluster's namespace) gets one MachineDeployment per
  ``spec.topology.workers.machineDeployments[]`` entry, ``<cluster>-<name>-<random>``, owned by
  the Cluster, labelled ``cluster.x-k8s.io/cluster-name``,
  ``topology.cluster.x-k8s.io/owned`` and ``topology.cluster.x-k8s.io/deployment-name``
  (also on its machine template), its ``replicas`` kept equal to the topology's; a class
  that does not exist, or names no such worker class, leaves the Cluster ``Provisioning``
  with ``TopologyReconciled`` False;
- cluster controller: phase ``Pending`` → ``Provisioning`` → ``Provisioned`` with
  ``status.infrastructureReady`` and ``status.controlPlaneReady`` (a control plane and an
  infrastructure cluster that are ready after a short delay: no provider's kinds are
  served); the descendants of a deleted Cluster (its machines by label) are deleted;
- MachineDeployment controller: one MachineSet (``<deployment>-<random>``) carrying its
  replicas and template; status ``replicas``, ``readyReplicas``, ``availableReplicas``,
  ``updatedReplicas`` and phase ``ScalingUp`` / ``ScalingDown`` / ``Running`` from its sets;
- MachineSet controller: Machines ``<set>-<random>`` up to ``replicas``, owned by the set,
  labelled with the cluster, deployment and set names; on scale-down the machines to delete
  are chosen by the deletion priority of ``internal/controllers/machineset/
  machineset_delete_policy.go``: a machine being deleted, then one annotated
  ``cluster.x-k8s.io/delete-machine`` (https://cluster-api.sigs.k8s.io/reference/api/labels-and-annotations),
  then one without a node, then by ``spec.deletePolicy`` (``Random`` — the default, ties by
  name —, ``Newest``, ``Oldest``);
- machine controller and infrastructure provider: a Machine goes ``Pending`` →
  ``Provisioning`` → ``Provisioned`` (``infrastructureReady``, a ``providerID``) →
  ``Running``, where its node joined: ``status.nodeRef`` names a Node of the workload cluster
  named after the machine (CAPD's nodes are named so).

The workload clusters' own API servers and Nodes are not emulated: a Machine's nodeRef is
the only record of its node (a workload Node is not a Node of this management cluster), and
no ``<cluster>-kubeconfig`` Secret is written. Deletion is immediate (no finalizers, no
drain).

Faults (named for the behaviour): ``capi_scale_in_ignored`` — the MachineSet releases the
machine it chose to delete (drops its owner reference) instead of deleting it: the set's
counts drop, the machine and its node stay in the cluster; ``capi_scale_out_stuck`` — a
machine created once its set was ready never gets a node (stays ``Provisioning``: the host
never boots or never joins).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from typing import Any

from .apiserver import ApiError, Store, now

GROUP = "cluster.x-k8s.io"
CLUSTER_NAME = "cluster.x-k8s.io/cluster-name"
DEPLOYMENT_NAME = "cluster.x-k8s.io/deployment-name"
SET_NAME = "cluster.x-k8s.io/set-name"
TOPOLOGY_OWNED = "topology.cluster.x-k8s.io/owned"
TOPOLOGY_DEPLOYMENT = "topology.cluster.x-k8s.io/deployment-name"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"
#: Seconds until a Cluster's infrastructure and control plane are ready, and until a Machine
#: is provisioned and its node has joined.
CLUSTER_READY_S = 0.3
MACHINE_PROVISIONED_S = 0.3
MACHINE_RUNNING_S = 0.8


class ClusterApi:
    """The Cluster API controllers, reconciled every tick of :class:`.controllers.Controllers`."""

    def __init__(self, store: Store, faults: set[str]) -> None:
        self.store, self.faults = store, faults
        #: object uid → when the emulator first saw it (monotonic), and its creation order
        self.seen: dict[str, float] = {}
        self.order: dict[str, int] = {}
        self.counter = itertools.count()
        #: MachineSets that were fully ready once (their later machines are scale-outs), and
        #: machine uid → whether it is one
        self.settled: set[str] = set()
        self.scale_outs: dict[str, bool] = {}

    def serves(self) -> bool:
        return (GROUP, "clusters") in self.store.served

    def reconcile(self) -> None:
        if not self.serves():
            return
        clock = time.monotonic()
        self.clusters(clock)
        self.deployments()
        self.machinesets()
        self.machines(clock)
        self.deployment_status()
        self.orphans()

    # helpers ----------------------------------------------------------------------------------

    def age(self, obj: dict[str, Any], clock: float) -> float:
        uid = obj["metadata"]["uid"]
        if uid not in self.seen:
            self.seen[uid] = clock
            self.order[uid] = next(self.counter)
        return clock - self.seen[uid]

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        with contextlib.suppress(ApiError):
            return self.store.create(GROUP, plural, namespace, body)
        return None

    def owned(self, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.store.list(GROUP, plural, owner["metadata"]["namespace"])
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]

    @staticmethod
    def reference(owner: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}

    # Cluster and its topology -------------------------------------------------------------------

    def clusters(self, clock: float) -> None:
        for cluster in self.store.list(GROUP, "clusters", None):
            meta, spec = cluster["metadata"], cluster.get("spec") or {}
            state = cluster.setdefault("status", {"phase": "Pending"})
            topology = spec.get("topology") or {}
            conditions: list[dict[str, Any]] = []
            if topology:
                reconciled, why = self.topology(cluster, topology)
                conditions.append({"type": "TopologyReconciled",
                                   "status": "True" if reconciled else "False",
                                   **({"reason": why} if why else {}),
                                   "lastTransitionTime": now()})
            ready = self.age(cluster, clock) >= CLUSTER_READY_S
            state.update(phase="Provisioned" if ready else "Provisioning",
                         infrastructureReady=ready, controlPlaneReady=ready,
                         observedGeneration=meta.get("generation", 1))
            flag = "True" if ready else "False"
            state["conditions"] = [
                {"type": "Ready", "status": flag, "lastTransitionTime": now()},
                {"type": "ControlPlaneReady", "status": flag, "lastTransitionTime": now()},
                {"type": "InfrastructureReady", "status": flag, "lastTransitionTime": now()},
                *conditions]

    def topology(self, cluster: dict[str, Any], topology: dict[str, Any]
                 ) -> tuple[bool, str | None]:
        meta = cluster["metadata"]
        namespace = topology.get("classNamespace") or meta["namespace"]
        try:
            cluster_class = self.store.get(GROUP, "clusterclasses", namespace,
                                           str(topology.get("class")))
        except ApiError:
            return False, "ClusterClassNotFound"
        classes = {c.get("class"): c for c in ((cluster_class.get("spec") or {})
                                               .get("workers") or {})
                   .get("machineDeployments") or []}
        existing = {(d["metadata"].get("labels") or {}).get(TOPOLOGY_DEPLOYMENT): d
                    for d in self.owned("machinedeployments", cluster)}
        reconciled = True
        for wanted in (topology.get("workers") or {}).get("machineDeployments") or []:
            name, replicas = wanted.get("name"), int(wanted.get("replicas") or 0)
            worker = classes.get(wanted.get("class"))
            if worker is None:
                reconciled = False
                continue
            deployment = existing.get(name)
            if deployment is not None:
                deployment["spec"]["replicas"] = replicas
                continue
            labels = {CLUSTER_NAME: meta["name"], TOPOLOGY_OWNED: "",
                      TOPOLOGY_DEPLOYMENT: str(name)}
            template = worker.get("template") or {}
            self.create("machinedeployments", meta["namespace"], {
                "metadata": {"name": f"{meta['name']}-{name}-{secrets.token_hex(3)[:5]}",
                             "labels": labels, "ownerReferences": [self.reference(cluster)]},
                "spec": {"clusterName": meta["name"], "replicas": replicas,
                         "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "clusterName": meta["name"], "version": topology.get("version"),
                             "bootstrap": {"configRef": (template.get("bootstrap") or {})
                                           .get("ref")},
                             "infrastructureRef": (template.get("infrastructure") or {})
                             .get("ref")}}}})
        return reconciled, None if reconciled else "MachineDeploymentClassNotFound"

    # MachineDeployment → MachineSet → Machine ---------------------------------------------------

    def deployments(self) -> None:
        for deployment in self.store.list(GROUP, "machinedeployments", None):
            spec, meta = deployment["spec"], deployment["metadata"]
            sets = self.owned("machinesets", deployment)
            if sets:
                for machine_set in sets:
                    machine_set["spec"]["replicas"] = int(spec.get("replicas") or 0)
                continue
            labels = {**(spec["template"].get("metadata") or {}).get("labels", {}),
                      DEPLOYMENT_NAME: meta["name"]}
            self.create("machinesets", meta["namespace"], {
                "metadata": {"name": f"{meta['name']}-{secrets.token_hex(3)[:5]}",
                             "labels": labels, "ownerReferences": [self.reference(deployment)]},
                "spec": {"clusterName": spec["clusterName"],
                         "replicas": int(spec.get("replicas") or 0),
                         "deletePolicy": ((spec.get("strategy") or {}).get("rollingUpdate")
                                          or {}).get("deletePolicy") or "Random",
                         "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": spec["template"]["spec"]}}})

    def machinesets(self) -> None:
        for machine_set in self.store.list(GROUP, "machinesets", None):
            spec, meta = machine_set["spec"], machine_set["metadata"]
            machines = self.owned("machines", machine_set)
            wanted = int(spec.get("replicas") or 0)
            for _ in range(wanted - len(machines)):
                labels = {**(spec["template"].get("metadata") or {}).get("labels", {}),
                          SET_NAME: meta["name"]}
                self.create("machines", meta["namespace"], {
                    "metadata": {"name": f"{meta['name']}-{secrets.token_hex(3)[:5]}",
                                 "labels": labels,
                                 "ownerReferences": [self.reference(machine_set)]},
                    "spec": dict(spec["template"]["spec"]),
                    "status": {"phase": "Pending"}})
            if len(machines) > wanted:
                for machine in self.to_delete(machines, len(machines) - wanted,
                                              str(spec.get("deletePolicy") or "Random")):
                    if "capi_scale_in_ignored" in self.faults:
                        # Released, not deleted: the set no longer counts it.
                        machine["metadata"]["ownerReferences"] = []
                        continue
                    with contextlib.suppress(ApiError):
                        self.store.delete(GROUP, "machines", meta["namespace"],
                                          machine["metadata"]["name"])
            machines = self.owned("machines", machine_set)
            running = sum(1 for m in machines if m["status"].get("phase") == "Running")
            machine_set["status"] = {"replicas": len(machines), "readyReplicas": running,
                                     "availableReplicas": running,
                                     "fullyLabeledReplicas": len(machines),
                                     "observedGeneration": meta.get("generation", 1)}
            if running == wanted == len(machines):
                self.settled.add(meta["uid"])

    def to_delete(self, machines: list[dict[str, Any]], count: int,
                  policy: str) -> list[dict[str, Any]]:
        """The ``count`` machines a scale-down deletes, by the upstream deletion priority."""
        def priority(machine: dict[str, Any]) -> float:
            meta = machine["metadata"]
            if meta.get("deletionTimestamp"):
                return 100.0
            if DELETE_MACHINE in (meta.get("annotations") or {}):
                return 75.0
            if not (machine.get("status") or {}).get("nodeRef"):
                return 50.0
            order = self.order.get(meta["uid"], 0)
            return {"Newest": 25.0 + order * 1e-6, "Oldest": 25.0 - order * 1e-6}.get(
                policy, 20.0)

        ranked = sorted(machines, key=lambda m: (-priority(m), m["metadata"]["name"]))
        return ranked[:count]

    def machines(self, clock: float) -> None:
        for machine in self.store.list(GROUP, "machines", None):
            meta, state = machine["metadata"], machine.setdefault("status", {})
            age = self.age(machine, clock)
            if state.get("phase") == "Running":
                continue
            owner = next((r.get("uid") for r in meta.get("ownerReferences") or []), None)
            if meta["uid"] not in self.scale_outs and owner is not None:
                # A machine created once its set was ready is a scale-out.
                self.scale_outs[meta["uid"]] = owner in self.settled
            stuck = self.scale_outs.get(meta["uid"], False) \
                and "capi_scale_out_stuck" in self.faults
            if age >= MACHINE_RUNNING_S and not stuck:
                state.update(phase="Running", bootstrapReady=True, infrastructureReady=True,
                             nodeRef={"apiVersion": "v1", "kind": "Node",
                                      "name": meta["name"],
                                      "uid": f"node-{meta['uid']}"},
                             addresses=[{"type": "Hostname", "address": meta["name"]}],
                             lastUpdated=now())
                machine["spec"]["providerID"] = f"emulated://{meta['name']}"
            elif age >= MACHINE_PROVISIONED_S and not stuck:
                state.update(phase="Provisioned", bootstrapReady=True,
                             infrastructureReady=True)
            else:
                state.update(phase="Provisioning", bootstrapReady=True)

    def deployment_status(self) -> None:
        for deployment in self.store.list(GROUP, "machinedeployments", None):
            sets = self.owned("machinesets", deployment)
            total = {key: sum(int((s.get("status") or {}).get(key) or 0) for s in sets)
                     for key in ("replicas", "readyReplicas", "availableReplicas")}
            wanted = int(deployment["spec"].get("replicas") or 0)
            phase = "ScalingUp" if total["replicas"] < wanted else \
                "ScalingDown" if total["replicas"] > wanted else "Running"
            deployment["status"] = {**total, "updatedReplicas": total["replicas"],
                                    "unavailableReplicas": max(wanted - total["readyReplicas"],
                                                               0),
                                    "phase": phase,
                                    "selector": ",".join(
                                        f"{k}={v}" for k, v in
                                        deployment["spec"]["selector"]["matchLabels"].items()),
                                    "observedGeneration": deployment["metadata"]
                                    .get("generation", 1)}

    def orphans(self) -> None:
        """MachineDeployments, MachineSets and Machines of a Cluster that is gone (the cluster
        controller deletes its descendants, found by the cluster-name label) — also those a
        reconciliation made while the Cluster was being deleted."""
        names = {(c["metadata"]["namespace"], c["metadata"]["name"])
                 for c in self.store.list(GROUP, "clusters", None)}
        for plural in ("machinedeployments", "machinesets", "machines"):
            for obj in self.store.list(GROUP, plural, None):
                meta = obj["metadata"]
                cluster = ((meta.get("labels") or {}).get(CLUSTER_NAME)
                           or (obj.get("spec") or {}).get("clusterName"))
                if cluster and (meta["namespace"], cluster) not in names:
                    with contextlib.suppress(ApiError):
                        self.store.delete(GROUP, plural, meta["namespace"], meta["name"])
