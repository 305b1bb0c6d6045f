"""``jobs``: a job is a ``batch/v1`` Job of ``workers`` pods (Indexed when more than one,
with a headless Service so that rank 0 is reachable at ``MASTER_ADDR``), each pod requesting
its share of CPU, memory and cards; status, workers, events, exit codes and logs come from
the Job, its pods and their events; ``stop`` suspends the Job, ``restart`` resumes it.

Cards a DRA driver publishes (``ResourceSlice``s) are claimed, not requested: the Job's pods
name a ``ResourceClaimTemplate`` of the run asking for ``count`` devices of the model through
the driver's DeviceClass, all sharing ``dra_topology_attribute`` (``matchAttribute``) when
more than one; the cards a worker holds are the devices its claim was allocated
(:mod:`.dra`)."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    RUN_LABEL,
    TERMINAL_JOB_STATUSES,
    Job,
    JobEvent,
    Labels,
    Refused,
    Resources,
    Unsupported,
    Worker,
    wait_for_status,
)

from . import volcano
from .adapter import KubernetesAdapter
from .compute import KubeCompute
from .dra import CLAIMED_CARDS, REQUEST, claim_spec, device_class, pod_devices
from .queues import ensure_local_queue
from .resources import (
    INDEX_ANNOTATION,
    KINDS,
    MASTER_PORT,
    NODE_VARIABLE,
    POD_STATUS,
    QUEUE_LABEL,
    STOPPED,
    dns_name,
    vendor_of,
)
from .resources import quantity as _quantity


@dataclass(frozen=True)
class CardSource:
    """What holds the cards of a model: an extended resource, or a DRA driver's devices
    (``device``: driver, pool, device and the attribute naming the model, of one of them)."""

    resource: str
    device: Mapping[str, str] | None = None


def card_source(adapter: KubernetesAdapter, model: str | None) -> CardSource:
    """Where cards of ``model`` (any accelerator if None) come from, read with the
    evaluator's credential (a tenant's service account may not list nodes)."""
    free: dict[str, int] = {}
    devices: dict[str, Mapping[str, str]] = {}
    for node in KubeCompute(adapter._root).list_nodes():
        if node.get("health") != "healthy":
            continue
        for card in node["accelerators"]:
            if model is None or card["model"] == model:
                resource = str(card["resource"])
                free[resource] = free.get(resource, 0) + (0 if card.get("allocated_to") else 1)
                device = card.get("device")  # type: ignore[typeddict-item]
                if isinstance(device, Mapping):
                    devices.setdefault(resource, device)
    if not free:
        return CardSource("nvidia.com/gpu")
    # The resource with the most free cards: where a job has the most room to run.
    chosen = max(sorted(free), key=lambda r: free[r])
    return CardSource(chosen, devices.get(chosen))


def card_resource(adapter: KubernetesAdapter, model: str | None) -> str:
    """The extended resource (or DRA driver) that holds cards of ``model``."""
    return card_source(adapter, model).resource


#: HAMi's resources of a share of an NVIDIA card (https://github.com/Project-HAMi/HAMi):
#: a card, and the percentage of its cores and of its memory.
HAMI_CORES = "nvidia.com/gpucores"
HAMI_MEMORY = "nvidia.com/gpumem-percentage"


def _share_limits(adapter: KubernetesAdapter, share: float) -> dict[str, str]:
    """A fraction of a card through HAMi; :class:`Unsupported` where no node offers it."""
    nodes = adapter._root.call("list nodes", adapter._root.core().list_node).items
    if not any(HAMI_CORES in (n.status.allocatable or {}) for n in nodes if n.status):
        raise Unsupported("no node offers a share of a card: fractional cards need a "
                          f"sharing device plugin (HAMi's {HAMI_CORES})")
    percent = str(max(1, round(share * 100)))
    return {"nvidia.com/gpu": "1", HAMI_CORES: percent, HAMI_MEMORY: percent}


def container_spec(adapter: KubernetesAdapter, image: str, command: Sequence[str],
                   resources: Resources, env: Mapping[str, str], *,
                   source: CardSource | None = None, claim: str | None = None
                   ) -> dict[str, Any]:
    """One probe container: the command (``python`` is ``python3`` in slim images), its
    environment, and requests equal to limits for CPU, memory and whole cards — or, for
    cards of a DRA driver, the pod's ``claim`` (:class:`Unsupported` where the caller makes
    none: only batch Jobs claim devices)."""
    limits = {"cpu": f"{resources.get('cpu', 1):g}",
              "memory": f"{resources.get('memory_gib', 1):g}Gi"}
    cards = int(resources.get("accelerators") or 0)
    share = resources.get("accelerator_share")
    claims: list[dict[str, str]] = []
    if cards and share is not None and share < 1:
        limits.update(_share_limits(adapter, float(share)))
    elif cards:
        source = source or card_source(adapter, resources.get("accelerator_model"))
        if source.device is None:
            limits[source.resource] = str(cards)
        elif claim is None:
            raise Unsupported(f"the {resources.get('accelerator_model') or 'free'} cards are "
                              f"DRA devices of {source.resource}: the adapter claims them for "
                              "batch Jobs only")
        else:
            claims.append({"name": claim})
    argv = list(command)
    if argv and argv[0] == "python":
        argv[0] = "python3"
    requirements: dict[str, Any] = {"limits": limits, "requests": dict(limits)}
    if claims:
        requirements["claims"] = claims
    return {"name": "worker", "image": image, "command": argv,
            "env": [{"name": k, "value": str(v)} for k, v in env.items()],
            "resources": requirements}


class KubeJobs(Facade[KubernetesAdapter]):
    """Jobs as batch Jobs (:class:`~pytest_sca.capabilities.Jobs`)."""

    def probe_image(self) -> str:
        return self.subject.config.probe_image

    def submit(self, name: str, image: str, command: Sequence[str],
               resources: Resources, *, workers: int = 1,
               env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> Job:
        return self.create(name, image, command, resources, workers=workers, env=env,
                           labels=labels)

    def create(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int = 1, env: Mapping[str, str] | None = None,
               labels: Labels | None = None, job_labels: Mapping[str, str] | None = None,
               suspend: bool = False, vcjob: tuple[str, str | None] | None = None) -> Job:
        """:meth:`submit`, with labels on the Job only (a queue's, which Kueue reads) and
        created suspended (as Kueue admits it: https://kueue.sigs.k8s.io/docs/tasks/run/jobs/);
        or, with ``vcjob`` (a Volcano Queue and PriorityClass), as a Volcano Job
        (:mod:`.volcano`)."""
        adapter = self.subject
        place = resources.get("cluster_id")
        if place and place != (adapter.config.context or "kubernetes"):
            # A Cluster API workload cluster runs its own API server (behind the
            # <cluster>-kubeconfig Secret): jobs are not sent there.
            raise Unsupported(f"jobs run in the cluster the target file names; a job pinned to "
                              f"cluster {place} (a Cluster API workload cluster) would need its "
                              f"own API server, which the Kubernetes adapter does not drive")
        namespace = adapter.ensure_namespace()
        job_name = dns_name(name, limit=52)
        all_labels = {**(labels or {}), RUN_LABEL: adapter.context.run_id}
        if job_labels is None and vcjob is None and adapter.config.queue_jobs:
            # Where a batch scheduler runs, every job goes through it: admitted whole (all
            # workers or none), by Kueue within the ClusterQueue's quota, by Volcano's gang
            # scheduling within its Queue.
            scheduler = adapter.batch_scheduler()
            if scheduler == "kueue":
                job_labels = {QUEUE_LABEL: ensure_local_queue(adapter, namespace, "default")}
                suspend = True
            elif scheduler == "volcano":
                vcjob = (volcano.ensure_queue(adapter, "default"), None)
        variables: list[dict[str, Any]] = [
            {"name": k, "value": str(v)} for k, v in (env or {}).items()]
        variables += [
            {"name": "WORLD_SIZE", "value": str(workers)},
            {"name": "MASTER_ADDR", "value": volcano.master_address(job_name, workers)
             if vcjob else f"{job_name}-0.{job_name}" if workers > 1 else "127.0.0.1"},
            {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
            {"name": "RANK", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations"
                             f"['{volcano.TASK_INDEX if vcjob else INDEX_ANNOTATION}']"}}},
            # The node the pod is bound to, through the downward API: what a worker can tell
            # of where it runs (its host name is the pod's).
            {"name": NODE_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ]
        cards = int(resources.get("accelerators") or 0)
        share = resources.get("accelerator_share")
        source = card_source(adapter, resources.get("accelerator_model")) \
            if cards and (share is None or share >= 1) else None
        dra = source is not None and source.device is not None
        container = container_spec(adapter, image, command, resources, {}, source=source,
                                   claim=REQUEST if dra else None)
        container["env"] = variables
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        annotations: dict[str, str] = {}
        if dra and source is not None and source.device is not None:
            self._claim_template(namespace, job_name, all_labels, source.device, cards)
            pod_spec["resourceClaims"] = [{"name": REQUEST,
                                           "resourceClaimTemplateName": job_name}]
            annotations[CLAIMED_CARDS] = str(cards)
        if vcjob is not None:
            body = volcano.vcjob_body(job_name, {**all_labels, **(job_labels or {})},
                                      annotations, pod_spec, workers, *vcjob)
            adapter.create_object("vcjob", namespace, body)
            adapter._root._vcjobs.add((namespace, job_name))
            return self.get(job_name)
        spec: dict[str, Any] = {
            "completions": workers, "parallelism": workers, "backoffLimit": 0,
            "completionMode": "Indexed",
            "template": {"metadata": {"labels": all_labels}, "spec": pod_spec},
        }
        if workers > 1:
            spec["template"]["spec"]["subdomain"] = job_name
            service = {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": job_name, "namespace": namespace,
                                    "labels": all_labels},
                       # Rank 0 must resolve before it reports ready (it has no probe).
                       "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                                "selector": {"job-name": job_name},
                                "ports": [{"name": "rendezvous", "port": MASTER_PORT}]}}
            adapter.call("create service", adapter.core().create_namespaced_service,
                         namespace, service)
            adapter.remember("service", namespace, job_name)
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": job_name, "namespace": namespace,
                             "labels": {**all_labels, **(job_labels or {})},
                             **({"annotations": annotations} if annotations else {})},
                "spec": {**spec, "suspend": suspend}}
        adapter.call("create job", adapter.batch().create_namespaced_job, namespace, body)
        adapter.remember("job", namespace, job_name)
        return self.get(job_name)

    def _claim_template(self, namespace: str, name: str, labels: Mapping[str, str],
                        device: Mapping[str, str], cards: int) -> None:
        """The ResourceClaimTemplate each pod of the Job claims its cards through: ``cards``
        devices of the model through the driver's DeviceClass; more than one must share
        ``dra_topology_attribute`` (``constraints[].matchAttribute``)."""
        adapter = self.subject
        adapter.require("resourceclaimtemplate", what="a claim for DRA devices")
        driver = str(device["driver"])
        model = (str(device["model_attribute"]), str(device["model"])) \
            if device.get("model_attribute") else None
        attribute = adapter.config.dra_topology_attribute if cards > 1 else None
        adapter.create_object("resourceclaimtemplate", namespace, {
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"spec": claim_spec(device_class(adapter._root, driver), cards, model,
                                        attribute)}})

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Job]:
        adapter = self.subject
        found = adapter.call("list jobs", adapter.batch().list_namespaced_job,
                             adapter.namespace, label_selector=label).items
        wanted = dict([label.split("=", 1)]) if label and "=" in label else {}
        jobs = [self._answer(job) for job in found
                if all((job.metadata.labels or {}).get(k) == v for k, v in wanted.items())]
        if adapter.serves("vcjob"):
            jobs += [self._answer_vcjob(job)
                     for job in adapter.list_objects("vcjob", adapter.namespace, label)]
        return [job for job in jobs if status is None or job["status"] == status]

    def _read(self, job_id: str) -> tuple[Any, dict[str, Any] | None]:
        """The batch Job ``job_id`` (None for a Volcano Job), or the Volcano Job; 404 when
        neither exists in the caller's namespace."""
        adapter = self.subject
        namespace = adapter.namespace
        if (namespace, job_id) not in adapter._root._vcjobs:
            try:
                return adapter.call(f"jobs/{job_id}", adapter.batch().read_namespaced_job,
                                    job_id, namespace), None
            except Refused as exc:
                if exc.status != 404 or not adapter.serves("vcjob"):
                    raise
        return None, dict(adapter.get_object("vcjob", namespace, job_id))

    def get(self, job_id: str) -> Job:
        job, vcjob = self._read(job_id)
        return self._answer(job) if vcjob is None else self._answer_vcjob(vcjob)

    def events(self, job_id: str) -> list[JobEvent]:
        adapter = self.subject
        # The job must be the caller's (in its namespace): 404 otherwise, as for get.
        _, vcjob = self._read(job_id)
        found = adapter.call("list events", adapter.core().list_namespaced_event,
                             adapter.namespace).items
        mine = sorted((e for e in found if e.involved_object is not None
                       and (e.involved_object.name or "").startswith(job_id)),
                      key=lambda e: (str(e.last_timestamp or e.event_time or ""),
                                     int(e.metadata.resource_version or 0)
                                     if str(e.metadata.resource_version or "").isdigit()
                                     else 0))
        events: list[JobEvent] = [
            {"time": str(e.last_timestamp or e.event_time or ""), "type": e.reason,
             "reason": e.reason, "message": e.message} for e in mine]
        group = volcano.podgroup(adapter, vcjob) if vcjob is not None else None
        for condition in ((group or {}).get("status") or {}).get("conditions") or []:
            # Why Volcano holds the gang: its PodGroup's Unschedulable condition.
            if condition.get("type") == "Unschedulable" and condition.get("status") == "True" \
                    and not any(e.get("message") == condition.get("message") for e in events):
                events.append({"time": str(condition.get("lastTransitionTime") or ""),
                               "type": "Unschedulable",
                               "reason": str(condition.get("reason") or "Unschedulable"),
                               "message": str(condition.get("message") or "")})
        return events

    def logs(self, job_id: str, worker: int = 0) -> str:
        adapter = self.subject
        pod = next((p for p in self._pods(job_id) if self._rank(p) == worker), None)
        if pod is None and worker == 0:
            # A training attempt names the pod of its rank 0.
            with contextlib.suppress(Refused):
                pod = adapter.call(f"pods/{job_id}", adapter.core().read_namespaced_pod,
                                   job_id, adapter.namespace)
        if pod is None and job_id in adapter._root._pod_logs:
            return adapter._root._pod_logs[job_id]
        if pod is None:
            raise Refused(f"kubernetes jobs/{job_id}/logs", 404, "not_found",
                          f"no pod of worker {worker} of job {job_id}")
        return str(adapter.call("pod logs", adapter.core().read_namespaced_pod_log,
                                pod.metadata.name, adapter.namespace))

    def stop(self, job_id: str) -> Job:
        adapter = self.subject
        _, vcjob = self._read(job_id)
        if vcjob is not None:
            volcano.command(adapter, vcjob, "AbortJob")
            return self.get(job_id)
        adapter.call("suspend job", adapter.batch().patch_namespaced_job, job_id,
                     adapter.namespace, {"metadata": {"annotations": {STOPPED: "true"}},
                                         "spec": {"suspend": True}})
        return self.get(job_id)

    def restart(self, job_id: str) -> Job:
        adapter = self.subject
        _, vcjob = self._read(job_id)
        if vcjob is not None:
            volcano.command(adapter, vcjob, "ResumeJob")
            return self.get(job_id)
        adapter.call("resume job", adapter.batch().patch_namespaced_job, job_id,
                     adapter.namespace, {"metadata": {"annotations": {STOPPED: None}},
                                         "spec": {"suspend": False}})
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        adapter = self.subject
        namespace = adapter.namespace
        _, vcjob = self._read(job_id)
        if vcjob is not None:
            # As the caller (delete_object is the run's own cleanup, as the evaluator).
            kind = KINDS["vcjob"]
            adapter.call("delete vcjob", adapter.custom().delete_namespaced_custom_object,
                         kind.group, kind.version, namespace, kind.plural, job_id,
                         propagation_policy="Background")
            adapter.forget("vcjob", namespace, job_id)
            adapter._root._vcjobs.discard((namespace, job_id))
        else:
            adapter.call("delete job", adapter.batch().delete_namespaced_job, job_id,
                         namespace, propagation_policy="Background")
            adapter.forget("job", namespace, job_id)
        if adapter.created_here("resourceclaimtemplate", namespace, job_id):
            adapter.delete_object("resourceclaimtemplate", namespace, job_id)
        if adapter.created_here("service", namespace, job_id):
            with contextlib.suppress(Refused):
                adapter.call("delete service", adapter.core().delete_namespaced_service,
                             job_id, namespace)
            adapter.forget("service", namespace, job_id)

    def wait(self, job_id: str, until: Collection[str] = TERMINAL_JOB_STATUSES,
             timeout: float = 120.0) -> Job:
        return wait_for_status(lambda: self.get(job_id), until, timeout, f"job {job_id}",
                               first=0.2)

    # reading a Job back --------------------------------------------------------------------------

    def _pods(self, job_id: str, vcjob: bool | None = None) -> list[Any]:
        """The pods of a batch Job (``job-name``), or of a Volcano Job (``volcano.sh/job-name``);
        either (None): those of the job the run created, else the batch Job's, else the
        Volcano Job's."""
        adapter = self.subject
        if vcjob is None:
            if (adapter.namespace, job_id) in adapter._root._vcjobs:
                return self._pods(job_id, True)
            found = self._pods(job_id, False)
            return found or (self._pods(job_id, True) if adapter.serves("vcjob") else [])
        key = volcano.JOB_NAME if vcjob else "job-name"
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod, adapter.namespace,
                            label_selector=f"{key}={job_id}").items
        return [p for p in pods if (p.metadata.labels or {}).get(key) == job_id]

    def _cards_of(self, pods: list[Any]) -> dict[str, list[Any]]:
        """Pod name → the indices of the cards it holds on its node (read only when a pod
        requests cards)."""
        claiming = [p for p in pods if p.spec is not None and p.spec.resource_claims]
        wanted = claiming or any(vendor_of(k, self.subject.config.vendor_resources)
                                 for p in pods for c in (p.spec.containers if p.spec else [])
                                 for k in ((c.resources.limits or {}) if c.resources else {}))
        if not wanted:
            return {}
        held: dict[str, list[Any]] = {}
        where: dict[tuple[str, str, str], Any] = {}  # DRA device → its card's index
        for node in KubeCompute(self.subject._root).nodes(finished=True):
            for card in node["accelerators"]:
                device = card.get("device")  # type: ignore[typeddict-item]
                if isinstance(device, Mapping):
                    where[(str(device["driver"]), str(device["pool"]),
                           str(device["device"]))] = card["index"]
                    continue
                for pod in card.get("pods") or []:  # type: ignore[typeddict-item, attr-defined]
                    held.setdefault(str(pod), []).append(card["index"])
        # A pod's DRA cards: the devices its own claims were allocated (the pod's
        # status.resourceClaimStatuses names them), as the inventory numbers them.
        for pod in claiming:
            held[pod.metadata.name] = [where[k] for k in pod_devices(self.subject._root, pod)
                                       if k in where]
        return held

    @staticmethod
    def _rank(pod: Any) -> int:
        annotations = pod.metadata.annotations or {}
        return int(annotations.get(INDEX_ANNOTATION) or annotations.get(volcano.TASK_INDEX)
                   or "0")

    def _workers(self, pods: list[Any]) -> list[Worker]:
        """Each pod as a worker: rank, status, node, the cards it holds, exit code."""
        workers: list[Worker] = []
        pods = sorted(pods, key=self._rank)
        held = self._cards_of(pods)
        for pod in pods:
            code = None
            for container in (pod.status.container_statuses or []) if pod.status else []:
                if container.state and container.state.terminated:
                    code = container.state.terminated.exit_code
            workers.append({"rank": self._rank(pod),
                            "status": POD_STATUS.get(pod.status.phase if pod.status else "",
                                                      "pending"),
                            "node_id": pod.spec.node_name if pod.spec else None,
                            "accelerators": held.get(pod.metadata.name, []),
                            "exit_code": code})
        return workers

    def _answer(self, job: Any) -> Job:
        spec, state = job.spec, job.status
        labels = dict(job.metadata.labels or {})
        conditions = {c.type: c.status for c in (state.conditions or [])} if state else {}
        workers = self._workers(self._pods(job.metadata.name, vcjob=False))
        if conditions.get("Complete") == "True":
            status = "succeeded"
        elif conditions.get("Failed") == "True":
            status = "failed"
        elif spec.suspend:
            # A job the run stopped is stopped; a suspended one a queue (Kueue) has not
            # admitted yet is pending.
            stopped = (job.metadata.annotations or {}).get(STOPPED) == "true"
            status = "stopped" if stopped or QUEUE_LABEL not in labels else "pending"
        elif any(w["status"] == "running" for w in workers):
            # ``status.active`` counts pods not yet scheduled too: running is what runs.
            status = "running"
        else:
            status = "pending"
        container = spec.template.spec.containers[0]
        limits = (container.resources.limits or {}) if container.resources else {}
        return {
            "id": job.metadata.name, "name": job.metadata.name,
            "tenant_id": job.metadata.namespace, "image": container.image,
            "command": list(container.command or []), "status": status,
            "exit_code": 0 if status == "succeeded" else next(
                (w["exit_code"] for w in workers if w["exit_code"]), None),
            "workers": workers, "world_size": spec.completions or 1,
            "resources": self._resources(limits, job.metadata.annotations),
            "created_at": str(job.metadata.creation_timestamp or ""),
            "started_at": str(state.start_time) if state and state.start_time else None,
            "finished_at": str(state.completion_time) if state and state.completion_time
            else None,
            "labels": labels, "simulated": False,
            **({"queue": labels[QUEUE_LABEL]} if QUEUE_LABEL in labels else {}),
        }

    def _resources(self, limits: Mapping[str, Any],
                   annotations: Mapping[str, str] | None) -> Resources:
        """What each worker asked for: CPU, memory, cards (requested or claimed), a share."""
        cards = sum(int(_quantity(v)) for k, v in limits.items()
                    if vendor_of(k, self.subject.config.vendor_resources))
        cards += int((annotations or {}).get(CLAIMED_CARDS) or 0)
        wanted: Resources = {"cpu": _quantity(limits.get("cpu")),  # type: ignore[typeddict-item]
                             "memory_gib": round(_quantity(limits.get("memory")) / 2**30, 3),
                             "accelerators": cards}
        if HAMI_CORES in limits:
            wanted["accelerator_share"] = _quantity(limits[HAMI_CORES]) / 100
        return wanted

    def _answer_vcjob(self, job: dict[str, Any]) -> Job:
        """A Volcano Job as a job: its phase (:func:`.volcano.status_of`), its pods as workers,
        its queue."""
        meta, spec = job["metadata"], job.get("spec") or {}
        tasks = spec.get("tasks") or [{}]
        template = (tasks[0].get("template") or {}).get("spec") or {}
        container = (template.get("containers") or [{}])[0]
        limits = (container.get("resources") or {}).get("limits") or {}
        workers = self._workers(self._pods(meta["name"], vcjob=True))
        status = volcano.status_of(job, any(w["status"] == "running" for w in workers))
        labels = dict(meta.get("labels") or {})
        return {
            "id": meta["name"], "name": meta["name"], "tenant_id": meta.get("namespace", ""),
            "image": str(container.get("image", "")),
            "command": list(container.get("command") or []), "status": status,
            "exit_code": 0 if status == "succeeded" else next(
                (w["exit_code"] for w in workers if w["exit_code"]), None),
            "workers": workers,
            "world_size": sum(int(t.get("replicas") or 1) for t in tasks),
            "resources": self._resources(limits, meta.get("annotations")),
            "created_at": str(meta.get("creationTimestamp") or ""),
            "started_at": volcano.phase_time(job, "Running"),
            "finished_at": volcano.phase_time(job, "Completed", "Failed", "Terminated")
            if status in TERMINAL_JOB_STATUSES else None,
            "labels": labels, "simulated": False,
            **({"queue": str(spec["queue"])} if spec.get("queue") else {}),
        }

