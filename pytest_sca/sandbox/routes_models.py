"""API routes of the model services: models, files, deployments, fine-tuning, model usage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, timestamp
from pytest_sca.sandbox.errors import not_found
from pytest_sca.sandbox.modelhub import DEFAULT_RESOURCES
from pytest_sca.sandbox.models import Labels, Name
from pytest_sca.sandbox.schemas import ERRORS, Items, Open, documented
from pytest_sca.sandbox.store import Document

ModelKind = Literal["llm", "image"]


class ModelImport(BaseModel):
    """POST /models/import: an artefact in object storage."""

    name: Name
    source: Annotated[str, Field(min_length=1, max_length=1024)]
    kind: ModelKind = "llm"
    format: Annotated[str, Field(max_length=64)] = "sca-tinylm/1"
    license: Annotated[str | None, Field(max_length=128)] = None
    labels: Labels = Field(default_factory=dict)


class ModelUpdate(BaseModel):
    """PATCH /models/{id}: metadata only."""

    name: Name | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    license: Annotated[str | None, Field(max_length=128)] = None
    labels: Labels | None = None


class FileUpload(BaseModel):
    """POST /files: a small file as text or base64."""

    filename: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")]
    purpose: Literal["fine-tune", "model", "workflow-input", "other"] = "fine-tune"
    content: Annotated[str, Field(max_length=7_000_000)]
    encoding: Literal["text", "base64"] = "text"
    labels: Labels = Field(default_factory=dict)


class Resources(BaseModel):
    """What each replica of a deployment asks for."""

    cpu: Annotated[float, Field(ge=0, le=256)] = DEFAULT_RESOURCES["cpu"]
    memory_gib: Annotated[float, Field(ge=0, le=2048)] = DEFAULT_RESOURCES["memory_gib"]
    accelerators: Annotated[int, Field(ge=0, le=16)] = int(DEFAULT_RESOURCES["accelerators"])


class DeploymentCreate(BaseModel):
    """POST /deployments."""

    name: Name
    model: Annotated[str, Field(min_length=1, max_length=200)]
    replicas: Annotated[int, Field(ge=1, le=16)] = 1
    resources: Resources = Field(default_factory=Resources)
    labels: Labels = Field(default_factory=dict)


class Scale(BaseModel):
    """POST /deployments/{id}/scale."""

    replicas: Annotated[int, Field(ge=0, le=16)]


class FineTuneCreate(BaseModel):
    """POST /fine-tunes."""

    base_model: Annotated[str, Field(min_length=1, max_length=200)]
    training_file: Annotated[str, Field(min_length=1, max_length=64)]
    suffix: Annotated[str | None, Field(pattern=r"^[a-z0-9-]{1,40}$")] = None
    steps: Annotated[int, Field(ge=1, le=200)] = 30
    labels: Labels = Field(default_factory=dict)


class ModelOut(Open):
    """A model."""

    id: str
    name: str
    kind: str
    preset: bool
    status: str
    created_at: str


class ArtefactFileOut(Open):
    """One file of a model's artefact."""

    path: str
    bytes: int


class FileOut(Open):
    """An uploaded file."""

    id: str
    filename: str
    bytes: int
    uri: str


class DeploymentOut(Open):
    """A deployed model service."""

    id: str
    name: str
    model: str
    replicas: int
    ready_replicas: int
    status: str
    endpoint: str


class ReplicaOut(Open):
    """One replica of a deployment, as its model server was started."""

    id: str
    node_id: str | None
    ready: bool
    resources: dict[str, float]


class FineTuneOut(Open):
    """A fine-tuning job."""

    id: str
    base_model: str
    status: str
    fine_tuned_model: str | None = None


class UsageOut(Open):
    """Model usage records and their totals."""

    items: list[dict[str, Any]]
    summary: dict[str, int]


