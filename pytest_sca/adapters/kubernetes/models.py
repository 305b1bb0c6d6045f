"""``models`` and ``model_services`` through KServe (``serving.kserve.io``).

A model is an ``InferenceService`` (https://kserve.github.io/website/latest/reference/api/):
its predictor names the model format and the ``storageUri`` of the artefact. Preset models
are the InferenceServices the platform runs (not created by this run); what KServe does not
model — parameter count, context length, licence, description — is read from annotations
``models.sca.evaluation/<field>`` the operator sets (a platform that states none fails 8.1.b,
truthfully). Importing a model creates an InferenceService of the artefact; deploying one
creates another with the model's predictor and ``minReplicas = maxReplicas = replicas``;
``stop`` sets KServe's ``serving.kserve.io/stop`` annotation (KServe 0.15), which scales
it to zero. The OpenAI-compatible endpoint is ``status.url`` + ``/openai/v1`` (KServe's
Hugging Face runtime).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    RUN_LABEL,
    ArtefactFile,
    Deployment,
    Labels,
    Model,
    Resources,
    ServiceReplica,
    StoredFile,
    Unsupported,
    wait_for_status,
)

from .adapter import KubernetesAdapter

if TYPE_CHECKING:
    from typing_extensions import Self
from .resources import dns_name, vendor_of

INFO_PREFIX = "models.sca.evaluation/"
STOP_ANNOTATION = "serving.kserve.io/stop"
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"
OPENAI_PATH = "/openai/v1"
#: Why the Kubernetes API reads no model files: KServe keeps only the artefact's URI.
NO_ARTEFACT_ACCESS = ("KServe keeps a model's storageUri, not its files: the Kubernetes API "
                      "reads no config.json or weights of a model")
#: The container of a predictor pod that runs the model server (KServe's name for it).
SERVER_CONTAINER = "kserve-container"


def _split(model_id: str, default_namespace: str) -> tuple[str, str]:
    namespace, _, name = model_id.rpartition("/")
    return (namespace or default_namespace), name


class KubeModels(Facade[KubernetesAdapter]):
    """Models as KServe InferenceServices (:class:`~pytest_sca.capabilities.Models`)."""

    @property
    def has_other_tenant(self) -> bool:
        """Kubernetes creates its own users: a second principal comes from ``tenancy``."""
        return False

    def as_other_tenant(self) -> Self:
        raise Unsupported("the kubernetes adapter names no second principal: create one with "
                          "tenancy (probe_tenant) and act as its token (acting_as)")

    def list_models(self) -> list[Model]:
        adapter = self.subject
        adapter.require("inferenceservice", what="models (KServe)")
        return [self._model(item) for item in adapter.list_objects("inferenceservice", None)]

    def get_model(self, model_id: str) -> Model:
        adapter = self.subject
        adapter.require("inferenceservice", what="models (KServe)")
        namespace, name = _split(model_id, adapter.namespace)
        return self._model(adapter.get_object("inferenceservice", namespace, name))

    def artefact_files(self, model_id: str) -> list[ArtefactFile]:
        raise Unsupported(NO_ARTEFACT_ACCESS)

    def artefact_text(self, model_id: str, path: str) -> str:
        raise Unsupported(NO_ARTEFACT_ACCESS)

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        raise Unsupported(
            "KServe reads model artefacts from storage it does not manage: declare "
            "capabilities.models.import.source (an s3:// or pvc:// URI of the artefact)")

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Labels | None = None) -> Model:
        adapter = self.subject
        adapter.require("inferenceservice", what="importing models (KServe)")
        namespace = adapter.ensure_namespace()
        annotations = {f"{INFO_PREFIX}kind": kind}
        if license:
            annotations[f"{INFO_PREFIX}license"] = license
        predictor = _predictor(adapter, format or adapter.config.model_format, source, None,
                               replicas=0)
        created = adapter.create_object("inferenceservice", namespace, {
            "metadata": {"name": dns_name(name, limit=45), "labels": dict(labels or {}),
                         "annotations": annotations},
            "spec": {"predictor": predictor}})
        return self._model(created)

    def update_model(self, model_id: str, **changes: Any) -> Model:
        adapter = self.subject
        namespace, name = _split(model_id, adapter.namespace)
        patch: dict[str, Any] = {"metadata": {}}
        annotations = {f"{INFO_PREFIX}{k}": str(v) for k, v in changes.items()
                       if k in ("description", "license") and v is not None}
        if "name" in changes:
            annotations[f"{INFO_PREFIX}display-name"] = str(changes["name"])
        if annotations:
            patch["metadata"]["annotations"] = annotations
        if changes.get("labels"):
            patch["metadata"]["labels"] = dict(changes["labels"])
        return self._model(adapter.patch_object("inferenceservice", namespace, name, patch))

    def delete_model(self, model_id: str) -> None:
        adapter = self.subject
        namespace, name = _split(model_id, adapter.namespace)
        adapter.call(f"delete inferenceservice {name}",
                     adapter.custom().delete_namespaced_custom_object, "serving.kserve.io",
                     "v1beta1", namespace, "inferenceservices", name)
        adapter.forget("inferenceservice", namespace, name)

    def _model(self, item: dict[str, Any]) -> Model:
        meta = item.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        labels = dict(meta.get("labels") or {})
        predictor = (item.get("spec") or {}).get("predictor") or {}
        model = predictor.get("model") or {}
        info = {k.removeprefix(INFO_PREFIX): v for k, v in annotations.items()
                if k.startswith(INFO_PREFIX)}
        namespace = meta.get("namespace") or ""
        ours = labels.get(RUN_LABEL) == self.subject.context.run_id
        answer: Model = {
            "id": meta.get("name", "") if namespace == self.subject.namespace
            else f"{namespace}/{meta.get('name', '')}",
            "name": info.get("display-name") or meta.get("name", ""),
            "kind": info.get("kind", "llm"), "preset": not ours and RUN_LABEL not in labels,
            "status": _ready(item), "format": (model.get("modelFormat") or {}).get("name"),
            "source": model.get("storageUri", ""), "labels": labels,
            "license": info.get("license"), "description": info.get("description", ""),
            "created_at": str(meta.get("creationTimestamp") or "")}
        for field in ("parameters", "context_length"):
            key = field.replace("_", "-")
            if key in info and info[key].isdigit():
                answer[field] = int(info[key])  # type: ignore[literal-required]
        return answer


class KubeModelServices(Facade[KubernetesAdapter]):
    """Deployments of models as InferenceServices
    (:class:`~pytest_sca.capabilities.ModelServices`)."""

    def deploy(self, name: str, model: str, *, replicas: int = 1,
               resources: Resources | None = None,
               labels: Labels | None = None) -> Deployment:
        adapter = self.subject
        adapter.require("inferenceservice", what="model services (KServe)")
        namespace = adapter.ensure_namespace()
        source_namespace, source_name = _split(model, namespace)
        source = adapter.get_object("inferenceservice", source_namespace, source_name)
        base = ((source.get("spec") or {}).get("predictor") or {}).get("model") or {}
        predictor = _predictor(adapter, (base.get("modelFormat") or {}).get("name")
                               or adapter.config.model_format, base.get("storageUri", ""),
                               resources, replicas=replicas)
        created = adapter.create_object("inferenceservice", namespace, {
            "metadata": {"name": dns_name(name, limit=45),
                         "labels": {**(labels or {}), "sca-model": source_name},
                         "annotations": {f"{INFO_PREFIX}model": model}},
            "spec": {"predictor": predictor}})
        return self._deployment(created)

    def get(self, deployment_id: str) -> Deployment:
        adapter = self.subject
        return self._deployment(adapter.get_object("inferenceservice", adapter.namespace,
                                                   deployment_id))

    def scale(self, deployment_id: str, replicas: int) -> Deployment:
        adapter = self.subject
        return self._deployment(adapter.patch_object(
            "inferenceservice", adapter.namespace, deployment_id,
            {"spec": {"predictor": {"minReplicas": replicas, "maxReplicas": replicas}}}))

    def stop(self, deployment_id: str) -> Deployment:
        adapter = self.subject
        return self._deployment(adapter.patch_object(
            "inferenceservice", adapter.namespace, deployment_id,
            {"metadata": {"annotations": {STOP_ANNOTATION: "true"}}}))

    def delete(self, deployment_id: str) -> None:
        KubeModels(self.subject).delete_model(deployment_id)

    def replicas(self, deployment_id: str) -> list[ServiceReplica]:
        """The InferenceService's predictor pods: node, readiness, and what the model
        server's container requests (KServe's ``kserve-container``, else the pod's first);
        a device plugin does not say which cards a pod holds, so ``cards`` is absent."""
        adapter = self.subject
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod, adapter.namespace,
                            label_selector=f"{ISVC_POD_LABEL}={deployment_id}").items
        replicas: list[ServiceReplica] = []
        for pod in pods:
            if (pod.metadata.labels or {}).get(ISVC_POD_LABEL) != deployment_id \
                    or pod.metadata.deletion_timestamp is not None:
                continue
            containers = list(pod.spec.containers or []) if pod.spec is not None else []
            server = next((c for c in containers if c.name == SERVER_CONTAINER),
                          containers[0] if containers else None)
            wanted = server.resources if server is not None else None
            replicas.append({
                "id": pod.metadata.name,
                "node_id": pod.spec.node_name if pod.spec is not None else None,
                "ready": pod.status is not None and any(
                    c.type == "Ready" and c.status == "True"
                    for c in pod.status.conditions or []),
                # No requests or limits in the pod spec (admission filled in none): the pod
                # is given nothing (BestEffort).
                "resources": _resources_of(
                    {"model": {"resources": {"limits": dict(wanted.limits or {}),
                                             "requests": dict(wanted.requests or {})}}}
                    if wanted is not None else {}, adapter.config.vendor_resources)
                or {"cpu": 0.0, "memory_gib": 0.0, "accelerators": 0}})
        return replicas

    def wait(self, deployment_id: str, until: Collection[str] = ("running", "failed"),
             timeout: float = 60.0) -> Deployment:
        return wait_for_status(lambda: self.get(deployment_id), until, timeout,
                               f"model service {deployment_id}", first=0.2)

    def _deployment(self, item: dict[str, Any]) -> Deployment:
        adapter = self.subject
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        state = item.get("status") or {}
        annotations = dict(meta.get("annotations") or {})
        predictor = spec.get("predictor") or {}
        name = meta.get("name", "")
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod,
                            meta.get("namespace") or adapter.namespace,
                            label_selector=f"{ISVC_POD_LABEL}={name}").items
        ready_pods = sum(1 for p in pods
                         if (p.metadata.labels or {}).get(ISVC_POD_LABEL) == name
                         and p.status is not None and any(
                             c.type == "Ready" and c.status == "True"
                             for c in p.status.conditions or []))
        stopped = annotations.get(STOP_ANNOTATION) == "true"
        readiness = _ready(item)
        if stopped:
            status = "stopped" if ready_pods == 0 else "stopping"
        elif readiness == "ready":
            status = "running"
        elif readiness == "failed":
            status = "failed"
        else:
            status = "deploying"
        url = str(state.get("url") or "")
        return {"id": name, "name": name,
                "model": annotations.get(f"{INFO_PREFIX}model", name),
                "status": status, "replicas": int(predictor.get("minReplicas") or 1),
                "ready_replicas": ready_pods,
                "endpoint": f"{url.rstrip('/')}{OPENAI_PATH}" if url else "",
                "resources": _resources_of(predictor, adapter.config.vendor_resources),
                "labels": dict(meta.get("labels") or {})}


def _predictor(adapter: KubernetesAdapter, model_format: str, storage_uri: str,
               resources: Resources | None, *, replicas: int) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": model_format}, "storageUri": storage_uri}
    if adapter.config.serving_runtime:
        model["runtime"] = adapter.config.serving_runtime
    if resources:
        limits = {"cpu": f"{resources.get('cpu', 1):g}",
                  "memory": f"{resources.get('memory_gib', 1):g}Gi"}
        model["resources"] = {"requests": limits, "limits": dict(limits)}
    return {"model": model, "minReplicas": replicas, "maxReplicas": max(replicas, 1)}


def _ready(item: dict[str, Any]) -> str:
    for condition in (item.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return "ready"
            if condition.get("reason") in ("Failed", "FailedToLoad", "ModelLoadFailed"):
                return "failed"
    return "pending"



def _resources_of(predictor: dict[str, Any], extra: dict[str, str]) -> Resources:
    """What a predictor requests, in the contract's units (cards: every device-plugin
    resource of :data:`~.resources.VENDOR_RESOURCES` it asks for)."""
    resources = (predictor.get("model") or {}).get("resources") or {}
    wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    if not wanted:
        return {}
    from kubernetes.utils import parse_quantity

    return {"cpu": float(parse_quantity(str(wanted.get("cpu", 0)))),
            "memory_gib": round(float(parse_quantity(str(wanted.get("memory", 0)))) / 2**30, 3),
            "accelerators": sum(int(parse_quantity(str(v))) for k, v in wanted.items()
                                if vendor_of(k, extra))}
