"""Controller emulations for the emulated API server — TEST DOUBLES of the upstream
controllers, each moving its objects through the states its documentation specifies:

- scheduler: binds a pending pod to the first Ready, schedulable node whose allocatable
  CPU, memory and extended resources fit and where its DRA claims can be allocated
  (:mod:`.dra`), else a ``FailedScheduling`` event
  (https://kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler/);
- kubelet: runs each bound pod's container as a local process (the image is not pulled:
  ``python3`` is this interpreter; an image's default entrypoint is an idle process, or
  Jupyter Server for notebook images), with its own loopback pod IP, the downward-API
  variables, the cards it was given (``NVIDIA_VISIBLE_DEVICES``…), logs, exit codes,
  ``Pulled``/``Created``/``Started`` events, readiness from its ``httpGet`` probe
  (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/);
- job controller: Indexed completions, ``backoffLimit``, ``suspend``, the ``Complete`` and
  ``Failed`` conditions (https://kubernetes.io/docs/concepts/workloads/controllers/job/);
- quota: ResourceQuota admission of pods and ``status.used``
  (https://kubernetes.io/docs/concepts/policy/resource-quotas/);
- deployment controller: ``replicas`` pods, ``readyReplicas``;
- Kueue: a Workload per queued Job, admitted by ClusterQueue quota in priority order, the
  Job unsuspended when admitted, quota released when it finishes or is deactivated
  (https://kueue.sigs.k8s.io/docs/concepts/workload/, …/cluster_queue/);
- JobSet: child Jobs per replicated job, restarted as a whole up to
  ``failurePolicy.maxRestarts`` with the ``restart-attempt`` label
  (https://jobset.sigs.k8s.io/docs/concepts/);
- Kubeflow notebook controller: a pod ``<name>-0`` per Notebook, ``readyReplicas``;
- KServe: a predictor pod per InferenceService serving an OpenAI-compatible stand-in,
  ``Ready`` condition and ``status.url`` at the emulated ingress;
- the platform's tenant controller: a NetworkPolicy admitting only the namespace's own
  pods in every tenant namespace (``sca-tenant`` label), as platforms install;
- the CNI: a table of pod IPs, DNS names and admitted namespaces that
  ``podnet/sitecustomize.py`` enforces inside every pod;
- Cluster API: topology, cluster, MachineDeployment, MachineSet and machine controllers
  (:mod:`.capi`);
- Volcano: the queue and job controllers (vcjobs, PodGroups, Commands) and its gang,
  priority and overcommit scheduling (:mod:`.volcano`); the scheduler above leaves pods of
  another ``schedulerName`` alone, as kube-scheduler does.

Faults (named for the behaviour): ``quota_not_enforced``, ``kueue_never_admits``,
``kueue_ignores_priority``, ``networkpolicy_ignored``, ``rbac_not_enforced``,
``jobset_never_restarts``, ``notebook_never_ready``, ``notebook_drops_accelerators``,
``kserve_never_ready``, ``kserve_pods_default_sized`` (the predictor pod is made from a
default template: 1 CPU, 1 Gi, whatever the InferenceService asks), ``logs_dropped``,
``audit_dropped``, ``scheduler_ignores_capacity``,
``cadvisor_not_scraped``, ``dcgm_exporter_down`` (the emulated Prometheus: prometheus.py),
``dra_ignores_constraints`` (the DRA allocator: dra.py), ``comfyui_outputs_truncated`` (the
platform's ComfyUI: comfy.py), ``capi_scale_in_ignored``, ``capi_scale_out_stuck`` (Cluster
API: capi.py), ``volcano_gang_off``, ``volcano_priority_ignored`` (Volcano: volcano.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .apiserver import ApiError, ApiServer, Principal, Served, now
from .capi import ClusterApi
from .dra import DraAllocator
from .volcano import Volcano

PODNET = Path(__file__).parent / "podnet"
INDEX = "batch.kubernetes.io/job-completion-index"
CARD_VARIABLES = {"nvidia.com": "NVIDIA_VISIBLE_DEVICES", "huawei.com": "ASCEND_VISIBLE_DEVICES",
                  "cambricon.com": "MLU_VISIBLE_DEVICES", "hygon.com": "HIP_VISIBLE_DEVICES",
                  "kunlunxin.com": "XPU_VISIBLE_DEVICES"}
QUEUE = "kueue.x-k8s.io/queue-name"
PRIORITY = "kueue.x-k8s.io/priority-class"
STOPPED = "sca.evaluation/stopped"
JOBSET = "jobset.sigs.k8s.io/jobset-name"
ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"
HAMI_ALLOCATED = "hami.io/vgpu-devices-allocated"
#: What a predictor pod gets under ``kserve_pods_default_sized``.
DEFAULT_PREDICTOR_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"},
                               "limits": {"cpu": "1", "memory": "1Gi"}}


def quantity(value: Any) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(value))) if value is not None else 0.0


def node_refusal(pod: dict[str, Any], node: dict[str, Any]) -> str | None:
    """Why the scheduler cannot place ``pod`` on ``node`` whatever its free resources (the
    node is not Ready or cordoned, or its labels miss the pod's nodeSelector), in
    kube-scheduler's words; None where it could."""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or [])
    if not ready or (node.get("spec") or {}).get("unschedulable"):
        return "node(s) were unschedulable"
    selector = pod["spec"].get("nodeSelector") or {}
    if any((node["metadata"].get("labels") or {}).get(k) != v for k, v in selector.items()):
        return "node(s) didn't match Pod's node affinity/selector"
    return None


def requests_of(pod: dict[str, Any]) -> dict[str, float]:
    total: dict[str, float] = {}
    for container in pod.get("spec", {}).get("containers") or []:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, amount in wanted.items():
            total[name] = total.get(name, 0.0) + quantity(amount)
    return total


def live(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    #: Whether the readiness probe last judged the container ready, and how many probes in a
    #: row have failed since.
    ready: bool = False
    probe_failures: int = 0


class Controllers:
    """Every controller, reconciled every tick on the API server's event loop."""

    def __init__(self, server: ApiServer, folder: Path, faults: set[str],
                 ingress: str) -> None:
        self.server, self.store, self.faults = server, server.store, faults
        self.folder = folder
        self.ingress = ingress
        self.processes: dict[str, Process] = {}
        #: pod → process groups ``pods/exec`` started in it
        self.execs: dict[str, list[int]] = {}
        self.logs: dict[str, str] = {}
        self.pod_ips: dict[str, str] = {}
        self.next_ip = 2
        #: This cluster's pod addresses, 127.<subnet>.x.y: clusters emulated at the same time
        #: (pytest-xdist workers) must not hand out the same address, or one's pod cannot bind
        #: its port and the other's service proxy reaches the wrong pod.
        self.subnet = (random.randrange(1, 255), random.randrange(0, 200))
        self.net_table = folder / "podnet.json"
        self.scrape_table = folder / "scrape.json"
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.dra = DraAllocator(self.store, faults)
        self.capi = ClusterApi(self.store, faults)
        self.volcano = Volcano(self)
        server.admission.append(self.admit_quota)
        server.subresources[("", "serviceaccounts", "token")] = self.token
        server.subresources[("", "pods", "log")] = self.pod_log
        server.subresources[("", "pods", "exec")] = self.pod_exec
        server.subresources[("", "services", "proxy")] = self.service_proxy

    # life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self.reconcile()
            except Exception as exc:  # noqa: BLE001 - a controller bug must be seen, not kill
                print(f"emulated controllers: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        # The loop also ends on the flag: Python 3.11's asyncio.wait_for (the kubelet's kill)
        # can swallow a cancellation that arrives as its inner wait completes, and then the
        # loop ran on after the stop (two CI teardowns timed out at 30 s, the controllers
        # still writing into the removed folder).
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await asyncio.gather(*(self.kill(key) for key in {*self.processes, *self.execs}))

    async def reconcile(self) -> None:
        self.tenants()
        self.kueue()
        self.jobsets()
        self.jobs()
        self.deployments()
        self.notebooks()
        self.kserve()
        self.dra.reconcile()
        self.capi.reconcile()
        self.volcano.reconcile()
        self.schedule()
        await self.kubelet()
        self.quota_status()
        self.write_net_table()
        self.write_scrape_table()

    # helpers ------------------------------------------------------------------------------

    def has(self, group: str, plural: str) -> bool:
        return (group, plural) in self.store.served

    def event(self, obj: dict[str, Any], reason: str, message: str,
              kind: str = "Normal") -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        with contextlib.suppress(ApiError):
            self.store.create("", "events", namespace, {
                "metadata": {"name": f"{meta['name']}.{secrets.token_hex(6)}"},
                "involvedObject": {"kind": obj.get("kind"), "name": meta["name"],
                                   "namespace": namespace, "uid": meta.get("uid")},
                "reason": reason, "message": message, "type": kind,
                "firstTimestamp": now(), "lastTimestamp": now(), "count": 1})

    def owner(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
                "controller": True}

    def owned(self, group: str, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.store.list(group, plural, owner["metadata"].get("namespace"))
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]

    def create_pod(self, owner: dict[str, Any], name: str, template: dict[str, Any],
                   labels: dict[str, str], annotations: dict[str, str] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
        namespace = owner["metadata"]["namespace"]
        body = {"metadata": {"name": name, "labels": {**(template.get("metadata", {})
                                                        .get("labels") or {}), **labels},
                             "annotations": {**(template.get("metadata", {})
                                                .get("annotations") or {}),
                                             **(annotations or {})},
                             "ownerReferences": [self.owner(owner)]},
                "spec": {**json.loads(json.dumps(template.get("spec") or {})), **(extra or {})},
                "status": {"phase": "Pending"}}
        try:
            self.admit_quota("create", self.store.kind("", "pods"), namespace, body, None)
            return self.store.create("", "pods", namespace, body)
        except ApiError as exc:
            self.event(owner, "FailedCreate", f"Error creating: {exc.message}", "Warning")
            return None

    def delete(self, group: str, plural: str, obj: dict[str, Any]) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(group, plural, obj["metadata"].get("namespace"),
                              obj["metadata"]["name"])

    # quota --------------------------------------------------------------------------------

    def admit_quota(self, verb: str, spec: Served, namespace: str | None,
                    body: dict[str, Any], who: Principal | None) -> None:
        if spec.plural != "pods" or spec.group or "quota_not_enforced" in self.faults:
            return
        wanted = requests_of(body)
        for quota in self.store.list("", "resourcequotas", namespace):
            hard = (quota.get("spec") or {}).get("hard") or {}
            used = self.used(namespace or "")
            for key, limit in hard.items():
                resource = key.removeprefix("requests.")
                if resource in wanted and used.get(resource, 0) + wanted[resource] \
                        > quantity(limit):
                    raise ApiError(403, "Forbidden",
                                   f'pods "{body["metadata"].get("name")}" is forbidden: '
                                   f"exceeded quota: {quota['metadata']['name']}, requested: "
                                   f"{key}={wanted[resource]:g}, used: {key}="
                                   f"{used.get(resource, 0):g}, limited: {key}={limit}")

    def used(self, namespace: str) -> dict[str, float]:
        total: dict[str, float] = {}
        for pod in self.store.list("", "pods", namespace):
            if live(pod):
                for name, amount in requests_of(pod).items():
                    total[name] = total.get(name, 0.0) + amount
        return total

    def quota_status(self) -> None:
        for quota in self.store.list("", "resourcequotas", None):
            used = self.used(quota["metadata"]["namespace"])
            hard = (quota.get("spec") or {}).get("hard") or {}
            status = {"hard": hard, "used": {k: f"{used.get(k.removeprefix('requests.'), 0):g}"
                                             for k in hard}}
            if quota.get("status") != status:
                quota["status"] = status

    # the platform's tenant controller and the CNI -----------------------------------------

    def tenants(self) -> None:
        for namespace in self.store.list("", "namespaces", None, "sca-tenant=true"):
            name = namespace["metadata"]["name"]
            with contextlib.suppress(ApiError):
                self.store.get("networking.k8s.io", "networkpolicies", name, "tenant-isolation")
                continue
            with contextlib.suppress(ApiError):
                self.store.create("networking.k8s.io", "networkpolicies", name, {
                    "metadata": {"name": "tenant-isolation"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": [{"podSelector": {}}]}]}})

    def ingress_allowed(self, namespace: str) -> list[str] | None:
        """Namespaces whose pods may connect to pods of ``namespace``; None = all."""
        policies = [p for p in self.store.list("networking.k8s.io", "networkpolicies",
                                               namespace)
                    if "Ingress" in (p.get("spec") or {}).get("policyTypes", ["Ingress"])]
        if not policies or "networkpolicy_ignored" in self.faults:
            return None
        allowed: set[str] = set()
        for policy in policies:
            for rule in (policy.get("spec") or {}).get("ingress") or []:
                sources = rule.get("from")
                if not sources:
                    return None
                for source in sources:
                    if "namespaceSelector" in source:
                        wanted = (source["namespaceSelector"] or {}).get("matchLabels") or {}
                        allowed.update(
                            n["metadata"]["name"] for n in self.store.list("", "namespaces", None)
                            if all((n["metadata"].get("labels") or {}).get(k) == v
                                   for k, v in wanted.items()))
                    elif "podSelector" in source:
                        allowed.add(namespace)
        return sorted(allowed)

    def write_scrape_table(self) -> None:
        """What the emulated Prometheus scrapes (tests/kube/prometheus.py): each running
        container's process (cAdvisor) and each node's cards (the vendor exporters)."""
        containers = []
        for key, process in self.processes.items():
            namespace, name, _ = key.split("/", 2)
            try:
                pod = self.store.get("", "pods", namespace, name)
            except ApiError:
                continue
            if process.proc.returncode is not None:
                continue
            node = self.store.get("", "nodes", None, pod["spec"]["nodeName"])
            containers.append({"namespace": namespace, "pod": name, "pid": process.proc.pid,
                               "container": pod["spec"]["containers"][0]["name"],
                               "node_ip": _address(node)})
        nodes = [{"name": n["metadata"]["name"], "ip": _address(n),
                  "model": (n["metadata"].get("labels") or {}).get("nvidia.com/gpu.product", ""),
                  "cards": {r: int(quantity(v)) for r, v in n["status"]["allocatable"].items()
                            if "/" in r}} for n in self.store.list("", "nodes", None)]
        # The exporters report a node's cards however they are handed out: DRA drivers' too.
        if self.has("resource.k8s.io", "resourceslices"):
            by_name = {str(n["name"]): n for n in nodes}
            for item in self.store.list("resource.k8s.io", "resourceslices", None):
                spec = item.get("spec") or {}
                entry = by_name.get(str(spec.get("nodeName")))
                if entry is not None and spec.get("driver") == "gpu.nvidia.com":
                    cards = entry["cards"]
                    cards["nvidia.com/gpu"] = cards.get("nvidia.com/gpu", 0) + len(
                        spec.get("devices") or [])
        text = json.dumps({"containers": containers, "nodes": nodes,
                           "faults": sorted(self.faults)}, sort_keys=True)
        if not self.scrape_table.exists() or self.scrape_table.read_text() != text:
            temporary = self.scrape_table.with_suffix(".tmp")
            temporary.write_text(text)
            temporary.replace(self.scrape_table)

    def write_net_table(self) -> None:
        pods: dict[str, str] = {}
        dns: dict[str, str] = {}
        for pod in self.store.list("", "pods", None):
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                continue
            meta, spec = pod["metadata"], pod.get("spec") or {}
            pods[ip] = meta["namespace"]
            if spec.get("hostname") and spec.get("subdomain"):
                base = f"{spec['hostname']}.{spec['subdomain']}"
                dns[base] = ip
                dns[f"{base}.{meta['namespace']}"] = ip
                dns[f"{base}.{meta['namespace']}.svc"] = ip
        for service in self.store.list("", "services", None):
            endpoint = self.endpoints(service)
            if endpoint:
                name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
                for alias in (f"{name}.{ns}", f"{name}.{ns}.svc"):
                    dns[alias] = endpoint[0][0]
        table = {"pods": pods, "dns": dns,
                 "ingress": {ns: self.ingress_allowed(ns) for ns in set(pods.values())}}
        text = json.dumps(table, sort_keys=True)
        if not self.net_table.exists() or self.net_table.read_text() != text:
            temporary = self.net_table.with_suffix(".tmp")
            temporary.write_text(text)
            temporary.replace(self.net_table)

    def endpoints(self, service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        ready = []
        for pod in self.store.list("", "pods", service["metadata"]["namespace"]):
            labels = pod["metadata"].get("labels") or {}
            state = pod.get("status") or {}
            if all(labels.get(k) == v for k, v in selector.items()) and state.get("podIP") \
                    and any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in state.get("conditions") or []):
                ready.append((state["podIP"], pod))
        return ready

    # batch Jobs ------------------------------------------------------------------------------

    def jobs(self) -> None:
        for job in self.store.list("batch", "jobs", None):
            spec, state = job["spec"], job.setdefault("status", {})
            conditions = {c["type"] for c in state.get("conditions") or []
                          if c.get("status") == "True"}
            pods = self.owned("", "pods", job)
            if conditions & {"Complete", "Failed"}:
                continue
            if spec.get("suspend"):
                for pod in pods:
                    if live(pod):
                        self.delete("", "pods", pod)
                state["active"] = 0
                if "Suspended" not in conditions:
                    state.setdefault("conditions", []).append(
                        {"type": "Suspended", "status": "True", "lastTransitionTime": now()})
                    self.event(job, "Suspended", "Job suspended")
                continue
            if "Suspended" in conditions:
                state["conditions"] = [c for c in state["conditions"]
                                       if c["type"] != "Suspended"]
                self.event(job, "Resumed", "Job resumed")
            state.setdefault("startTime", now())
            completions = int(spec.get("completions") or 1)
            by_index: dict[int, list[dict[str, Any]]] = {}
            for pod in pods:
                index = int((pod["metadata"].get("annotations") or {}).get(INDEX, 0))
                by_index.setdefault(index, []).append(pod)
            failed = sum(1 for p in pods if p["status"].get("phase") == "Failed")
            succeeded = {i for i, ps in by_index.items()
                         if any(p["status"].get("phase") == "Succeeded" for p in ps)}
            if failed > int(spec.get("backoffLimit", 6)):
                for pod in pods:
                    if live(pod):
                        self.delete("", "pods", pod)
                state.update(failed=failed, active=0)
                state.setdefault("conditions", []).append(
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "lastTransitionTime": now()})
                self.event(job, "BackoffLimitExceeded", "Job has reached the specified "
                                                        "backoff limit", "Warning")
                continue
            if len(succeeded) >= completions:
                state.update(succeeded=len(succeeded), active=0, completionTime=now())
                state.setdefault("conditions", []).append(
                    {"type": "Complete", "status": "True", "lastTransitionTime": now()})
                self.event(job, "Completed", "Job completed")
                continue
            name = job["metadata"]["name"]
            template = spec.get("template") or {}
            for index in range(completions):
                if index in succeeded or any(live(p) for p in by_index.get(index, [])):
                    continue
                extra: dict[str, Any] = {}
                if spec.get("completionMode") == "Indexed":
                    extra["hostname"] = f"{name}-{index}"
                pod = self.create_pod(
                    job, f"{name}-{index}-{secrets.token_hex(3)[:5]}", template,
                    {"job-name": name, "batch.kubernetes.io/job-name": name,
                     "controller-uid": job["metadata"]["uid"],
                     INDEX: str(index)}, {INDEX: str(index)}, extra)
                if pod is not None:
                    self.event(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            state.update(active=sum(1 for p in self.owned("", "pods", job) if live(p)),
                         succeeded=len(succeeded), failed=failed)

    # Deployments ----------------------------------------------------------------------------

    def deployments(self) -> None:
        for deployment in self.store.list("apps", "deployments", None):
            spec = deployment["spec"]
            wanted = int(spec.get("replicas", 1))
            pods = [p for p in self.owned("", "pods", deployment) if live(p)]
            name = deployment["metadata"]["name"]
            for _ in range(wanted - len(pods)):
                self.create_pod(deployment, f"{name}-{secrets.token_hex(4)[:8]}-"
                                            f"{secrets.token_hex(3)[:5]}", spec["template"], {})
            for pod in pods[wanted:] if len(pods) > wanted else []:
                self.delete("", "pods", pod)
            ready = sum(1 for p in pods if _ready(p))
            deployment["status"] = {
                "replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                "observedGeneration": 1,
                "conditions": [{"type": "Available", "status": "True" if ready >= wanted
                                else "False"},
                               {"type": "Progressing", "status": "True"}]}

    # Kueue ----------------------------------------------------------------------------------

    def kueue(self) -> None:
        if not self.has("kueue.x-k8s.io", "workloads"):
            return
        group = "kueue.x-k8s.io"
        for job in self.store.list("batch", "jobs", None):
            labels = job["metadata"].get("labels") or {}
            if QUEUE not in labels or self.owned(group, "workloads", job):
                continue
            priority_class = labels.get(PRIORITY)
            priority = 0
            if priority_class:
                with contextlib.suppress(ApiError):
                    priority = int(self.store.get(group, "workloadpriorityclasses", None,
                                                  priority_class).get("value", 0))
            template = job["spec"].get("template") or {}
            count = int(job["spec"].get("parallelism") or 1)
            self.store.create(group, "workloads", job["metadata"]["namespace"], {
                "metadata": {"name": f"job-{job['metadata']['name']}",
                             "ownerReferences": [self.owner(job)]},
                "spec": {"queueName": labels[QUEUE], "priority": priority,
                         "priorityClassName": priority_class, "active": True,
                         "podSets": [{"name": "main", "count": count,
                                      "template": template}]}})
        usage: dict[str, dict[str, float]] = {}
        pending: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        for workload in self.store.list(group, "workloads", None):
            job = self._owner_job(workload)
            state = workload.setdefault("status", {})
            conditions = {c["type"]: c for c in state.get("conditions") or []}
            admitted = conditions.get("Admitted", {}).get("status") == "True"
            finished = "Finished" in conditions
            if job is None:
                continue
            job_conditions = {c["type"] for c in (job.get("status") or {}).get("conditions")
                              or [] if c.get("status") == "True"}
            stopped = (job["metadata"].get("annotations") or {}).get(STOPPED) == "true"
            if stopped and workload["spec"].get("active", True):
                workload["spec"]["active"] = False
            if admitted and (job_conditions & {"Complete", "Failed"} or stopped):
                state["conditions"] = [c for c in state["conditions"]
                                       if c["type"] not in ("Admitted", "QuotaReserved")]
                state["conditions"].append({"type": "Finished" if not stopped else "Evicted",
                                            "status": "True", "reason": "Deactivated"
                                            if stopped else "Succeeded",
                                            "lastTransitionTime": now()})
                state.pop("admission", None)
                continue
            local = self._local_queue(workload)
            cluster_queue = (local or {}).get("spec", {}).get("clusterQueue")
            if admitted and cluster_queue:
                bucket = usage.setdefault(cluster_queue, {})
                for name, amount in self._workload_requests(workload).items():
                    bucket[name] = bucket.get(name, 0.0) + amount
            elif not finished and not stopped and workload["spec"].get("active", True):
                if local is None:
                    self._pending(workload, f"LocalQueue {workload['spec']['queueName']} "
                                            "doesn't exist")
                    continue
                pending.append((workload, job, cluster_queue or ""))
        if "kueue_never_admits" in self.faults:
            for workload, _, _ in pending:
                self._pending(workload, "couldn't assign flavors to pod set main")
            return
        # Higher priority first, then first come (StrictFIFO); the fault forgets priorities.
        ignore = "kueue_ignores_priority" in self.faults
        pending.sort(key=lambda item: (0 if ignore else -int(item[0]["spec"].get("priority") or 0),
                                       item[0]["metadata"]["creationTimestamp"],
                                       int(item[0]["metadata"]["resourceVersion"])))
        for workload, job, cluster_queue in pending:
            try:
                queue = self.store.get(group, "clusterqueues", None, cluster_queue)
            except ApiError:
                self._pending(workload, f"ClusterQueue {cluster_queue} doesn't exist")
                continue
            quota = _nominal(queue)
            wanted = self._workload_requests(workload)
            used = usage.setdefault(cluster_queue, {})
            # A resource the ClusterQueue does not cover cannot be admitted at all.
            short = [n for n, amount in wanted.items()
                     if amount > 0 and used.get(n, 0) + amount > quota.get(n, 0.0)]
            if short:
                self._pending(workload, f"couldn't assign flavors to pod set main: insufficient "
                                        f"unused quota for {', '.join(short)} in flavor "
                                        f"default-flavor")
                # Strict FIFO within a priority: a lower priority waits behind it.
                continue
            for name, amount in wanted.items():
                used[name] = used.get(name, 0.0) + amount
            state = workload["status"]
            state["admission"] = {"clusterQueue": cluster_queue, "podSetAssignments": [
                {"name": "main", "flavors": {n: "default-flavor" for n in wanted},
                 "count": workload["spec"]["podSets"][0]["count"]}]}
            state["conditions"] = [c for c in state.get("conditions") or []
                                   if c["type"] not in ("QuotaReserved", "Admitted")]
            state["conditions"] += [
                {"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved",
                 "message": f"Quota reserved in ClusterQueue {cluster_queue}",
                 "lastTransitionTime": now()},
                {"type": "Admitted", "status": "True", "reason": "Admitted",
                 "message": "The workload is admitted", "lastTransitionTime": now()}]
            job["spec"]["suspend"] = False
            self.event(job, "Started", f"Admitted by clusterQueue {cluster_queue}")

    def _owner_job(self, workload: dict[str, Any]) -> dict[str, Any] | None:
        for ref in workload["metadata"].get("ownerReferences") or []:
            with contextlib.suppress(ApiError):
                job = self.store.get("batch", "jobs", workload["metadata"]["namespace"],
                                     ref["name"])
                if job["metadata"]["uid"] == ref["uid"]:
                    return job
        return None

    def _local_queue(self, workload: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.store.get("kueue.x-k8s.io", "localqueues",
                                  workload["metadata"]["namespace"],
                                  workload["spec"]["queueName"])
        except ApiError:
            return None

    @staticmethod
    def _workload_requests(workload: dict[str, Any]) -> dict[str, float]:
        total: dict[str, float] = {}
        for pod_set in workload["spec"]["podSets"]:
            for name, amount in requests_of(pod_set.get("template") or {}).items():
                total[name] = total.get(name, 0.0) + amount * int(pod_set.get("count", 1))
        return total

    def _pending(self, workload: dict[str, Any], message: str) -> None:
        state = workload.setdefault("status", {})
        conditions = [c for c in state.get("conditions") or [] if c["type"] != "QuotaReserved"]
        conditions.append({"type": "QuotaReserved", "status": "False", "reason": "Pending",
                           "message": message, "lastTransitionTime": now()})
        if state.get("conditions") != conditions:
            state["conditions"] = conditions
            job = self._owner_job(workload)
            if job is not None and not any(
                    e.get("message") == message
                    for e in self.store.list("", "events", job["metadata"]["namespace"])
                    if e["involvedObject"]["name"] == job["metadata"]["name"]):
                self.event(job, "Pending", message, "Warning")

    # JobSet ---------------------------------------------------------------------------------

    def jobsets(self) -> None:
        if not self.has("jobset.x-k8s.io", "jobsets"):
            return
        for jobset in self.store.list("jobset.x-k8s.io", "jobsets", None):
            state = jobset.setdefault("status", {})
            conditions = {c["type"] for c in state.get("conditions") or []
                          if c.get("status") == "True"}
            if conditions & {"Completed", "Failed"}:
                continue
            attempt = int(state.get("restarts", 0))
            children = self.owned("batch", "jobs", jobset)
            child_states = [{c["type"] for c in (j.get("status") or {}).get("conditions") or []
                             if c.get("status") == "True"} for j in children]
            if any("Failed" in s for s in child_states):
                limit = int((jobset["spec"].get("failurePolicy") or {}).get("maxRestarts", 0))
                if attempt < limit and "jobset_never_restarts" not in self.faults:
                    # The failed attempt's pods take their grace period to go.
                    first_seen = state.setdefault("sca-emu/failed-at", asyncio.get_running_loop()
                                                  .time())
                    if asyncio.get_running_loop().time() - first_seen < 2.0:
                        continue
                    state.pop("sca-emu/failed-at", None)
                    for child in children:
                        self.delete("batch", "jobs", child)
                    state["restarts"] = attempt + 1
                    self.event(jobset, "Restarting", f"restart attempt {attempt + 1}")
                    continue
                state.setdefault("conditions", []).append(
                    {"type": "Failed", "status": "True", "reason": "ReachedMaxRestarts",
                     "lastTransitionTime": now()})
                continue
            if children and all("Complete" in s for s in child_states):
                state.setdefault("conditions", []).append(
                    {"type": "Completed", "status": "True", "lastTransitionTime": now()})
                continue
            if children:
                continue
            name = jobset["metadata"]["name"]
            for replicated in jobset["spec"].get("replicatedJobs") or []:
                for index in range(int(replicated.get("replicas", 1))):
                    template = json.loads(json.dumps(replicated["template"]))
                    job_name = f"{name}-{replicated['name']}-{index}"
                    pod_labels = template["spec"]["template"].setdefault("metadata", {}) \
                        .setdefault("labels", {})
                    pod_labels.update({JOBSET: name, ATTEMPT: str(attempt),
                                       "jobset.sigs.k8s.io/replicatedjob-name":
                                           replicated["name"]})
                    template["spec"]["template"]["spec"]["subdomain"] = name
                    with contextlib.suppress(ApiError):
                        self.store.create("batch", "jobs", jobset["metadata"]["namespace"], {
                            "metadata": {"name": job_name, "labels": {JOBSET: name},
                                         "ownerReferences": [self.owner(jobset)]},
                            "spec": template["spec"]})
            state["replicatedJobsStatus"] = [{"name": r["name"]} for r in
                                             jobset["spec"].get("replicatedJobs") or []]

    # Kubeflow Notebooks ---------------------------------------------------------------------

    def notebooks(self) -> None:
        if not self.has("kubeflow.org", "notebooks"):
            return
        for notebook in self.store.list("kubeflow.org", "notebooks", None):
            name = notebook["metadata"]["name"]
            pods = [p for p in self.owned("", "pods", notebook) if live(p)]
            if not pods and "notebook_never_ready" not in self.faults:
                template = notebook["spec"]["template"]
                if "notebook_drops_accelerators" in self.faults:
                    template = json.loads(json.dumps(template))
                    for container in template["spec"]["containers"]:
                        for kind in ("limits", "requests"):
                            wanted = (container.get("resources") or {}).get(kind) or {}
                            for resource in [n for n in wanted if "/" in n]:
                                del wanted[resource]
                self.create_pod(notebook, f"{name}-0", template,
                                {"statefulset": name, "notebook-name": name},
                                extra={"hostname": f"{name}-0"})
            ready = sum(1 for p in pods if _ready(p))
            notebook["status"] = {"readyReplicas": ready, "containerState": {
                "running": {"startedAt": now()}} if ready else {"waiting": {
                    "reason": "ContainerCreating"}}, "conditions": []}

    # KServe ---------------------------------------------------------------------------------

    def kserve(self) -> None:
        if not self.has("serving.kserve.io", "inferenceservices"):
            return
        for isvc in self.store.list("serving.kserve.io", "inferenceservices", None):
            meta = isvc["metadata"]
            name, namespace = meta["name"], meta["namespace"]
            predictor = isvc["spec"].get("predictor") or {}
            stopped = (meta.get("annotations") or {}).get("serving.kserve.io/stop") == "true"
            wanted = 0 if stopped else max(int(predictor.get("minReplicas") or 1), 1)
            pods = [p for p in self.owned("", "pods", isvc) if live(p)]
            if "kserve_never_ready" not in self.faults:
                for _ in range(wanted - len(pods)):
                    model = predictor.get("model") or {}
                    self.create_pod(isvc, f"{name}-predictor-{secrets.token_hex(3)[:5]}", {
                        "spec": {"containers": [{
                            "name": "kserve-container", "image": "sca-emulated/openai-standin",
                            "env": [{"name": "SCA_MODEL", "value": name},
                                    {"name": "SCA_STORAGE_URI",
                                     "value": model.get("storageUri", "")}],
                            "resources": DEFAULT_PREDICTOR_RESOURCES
                            if "kserve_pods_default_sized" in self.faults
                            else model.get("resources") or {},
                            "readinessProbe": {"httpGet": {"path": "/v1/models",
                                                           "port": 8080}}}]}},
                        {"serving.kserve.io/inferenceservice": name})
            for pod in pods[wanted:]:
                self.delete("", "pods", pod)
            ready = any(_ready(p) for p in pods) and not stopped
            isvc["status"] = {
                "url": f"{self.ingress}/{namespace}/{name}",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                "lastTransitionTime": now()}]}

    # scheduler ------------------------------------------------------------------------------

    def schedule(self) -> None:
        nodes = self.store.list("", "nodes", None)
        pods = self.store.list("", "pods", None)
        for pod in pods:
            if pod["spec"].get("nodeName") or not live(pod) or pod["status"].get("phase") \
                    != "Pending":
                continue
            if pod["spec"].get("schedulerName", "default-scheduler") != "default-scheduler":
                continue  # another scheduler's pod (Volcano's: volcano.py)
            wanted = requests_of(pod)
            chosen, reasons = None, []
            for node in nodes:
                node_state = node.get("status") or {}
                refusal = node_refusal(pod, node)
                if refusal:
                    reasons.append(refusal)
                    continue
                free = {k: quantity(v) for k, v in (node_state.get("allocatable") or {}).items()}
                for other in pods:
                    if other["spec"].get("nodeName") == node["metadata"]["name"] and live(other):
                        for k, v in requests_of(other).items():
                            free[k] = free.get(k, 0.0) - v
                short = [k for k, v in wanted.items() if v > free.get(k, 0.0) + 1e-9]
                if short and "scheduler_ignores_capacity" not in self.faults:
                    reasons.append(f"Insufficient {short[0]}")
                    continue
                unclaimed = self.dra.allocate(pod, node["metadata"]["name"], commit=False)
                if unclaimed is not None:
                    reasons.append(unclaimed)
                    continue
                chosen = node
                break
            if chosen is None:
                message = f"0/{len(nodes)} nodes are available: " + \
                    ", ".join(sorted(set(reasons))) + "."
                if not any(c.get("message") == message
                           for c in pod["status"].get("conditions") or []):
                    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                                    "reason": "Unschedulable",
                                                    "message": message}]
                    self.event(pod, "FailedScheduling", message, "Warning")
                    for ref in pod["metadata"].get("ownerReferences") or []:
                        if ref["kind"] == "Job":
                            with contextlib.suppress(ApiError):
                                job = self.store.get("batch", "jobs",
                                                     pod["metadata"]["namespace"], ref["name"])
                                self.event(job, "FailedScheduling", message, "Warning")
                continue
            self.dra.allocate(pod, chosen["metadata"]["name"], commit=True)
            pod["spec"]["nodeName"] = chosen["metadata"]["name"]
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
            self.event(pod, "Scheduled", f"Successfully assigned {pod['metadata']['namespace']}/"
                                         f"{pod['metadata']['name']} to "
                                         f"{chosen['metadata']['name']}")

    # kubelet --------------------------------------------------------------------------------

    async def kubelet(self) -> None:
        seen = set()
        for pod in self.store.list("", "pods", None):
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            uid_key = f"{key}/{pod['metadata']['uid']}"
            seen.add(uid_key)
            state = pod["status"]
            if not pod["spec"].get("nodeName") or state.get("phase") != "Pending" \
                    or uid_key in self.processes:
                if uid_key in self.processes and state.get("phase") == "Running":
                    await self.observe(pod, uid_key)
                continue
            await self.launch(pod, uid_key)
        for uid_key in [k for k in {*self.processes, *self.execs} if k not in seen]:
            await self.kill(uid_key)

    def card_env(self, pod: dict[str, Any]) -> dict[str, str]:
        """The device plugin's answer: the cards a pod got, by index on its node (HAMi: a
        card with enough free cores, shared, named in ``hami.io/vgpu-devices-allocated``)."""
        env: dict[str, str] = self.dra.env(pod)
        node = pod["spec"]["nodeName"]
        wanted = requests_of(pod)
        if "nvidia.com/gpucores" in wanted:
            used: dict[int, float] = {}
            for other in self.store.list("", "pods", None):
                held = (other["metadata"].get("annotations") or {}).get(HAMI_ALLOCATED)
                if other is not pod and held and live(other) \
                        and other["spec"].get("nodeName") == node:
                    index = int(held.split(",", 1)[0].rsplit("-", 1)[1])
                    used[index] = used.get(index, 0.0) + requests_of(other)[
                        "nvidia.com/gpucores"]
            cores = wanted["nvidia.com/gpucores"]
            index = next(i for i in range(64) if used.get(i, 0.0) + cores <= 100)
            pod["metadata"].setdefault("annotations", {})[HAMI_ALLOCATED] = \
                f"GPU-{node}-{index},NVIDIA,0,{cores:g}:;"
            return {"NVIDIA_VISIBLE_DEVICES": str(index),
                    "CUDA_DEVICE_SM_LIMIT": f"{cores:g}"}
        for resource, amount in wanted.items():
            vendor = resource.split("/", 1)[0]
            variable = CARD_VARIABLES.get(vendor)
            if variable is None or "/" not in resource:
                continue
            taken = set()
            for other in self.store.list("", "pods", None):
                if other is pod or other["spec"].get("nodeName") != node or not live(other):
                    continue
                held = (other["metadata"].get("annotations") or {}).get(f"sca-emu/{resource}")
                taken.update(int(i) for i in (held or "").split(",") if i)
            free = [i for i in range(64) if i not in taken][:int(amount)]
            pod["metadata"].setdefault("annotations", {})[f"sca-emu/{resource}"] = \
                ",".join(map(str, free))
            env[variable] = ",".join(map(str, free))
        return env

    async def launch(self, pod: dict[str, Any], key: str) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        container = spec["containers"][0]
        ip = self.pod_ips.setdefault(
            key, f"127.{self.subnet[0]}.{self.subnet[1] + self.next_ip // 250}."
                 f"{self.next_ip % 250 + 2}")
        self.next_ip += 1
        workdir = self.folder / "pods" / meta["namespace"] / meta["name"]
        workdir.mkdir(parents=True, exist_ok=True)
        mounts = {}
        for volume in spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            local = self.folder / "volumes" / meta["namespace"] / (claim or volume["name"])
            local.mkdir(parents=True, exist_ok=True)
            mounts[volume["name"]] = str(local)
        paths = {m["mountPath"]: mounts[m["name"]] for m in container.get("volumeMounts") or []
                 if m["name"] in mounts}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
               "HOSTNAME": spec.get("hostname") or meta["name"],
               "PYTHONPATH": str(PODNET), "PYTHONUNBUFFERED": "1",
               "SCA_EMU_POD_IP": ip, "SCA_EMU_NAMESPACE": meta["namespace"],
               "SCA_EMU_NET": str(self.net_table), **self.card_env(pod)}
        for variable in container.get("env") or []:
            if "value" in variable:
                value = str(variable["value"])
                for mount, local in paths.items():
                    value = value.replace(mount, local)
                env[variable["name"]] = value
            elif "fieldRef" in (variable.get("valueFrom") or {}):
                path = variable["valueFrom"]["fieldRef"]["fieldPath"]
                found = re.match(r"metadata\.annotations\['(.+)'\]", path)
                env[variable["name"]] = str(
                    (meta.get("annotations") or {}).get(found.group(1), "") if found
                    else meta["name"] if path == "metadata.name"
                    else meta["namespace"] if path == "metadata.namespace"
                    else spec.get("nodeName") or "" if path == "spec.nodeName" else ip)
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        image = str(container.get("image", ""))
        if not argv:
            argv = self.entrypoint(image, env)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        self.event(pod, "Pulled", f'Successfully pulled image "{image}" in 12ms (12ms '
                                  f'including waiting). Image size: 52428800 bytes.')
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True)
        except OSError as exc:
            pod["status"].update(phase="Failed", containerStatuses=[{
                "name": container["name"], "state": {"terminated": {
                    "exitCode": 127, "reason": "StartError", "message": str(exc)}}}])
            return
        process = Process(proc)
        process.reader = asyncio.get_running_loop().create_task(self.read(process))
        self.processes[key] = process
        self.event(pod, "Created", f"Created container {container['name']}")
        self.event(pod, "Started", f"Started container {container['name']}")
        pod["status"].update(phase="Running", podIP=ip, startTime=now(), hostIP="127.0.0.1",
                             containerStatuses=[{"name": container["name"], "ready": False,
                                                 "restartCount": 0, "image": image,
                                                 "imageID": f"docker-pullable://{image}",
                                                 "state": {"running": {"startedAt": now()}}}])
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                       {"type": "Ready", "status": "False"}]
        self.write_net_table()

    def entrypoint(self, image: str, env: dict[str, str]) -> list[str]:
        """What an image runs without a command: OpenAI stand-in, the Dashboard's page,
        Prometheus, ComfyUI, Jupyter Server, or idle."""
        if "openai-standin" in image:
            return [sys.executable, str(Path(__file__).parent / "standin.py")]
        if "kubernetesui/dashboard" in image:
            return [sys.executable, str(Path(__file__).parent / "dashboard.py")]
        if "prometheus/prometheus" in image:
            env["SCA_EMU_SCRAPE"] = str(self.scrape_table)
            return [sys.executable, str(Path(__file__).parent / "prometheus.py")]
        if "comfyui" in image:
            env["SCA_EMU_FAULTS"] = ",".join(sorted(self.faults))
            return [sys.executable, str(Path(__file__).parent / "comfy.py")]
        if "jupyter" in image or "notebook" in image:
            token = env.setdefault("JUPYTER_TOKEN", "sca-emulated")
            return [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=0.0.0.0",
                    "--ServerApp.port=8888", "--ServerApp.port_retries=0",
                    f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]
        return [sys.executable, "-c", "import time\nwhile True: time.sleep(3600)"]

    async def read(self, process: Process) -> None:
        assert process.proc.stdout is not None
        while True:
            line = await process.proc.stdout.readline()
            if not line:
                return
            if "logs_dropped" not in self.faults:
                process.log.append(line.decode("utf-8", "replace"))

    async def observe(self, pod: dict[str, Any], key: str) -> None:
        process = self.processes[key]
        container = pod["spec"]["containers"][0]
        statuses = pod["status"]["containerStatuses"]
        if process.proc.returncode is None:
            readiness = container.get("readinessProbe") or {}
            probe = readiness.get("httpGet")
            ready = True
            if probe:
                # The kubelet marks a ready container unready only after failureThreshold
                # probes in a row failed (default 3), and ready again after successThreshold
                # (1) succeeded: https://kubernetes.io/docs/reference/kubernetes-api/
                # workload-resources/pod-v1/#Probe. One slow probe on a busy host is not it.
                if await _port_open(pod["status"]["podIP"], int(probe["port"])):
                    process.ready, process.probe_failures = True, 0
                else:
                    process.probe_failures += 1
                    if process.probe_failures >= int(readiness.get("failureThreshold", 3)):
                        process.ready = False
                ready = process.ready
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                           {"type": "Ready", "status": str(ready)}]
            statuses[0]["ready"] = ready
            return
        if process.reader is not None:
            await process.reader
        for pid in self.execs.pop(key, []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        code = process.proc.returncode
        self.logs[key] = "".join(process.log)
        pod["status"].update(phase="Succeeded" if code == 0 else "Failed")
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                       {"type": "Ready", "status": "False"}]
        statuses[0].update(ready=False, state={"terminated": {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error",
            "finishedAt": now()}})
        del self.processes[key]

    async def kill(self, key: str) -> None:
        for pid in self.execs.pop(key, []):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        process = self.processes.pop(key, None)
        if process is None:
            return
        if process.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.proc.wait(), 3)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.proc.pid, signal.SIGKILL)
                await process.proc.wait()
        if process.reader is not None:
            process.reader.cancel()
        self.logs[key] = "".join(process.log)

    # subresources ---------------------------------------------------------------------------

    def _pod_key(self, namespace: str, name: str) -> str:
        pod = self.store.get("", "pods", namespace, name)
        return f"{namespace}/{name}/{pod['metadata']['uid']}"

    async def token(self, request: web.Request, namespace: str, name: str, sub: str,
                    who: Principal) -> web.Response:
        self.store.get("", "serviceaccounts", namespace, name)
        body = await request.json()
        token = self.server.issue_token(namespace, name)
        return web.json_response({**body, "status": {
            "token": token, "expirationTimestamp": "2030-01-01T00:00:00Z"}}, status=201)

    async def pod_log(self, request: web.Request, namespace: str, name: str, sub: str,
                      who: Principal) -> web.Response:
        key = self._pod_key(namespace, name)
        process = self.processes.get(key)
        text = "".join(process.log) if process else self.logs.get(key, "")
        return web.Response(text=text, content_type="text/plain")

    async def pod_exec(self, request: web.Request, namespace: str, name: str, sub: str,
                       who: Principal) -> web.StreamResponse:
        """``pods/exec`` over the channel protocol: 1-byte channel prefix, 0 stdin,
        1 stdout, 2 stderr, 3 the Status of the exit."""
        pod = self.store.get("", "pods", namespace, name)
        if pod["status"].get("phase") != "Running":
            raise ApiError(400, "BadRequest",
                           f"container is not running (phase {pod['status'].get('phase')})")
        argv = request.query.getall("command", [])
        tty = request.query.get("tty", "false").lower() == "true"
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io", "channel.k8s.io"))
        await ws.prepare(request)
        workdir = self.folder / "pods" / namespace / name
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir),
               "HOSTNAME": name, "PS1": "$ ", "PYTHONPATH": str(PODNET),
               "SCA_EMU_POD_IP": pod["status"].get("podIP", ""),
               "SCA_EMU_NAMESPACE": namespace, "SCA_EMU_NET": str(self.net_table),
               **{v["name"]: str(v["value"]) for v in pod["spec"]["containers"][0].get("env")
                  or [] if "value" in v}}
        env.update(self.card_env_of(pod))
        if argv and argv[0] in ("python", "python3"):
            argv = [sys.executable, *argv[1:]]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=workdir, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        # What an exec starts lives in the pod: it goes when the pod goes.
        self.execs.setdefault(self._pod_key(namespace, name), []).append(proc.pid)

        async def pump() -> None:
            assert proc.stdout is not None
            while True:
                chunk = await proc.stdout.read(4096)
                if not chunk:
                    return
                text = chunk.decode("utf-8", "replace")
                if tty:
                    text = text.replace("\n", "\r\n")
                await ws.send_bytes(b"\x01" + text.encode())

        pumping = asyncio.get_running_loop().create_task(pump())

        async def stdin() -> None:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = message.data if isinstance(message.data, bytes) \
                        else message.data.encode()
                    if data[:1] == b"\x00" and proc.stdin is not None:
                        payload = data[1:]
                        if tty:
                            await ws.send_bytes(b"\x01" + payload)  # a terminal echoes
                        proc.stdin.write(payload.replace(b"\r", b"\n"))
                        await proc.stdin.drain()
                elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    return

        reading = asyncio.get_running_loop().create_task(stdin())
        try:
            await proc.wait()
            await pumping
            code = proc.returncode
            answer = {"metadata": {}, "status": "Success"} if code == 0 else {
                "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            await ws.send_bytes(b"\x03" + json.dumps(answer).encode())
        finally:
            reading.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            await ws.close()
        return ws

    def card_env_of(self, pod: dict[str, Any]) -> dict[str, str]:
        env = {}
        for key, value in (pod["metadata"].get("annotations") or {}).items():
            if key.startswith("sca-emu/"):
                variable = CARD_VARIABLES.get(key.removeprefix("sca-emu/").split("/", 1)[0])
                if variable:
                    env[variable] = value
        return env

    async def service_proxy(self, request: web.Request, namespace: str, name: str, sub: str,
                            who: Principal) -> web.Response:
        parts = name.split(":")  # [scheme:]name[:port]
        if parts[0] in ("http", "https"):
            parts = parts[1:]
        service_name, port_name = parts[0], parts[1] if len(parts) > 1 else ""
        service = self.store.get("", "services", namespace, service_name)
        ports = (service.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if port_name and port_name in (p.get("name"),
                                                                    str(p.get("port")))),
                    ports[0] if ports else None)
        endpoints = self.endpoints(service)
        if port is None or not endpoints:
            raise ApiError(503, "ServiceUnavailable",
                           f'no endpoints available for service "{service_name}"')
        self.round_robin = getattr(self, "round_robin", 0) + 1
        ip, _ = endpoints[self.round_robin % len(endpoints)]
        rest = sub.split("/", 1)[1] if "/" in sub else ""
        return await self.server.forward(request, f"{ip}:{port.get('targetPort', port['port'])}",
                                         rest)

    async def ingress_handler(self, request: web.Request) -> web.StreamResponse:
        """The emulated KServe ingress: ``/<namespace>/<isvc>/<path>`` to a ready predictor."""
        parts = request.path.strip("/").split("/", 2)
        if len(parts) < 2:
            return web.Response(status=404)
        namespace, name = parts[0], parts[1]
        rest = parts[2] if len(parts) > 2 else ""
        pods = [p for p in self.store.list("", "pods", namespace,
                                           f"serving.kserve.io/inferenceservice={name}")
                if _ready(p)]
        if not pods:
            return web.Response(status=503, text="no healthy upstream")
        rest = rest.removeprefix("openai/")
        return await self.server.forward(request, f"{pods[0]['status']['podIP']}:8080", rest)


def _address(node: dict[str, Any]) -> str:
    """A node's InternalIP (``status.addresses``), else its name."""
    return next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                 if a.get("type") == "InternalIP"), node["metadata"]["name"])


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _nominal(queue: dict[str, Any]) -> dict[str, float]:
    quota: dict[str, float] = {}
    for group in (queue.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for resource in flavor.get("resources") or []:
                quota[resource["name"]] = quota.get(resource["name"], 0.0) + \
                    quantity(resource.get("nominalQuota"))
    return quota


async def _port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