def _served(doc: Document, request: Request) -> Document:
    """A deployment with its endpoint on the address this request reached (ports change
    across restarts, so the endpoint is never stored)."""
    return {**doc, "endpoint": f"{request.base_url}deployments/{doc['id']}/v1"}


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    hub = platform.modelhub

    # models ------------------------------------------------------------------------------

    @routes.get(f"{API}/models", name="model.list", **documented(Items[ModelOut]))
    def list_models(who: Caller) -> dict[str, Any]:
        return {"items": hub.list_models(who)}

    @routes.post(f"{API}/models/import", name="model.import", **documented(ModelOut, 201))
    def import_model(body: ModelImport, who: Caller, request: Request) -> Document:
        model = hub.import_model(who, body.name, body.source, body.kind, body.format,
                                 body.license, body.labels)
        audit_resource(request, f"models/{model['id']}")
        return model

    @routes.get(f"{API}/models/{{model_id}}", name="model.get", **documented(ModelOut))
    def get_model(model_id: str, who: Caller) -> Document:
        return hub.model(who, model_id)

    @routes.get(f"{API}/models/{{model_id}}/files", name="model.files",
                **documented(Items[ArtefactFileOut]))
    def list_artefact_files(model_id: str, who: Caller) -> dict[str, Any]:
        files = hub.artefact_files(who, model_id)
        return {"items": [{"path": path, "bytes": len(data)} for path, data in files.items()]}

    @routes.get(f"{API}/models/{{model_id}}/files/{{path:path}}", name="model.file",
                response_class=Response, responses={200: {
                    "description": "the file's bytes",
                    "content": {"application/json": {}, "application/octet-stream": {}}},
                    **ERRORS})
    def get_artefact_file(model_id: str, path: str, who: Caller) -> Response:
        files = hub.artefact_files(who, model_id)
        if path not in files:
            raise not_found(f"file {path} of model {model_id}")
        kind = "application/json" if path.endswith(".json") else "application/octet-stream"
        return Response(content=files[path], media_type=kind)

    @routes.patch(f"{API}/models/{{model_id}}", name="model.update", **documented(ModelOut))
    def update_model(model_id: str, body: ModelUpdate, who: Caller) -> Document:
        return hub.update_model(who, model_id, body.model_dump(exclude_none=True))

    @routes.delete(f"{API}/models/{{model_id}}", name="model.delete", **documented(None, 204))
    def delete_model(model_id: str, who: Caller) -> Response:
        hub.delete_model(who, model_id)
        return Response(status_code=204)

    # files ---------------------------------------------------------------------------------

    @routes.post(f"{API}/files", name="file.create", **documented(FileOut, 201))
    def upload_file(body: FileUpload, who: Caller, request: Request) -> Document:
        doc = hub.upload_file(who, body.filename, body.purpose, body.content, body.encoding,
                              body.labels)
        audit_resource(request, f"files/{doc['id']}")
        return doc

    @routes.get(f"{API}/files", name="file.list", **documented(Items[FileOut]))
    def list_files(who: Caller) -> dict[str, Any]:
        return {"items": hub.list_files(who)}

    @routes.get(f"{API}/files/{{file_id}}", name="file.get", **documented(FileOut))
    def get_file(file_id: str, who: Caller) -> Document:
        return hub.file(who, file_id)

    @routes.delete(f"{API}/files/{{file_id}}", name="file.delete", **documented(None, 204))
    def delete_file(file_id: str, who: Caller) -> Response:
        hub.delete_file(who, file_id)
        return Response(status_code=204)

    # deployments -------------------------------------------------------------------------

    @routes.get(f"{API}/deployments", name="deployment.list",
                **documented(Items[DeploymentOut]))
    def list_deployments(who: Caller, request: Request) -> dict[str, Any]:
        return {"items": [_served(d, request) for d in hub.list_deployments(who)]}

    @routes.post(f"{API}/deployments", name="deployment.create",
                 **documented(DeploymentOut, 201))
    def deploy(body: DeploymentCreate, who: Caller, request: Request) -> Document:
        doc = hub.deploy(who, body.name, body.model, body.replicas, body.resources.model_dump(),
                         body.labels)
        audit_resource(request, f"deployments/{doc['id']}")
        return _served(doc, request)

    @routes.get(f"{API}/deployments/{{deployment_id}}", name="deployment.get",
                **documented(DeploymentOut))
    def get_deployment(deployment_id: str, who: Caller, request: Request) -> Document:
        return _served(hub.deployment(who, deployment_id), request)

    @routes.get(f"{API}/deployments/{{deployment_id}}/replicas", name="deployment.replicas",
                **documented(Items[ReplicaOut]))
    def replicas(deployment_id: str, who: Caller) -> dict[str, Any]:
        return {"items": hub.replicas(who, deployment_id)}

    @routes.post(f"{API}/deployments/{{deployment_id}}/scale", name="deployment.scale",
                 **documented(DeploymentOut))
    def scale(deployment_id: str, body: Scale, who: Caller, request: Request) -> Document:
        return _served(hub.scale(who, deployment_id, body.replicas), request)

    @routes.post(f"{API}/deployments/{{deployment_id}}/stop", name="deployment.stop",
                 **documented(DeploymentOut))
    def stop(deployment_id: str, who: Caller, request: Request) -> Document:
        return _served(hub.stop(who, deployment_id), request)

    @routes.post(f"{API}/deployments/{{deployment_id}}/start", name="deployment.start",
                 **documented(DeploymentOut))
    def start(deployment_id: str, who: Caller, request: Request) -> Document:
        return _served(hub.start(who, deployment_id), request)

    @routes.delete(f"{API}/deployments/{{deployment_id}}", name="deployment.delete",
                   **documented(None, 204))
    def delete_deployment(deployment_id: str, who: Caller) -> Response:
        hub.delete_deployment(who, deployment_id)
        return Response(status_code=204)

    # fine-tuning --------------------------------------------------------------------------

    @routes.post(f"{API}/fine-tunes", name="finetune.create", **documented(FineTuneOut, 201))
    def create_finetune(body: FineTuneCreate, who: Caller, request: Request) -> Document:
        doc = hub.create_finetune(who, body.base_model, body.training_file, body.suffix,
                                  body.steps, body.labels)
        audit_resource(request, f"fine-tunes/{doc['id']}")
        return doc

    @routes.get(f"{API}/fine-tunes", name="finetune.list", **documented(Items[FineTuneOut]))
    def list_finetunes(who: Caller) -> dict[str, Any]:
        return {"items": hub.list_finetunes(who)}

    @routes.get(f"{API}/fine-tunes/{{job_id}}", name="finetune.get",
                **documented(FineTuneOut))
    def get_finetune(job_id: str, who: Caller) -> Document:
        return hub.finetune(who, job_id)

    @routes.get(f"{API}/fine-tunes/{{job_id}}/logs", name="finetune.logs",
                response_class=PlainTextResponse, responses=ERRORS)
    def finetune_logs(job_id: str, who: Caller) -> PlainTextResponse:
        return PlainTextResponse(hub.finetune_logs(who, job_id))

    @routes.delete(f"{API}/fine-tunes/{{job_id}}", name="finetune.delete",
                   **documented(None, 204))
    def delete_finetune(job_id: str, who: Caller) -> Response:
        hub.delete_finetune(who, job_id)
        return Response(status_code=204)

    # usage ------------------------------------------------------------------------------------

    @routes.get(f"{API}/model-usage", name="model_usage.list", **documented(UsageOut))
    def model_usage(
        who: Caller,
        user_id: Annotated[str | None, Query(max_length=64)] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Document:
        return hub.usage(who, user_id=user_id, model=model, since=timestamp(since),
                         until=timestamp(until))

    return routes


def target_capabilities(platform: SandboxPlatform) -> dict[str, Any]:
    """What the sandbox declares about its model services: a deployment serves within a
    second, the probe's fine-tuning takes seconds and usage is metered with each answer, so
    waits far longer than that only slow a run down (real platforms default to 60 s, 300 s
    and 60 s)."""
    return {"services": {"ready_timeout_s": 10}, "finetune": {"timeout_s": 120},
            "usage": {"max_delay_s": 5}}
