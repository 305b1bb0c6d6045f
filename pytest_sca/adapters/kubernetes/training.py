"""``training``: distributed training the platform relaunches after a failure, through
whichever of the upstream components the cluster serves (discovered from its API groups):

- Kubeflow Trainer v2 ``TrainJob`` (``trainer.kubeflow.org``), run by the
  ``ClusterTrainingRuntime`` named in the target file (``training_runtime``); the trainer
  materialises it as a JobSet of the same name
  (https://www.kubeflow.org/docs/components/trainer/overview/);
- the Training Operator's ``PyTorchJob`` (``kubeflow.org/v1``), elastic through
  ``spec.elasticPolicy`` (https://www.kubeflow.org/docs/components/trainer/legacy-v1/);
- ``JobSet`` (``jobset.x-k8s.io``), relaunched by ``spec.failurePolicy.maxRestarts``
  (https://jobset.sigs.k8s.io/docs/concepts/).

Attempts are read from the pods: JobSet labels each pod with its restart attempt
(``jobset.sigs.k8s.io/restart-attempt``); an attempt's ``job_id`` is the pod of its rank 0,
whose logs :meth:`KubeJobs.logs` reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    TRAINING_FINISHED,
    Labels,
    Refused,
    Resources,
    TrainingAttempt,
    TrainingJob,
    wait_for_status,
)

from .adapter import KubernetesAdapter
from .jobs import container_spec
from .resources import INDEX_ANNOTATION, dns_name

#: The pod labels each component puts on the pods of a training job of that name.
POD_SELECTORS = {
    "trainjob": "jobset.sigs.k8s.io/jobset-name",
    "jobset": "jobset.sigs.k8s.io/jobset-name",
    "pytorchjob": "training.kubeflow.org/job-name",
}
RESTART_ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"
REPLICA_INDEX = "training.kubeflow.org/replica-index"
CHECKPOINT_MOUNT = "/sca-checkpoint"


class KubeTraining(Facade[KubernetesAdapter]):
    """Training jobs as TrainJobs, PyTorchJobs or JobSets
    (:class:`~pytest_sca.capabilities.Training`)."""

    def _kind(self) -> str:
        # JobSet first: its failurePolicy is the relaunch limit a check asks for; a TrainJob
        # takes it from its runtime.
        spec = self.subject.require("jobset", "trainjob", "pytorchjob",
                                    what="distributed training with relaunch")
        return next(k for k in POD_SELECTORS if _same(k, spec))

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int, min_workers: int | None = None, max_restarts: int = 0,
               checkpoint: bool = False, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> TrainingJob:
        adapter = self.subject
        kind = self._kind()
        namespace = adapter.ensure_namespace()
        job_name = dns_name(name, limit=40)
        variables = dict(env or {})
        volumes: list[dict[str, Any]] = []
        if checkpoint:
            claim = self._checkpoint_claim(namespace, job_name)
            variables["SCA_CHECKPOINT_URI"] = f"file://{CHECKPOINT_MOUNT}"
            volumes = [{"name": "checkpoint", "persistentVolumeClaim": {"claimName": claim}}]
        container = container_spec(adapter, image, command, resources, variables)
        if volumes:
            container["volumeMounts"] = [{"name": "checkpoint", "mountPath": CHECKPOINT_MOUNT}]
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container],
                                    "volumes": volumes}
        metadata = {"name": job_name, "labels": dict(labels or {})}
        body: dict[str, Any]
        if kind == "jobset":
            body = {"metadata": metadata, "spec": {
                "failurePolicy": {"maxRestarts": max_restarts},
                "network": {"enableDNSHostnames": True},
                "replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
                    "completions": workers, "parallelism": workers, "backoffLimit": 0,
                    "completionMode": "Indexed",
                    "template": {"metadata": {"labels": dict(labels or {})},
                                 "spec": pod_spec}}}}]}}
        elif kind == "trainjob":
            body = {"metadata": metadata, "spec": {
                "runtimeRef": {"apiGroup": "trainer.kubeflow.org",
                               "kind": "ClusterTrainingRuntime",
                               "name": adapter.config.training_runtime},
                "trainer": {"image": image, "command": container["command"],
                            "numNodes": workers,
                            "resourcesPerNode": container["resources"],
                            "env": container["env"]}}}
            if volumes:
                body["spec"]["podTemplateOverrides"] = [{
                    "targetJobs": [{"name": "node"}],
                    "spec": {"volumes": volumes,
                             "containers": [{"name": "node",
                                             "volumeMounts": container["volumeMounts"]}]}}]
        else:
            replica = {"restartPolicy": "OnFailure",
                       "template": {"spec": {**pod_spec,
                                             "containers": [{**container, "name": "pytorch"}]}}}
            replicas: dict[str, Any] = {"Master": {**replica, "replicas": 1}}
            if workers > 1:
                replicas["Worker"] = {**replica, "replicas": workers - 1}
            spec: dict[str, Any] = {"pytorchReplicaSpecs": replicas,
                                    "runPolicy": {"backoffLimit": max_restarts}}
            if min_workers is not None and min_workers < workers:
                spec["elasticPolicy"] = {"minReplicas": min_workers, "maxReplicas": workers,
                                         "maxRestarts": max_restarts, "rdzvBackend": "c10d"}
            body = {"metadata": metadata, "spec": spec}
        adapter.create_object(kind, namespace, body)
        return self.get(job_name)

    def _checkpoint_claim(self, namespace: str, job_name: str) -> str:
        """A PersistentVolumeClaim every attempt mounts (ReadWriteMany: workers of several
        nodes share it)."""
        adapter = self.subject
        name = f"{job_name}-ckpt"
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "labels": {"sca-run": adapter.context.run_id}},
            "spec": {"accessModes": ["ReadWriteMany"],
                     "resources": {"requests": {"storage": "1Gi"}}}}
        if adapter.config.storage_class:
            body["spec"]["storageClassName"] = adapter.config.storage_class
        adapter.call("create claim", adapter.core().create_namespaced_persistent_volume_claim,
                     namespace, body)
        adapter.remember("persistentvolumeclaim", namespace, name)
        return name

    def get(self, training_id: str) -> TrainingJob:
        adapter = self.subject
        kind = self._kind()
        found = adapter.get_object(kind, adapter.namespace, training_id)
        return self._answer(kind, found)

    def delete(self, training_id: str) -> None:
        adapter = self.subject
        adapter.delete_object(self._kind(), adapter.namespace, training_id)

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> TrainingJob:
        # Read often: an attempt's pods live only until the relaunch.
        return wait_for_status(lambda: self.get(training_id), until, timeout,
                               f"training job {training_id}", first=0.2, longest=0.5)

    # reading one back ---------------------------------------------------------------------

    def _pods(self, kind: str, name: str) -> list[Any]:
        adapter = self.subject
        key = POD_SELECTORS[kind]
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod, adapter.namespace,
                            label_selector=f"{key}={name}").items
        return [p for p in pods if (p.metadata.labels or {}).get(key) == name]

    def _answer(self, kind: str, found: dict[str, Any]) -> TrainingJob:
        meta, spec = found.get("metadata", {}), found.get("spec", {})
        state = found.get("status") or {}
        name = meta["name"]
        conditions = {c.get("type"): c.get("status") for c in state.get("conditions") or []}
        if conditions.get("Completed") == "True" or conditions.get("Complete") == "True" \
                or conditions.get("Succeeded") == "True":
            status = "succeeded"
        elif conditions.get("Failed") == "True":
            status = "failed"
        elif conditions.get("Suspended") == "True":
            status = "stopped"
        elif conditions.get("Running") == "True" or state.get("replicatedJobsStatus") \
                or conditions.get("Restarting") == "True":
            status = "running"
        else:
            status = "pending"
        attempts = self._attempts(kind, name)
        if kind == "pytorchjob":
            replicas = spec.get("pytorchReplicaSpecs", {})
            world = sum(int(r.get("replicas", 1)) for r in replicas.values())
            elastic = spec.get("elasticPolicy") or {}
            low, high = elastic.get("minReplicas", world), elastic.get("maxReplicas", world)
            restarts = int(spec.get("runPolicy", {}).get("backoffLimit", 0))
        elif kind == "trainjob":
            world = int(spec.get("trainer", {}).get("numNodes", 1))
            low = high = world
            restarts = len(attempts) - 1 if attempts else 0
        else:
            job = spec["replicatedJobs"][0]["template"]["spec"]
            world = int(job.get("completions") or 1)
            low = high = world
            restarts = int(state.get("restarts", 0))
        checkpoint = None
        container = _first_container(kind, spec)
        for variable in container.get("env") or []:
            if variable.get("name") == "SCA_CHECKPOINT_URI":
                checkpoint = variable.get("value")
        return {"id": name, "name": name, "status": status, "min_workers": low,
                "max_workers": high, "world_size": attempts[-1]["world_size"] if attempts
                else world, "restarts": max(restarts, len(attempts) - 1, 0),
                "checkpoint_uri": checkpoint, "attempts": attempts,
                "labels": dict(meta.get("labels") or {})}

    def _attempts(self, kind: str, name: str) -> list[TrainingAttempt]:
        """Attempts seen so far: a relaunch deletes the pods of the attempt before (JobSet
        recreates its Jobs), so the adapter remembers each attempt it saw and keeps the logs
        of its finished pods, as a cluster's log collector would."""
        adapter = self.subject
        seen = adapter._root._attempts_seen.setdefault(name, {})
        for attempt in self._current_attempts(kind, name):
            seen[attempt["attempt"]] = attempt
        return [seen[number] for number in sorted(seen)]

    def _current_attempts(self, kind: str, name: str) -> list[TrainingAttempt]:
        adapter = self.subject
        by_attempt: dict[int, list[Any]] = {}
        for pod in self._pods(kind, name):
            labels = pod.metadata.labels or {}
            number = int(labels.get(RESTART_ATTEMPT, "0") or 0)
            by_attempt.setdefault(number, []).append(pod)
        attempts: list[TrainingAttempt] = []
        for number in sorted(by_attempt):
            pods = sorted(by_attempt[number], key=_rank)
            phases = {p.status.phase if p.status else "Pending" for p in pods}
            status = ("failed" if "Failed" in phases else "succeeded"
                      if phases == {"Succeeded"} else "running" if "Running" in phases
                      else "pending")
            for pod in pods:
                if pod.status is not None and pod.status.phase in ("Succeeded", "Failed") \
                        and pod.metadata.name not in adapter._root._pod_logs:
                    with contextlib.suppress(Refused):
                        adapter._root._pod_logs[pod.metadata.name] = str(adapter.call(
                            "pod logs", adapter.core().read_namespaced_pod_log,
                            pod.metadata.name, adapter.namespace))
            attempts.append({"attempt": number, "job_id": pods[0].metadata.name,
                             "world_size": len(pods), "status": status})
        return attempts


def _rank(pod: Any) -> int:
    annotations = pod.metadata.annotations or {}
    labels = pod.metadata.labels or {}
    return int(annotations.get(INDEX_ANNOTATION) or labels.get(REPLICA_INDEX) or 0)


def _first_container(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    try:
        if kind == "pytorchjob":
            replica = spec["pytorchReplicaSpecs"]["Master"]
            return dict(replica["template"]["spec"]["containers"][0])
        if kind == "trainjob":
            return dict(spec.get("trainer") or {})
        job = spec["replicatedJobs"][0]["template"]["spec"]
        return dict(job["template"]["spec"]["containers"][0])
    except (KeyError, IndexError, TypeError):
        return {}


def _same(kind: str, spec: Any) -> bool:
    from .resources import KINDS

    return KINDS[kind] == spec

