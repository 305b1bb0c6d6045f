"""Workflow routes: a ComfyUI-compatible endpoint under ``/comfyui`` and the platform's
workflow applications under ``/api/v1/workflows``.

The ComfyUI routes follow ComfyUI's documented HTTP API (``POST /prompt``,
``GET /queue``, ``GET /history/{id}``, ``GET /view``, ``POST /upload/image``,
``GET /object_info``) with its answer and error shapes; unlike a bare ComfyUI
they want the platform's bearer key.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, timestamp
from pytest_sca.sandbox.errors import ApiError
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.models import Labels, Name
from pytest_sca.sandbox.schemas import Items, Open, documented
from pytest_sca.sandbox.store import Document
from pytest_sca.sandbox.workflows import PromptInvalid, WorkflowEngine

COMFY = "/comfyui"
MAX_UPLOAD = 10_000_000


class WorkflowImport(BaseModel):
    """POST /workflows: ComfyUI API-format JSON, as an object or as its text."""

    name: Name
    workflow: dict[str, Any] | Annotated[str, Field(max_length=1_000_000)]
    labels: Labels = Field(default_factory=dict)


class EnvironmentChoice(BaseModel):
    """PUT /workflows/{id}/environment."""

    environment_id: Annotated[str, Field(min_length=1, max_length=128)]


class RunRequest(BaseModel):
    """POST /workflows/{id}/trial and /invoke: values to set, node id → input → value."""

    inputs: dict[Annotated[str, Field(max_length=64)], dict[str, Any]] = Field(
        default_factory=dict)


class InputUpload(BaseModel):
    """POST /workflow-inputs: an input image, base64."""

    filename: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")]
    content: Annotated[str, Field(max_length=14_000_000)]


class WorkflowOut(Open):
    """A workflow application."""

    id: str
    name: str
    published: bool
    environment: dict[str, Any]


class RunOut(Open):
    """A workflow run: status, queue position, outputs, nodes, logs."""

    id: str
    status: str
    queue_position: int | None = None
    outputs: list[dict[str, Any]]


class UsageOut(Open):
    """Workflow runs of a period and their totals."""

    items: list[dict[str, Any]]
    summary: dict[str, Any]


def _comfy_routes(engine: WorkflowEngine) -> APIRouter:
    routes = APIRouter(prefix=COMFY, tags=["comfyui"], include_in_schema=False)
    faults = engine.faults

    @routes.get("/object_info", name="comfyui.object_info")
    def object_info(who: Caller) -> Any:
        from pytest_sca.sandbox.comfy_nodes import object_info as describe

        return describe(engine.types())

    @routes.get("/object_info/{node_class}", name="comfyui.object_info_one")
    def object_info_one(node_class: str, who: Caller) -> Any:
        from pytest_sca.sandbox.comfy_nodes import object_info as describe

        described = describe(engine.types())
        return {node_class: described[node_class]} if node_class in described else {}

    @routes.post("/prompt", name="comfyui.prompt")
    async def post_prompt(request: Request, who: Caller) -> Any:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "prompt" not in body:
            return JSONResponse({"error": {"type": "no_prompt", "message": "No prompt provided",
                                           "details": "No prompt provided", "extra_info": {}},
                                 "node_errors": {}}, status_code=400)
        try:
            run = engine.submit(who, body["prompt"], client_id=body.get("client_id"))
        except PromptInvalid as exc:
            return JSONResponse({"error": exc.error, "node_errors": exc.node_errors},
                                status_code=400)
        answer: dict[str, Any] = {"prompt_id": run["id"], "number": run["number"],
                                  "node_errors": run["node_errors"]}
        if Fault.WORKFLOW_SUBMIT_NO_TASK_ID in faults:
            answer.pop("prompt_id")
        return answer

    @routes.get("/prompt", name="comfyui.prompt_info")
    def prompt_info(who: Caller) -> Any:
        running, pending = engine.queue()
        return {"exec_info": {"queue_remaining": len(running) + len(pending)}}

    @routes.get("/queue", name="comfyui.queue")
    def queue(who: Caller) -> Any:
        running, pending = engine.queue()
        if Fault.QUEUE_POSITION_MISSING in faults:
            pending = []
        return {"queue_running": [i for i in map(engine.queue_item, running) if i],
                "queue_pending": [i for i in map(engine.queue_item, pending) if i]}

    @routes.post("/queue", name="comfyui.queue_delete")
    async def queue_delete(request: Request, who: Caller) -> Any:
        body = await request.json()
        if isinstance(body, dict) and isinstance(body.get("delete"), list):
            engine.delete_queued([str(i) for i in body["delete"]])
        return Response(status_code=200)  # ComfyUI answers an empty 200

    @routes.get("/history", name="comfyui.history_all")
    def history_all(who: Caller, max_items: int = 200) -> Any:
        runs = [r for r in engine.list_runs(who, None) if r["status"] in ("success", "error")]
        return {r["id"]: engine.history_entry(r) for r in runs[-max_items:]}

    @routes.post("/history", name="comfyui.history_delete")
    async def history_delete(request: Request, who: Caller) -> Any:
        body = await request.json()
        if isinstance(body, dict) and isinstance(body.get("delete"), list):
            engine.forget(who, [str(i) for i in body["delete"]])
        if isinstance(body, dict) and body.get("clear"):
            finished = engine.list_runs(who, None)
            engine.forget(who, [r["id"] for r in finished if r.get("kind") == "prompt"])
        return Response(status_code=200)  # ComfyUI answers an empty 200

    @routes.get("/history/{prompt_id}", name="comfyui.history")
    def history(prompt_id: str, who: Caller) -> Any:
        try:
            run = engine.run(who, prompt_id)
        except ApiError:
            return {}
        if run["status"] not in ("success", "error"):
            return {}
        return {prompt_id: engine.history_entry(run)}

    @routes.get("/view", name="comfyui.view")
    def view(who: Caller, filename: str, type: str = "output", subfolder: str = "") -> Response:
        if subfolder or type not in ("output", "input"):
            return Response(status_code=404)
        try:
            data = engine.view(filename, type)
        except ApiError:
            return Response(status_code=404)
        return Response(data, media_type="image/png")

    @routes.post("/upload/image", name="comfyui.upload_image")
    async def upload_image(request: Request, who: Caller) -> Any:
        form = await request.form()
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            return Response(status_code=400)
        data = await upload.read()
        if len(data) > MAX_UPLOAD:
            return Response(status_code=400)
        overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
        name = engine.save_input(upload.filename or "upload.png", data, overwrite)
        return {"name": name, "subfolder": "", "type": "input"}

    return routes


def router(platform: SandboxPlatform) -> APIRouter:
    """The ComfyUI-compatible routes and the platform's workflow routes."""
    engine = platform.workflows
    routes = APIRouter()
    routes.include_router(_comfy_routes(engine))

    def run_answer(run: Document, request: Request) -> Document:
        return engine.platform_run(run, str(request.base_url))

    @routes.get(f"{API}/workflow-environments", name="workflow_environment.list",
                **documented(Items[Open]))
    def environments(who: Caller) -> dict[str, Any]:
        return {"items": engine.environments()}

    @routes.get(f"{API}/workflows", name="workflow.list", **documented(Items[WorkflowOut]))
    def list_workflows(who: Caller) -> dict[str, Any]:
        return {"items": engine.list_workflows(who)}

    @routes.post(f"{API}/workflows", name="workflow.create", **documented(WorkflowOut, 201))
    def import_workflow(body: WorkflowImport, who: Caller, request: Request) -> Document:
        doc = engine.import_workflow(who, body.name, body.workflow, body.labels)
        audit_resource(request, f"workflows/{doc['id']}")
        return doc

    @routes.get(f"{API}/workflows/{{workflow_id}}", name="workflow.get",
                **documented(WorkflowOut))
    def get_workflow(workflow_id: str, who: Caller) -> Document:
        return engine.workflow(who, workflow_id)

    @routes.delete(f"{API}/workflows/{{workflow_id}}", name="workflow.delete",
                   **documented(None, 204))
    def delete_workflow(workflow_id: str, who: Caller) -> Response:
        engine.delete_workflow(who, workflow_id)
        return Response(status_code=204)

    @routes.put(f"{API}/workflows/{{workflow_id}}/environment", name="workflow.configure",
                **documented(WorkflowOut))
    def configure(workflow_id: str, body: EnvironmentChoice, who: Caller) -> Document:
        return engine.configure(who, workflow_id, body.environment_id)

    @routes.post(f"{API}/workflows/{{workflow_id}}/validate", name="workflow.validate",
                 **documented(WorkflowOut))
    def validate(workflow_id: str, who: Caller) -> Document:
        return engine.validate_environment(who, workflow_id)

    @routes.post(f"{API}/workflows/{{workflow_id}}/publish", name="workflow.publish",
                 **documented(WorkflowOut))
    def publish(workflow_id: str, who: Caller) -> Document:
        return engine.set_published(who, workflow_id, True)

    @routes.post(f"{API}/workflows/{{workflow_id}}/unpublish", name="workflow.unpublish",
                 **documented(WorkflowOut))
    def unpublish(workflow_id: str, who: Caller) -> Document:
        return engine.set_published(who, workflow_id, False)

    @routes.post(f"{API}/workflows/{{workflow_id}}/trial", name="workflow.trial",
                 **documented(RunOut, 201))
    def trial(workflow_id: str, body: RunRequest, who: Caller, request: Request) -> Document:
        run = engine.start_run(who, workflow_id, body.inputs, "trial")
        audit_resource(request, f"workflow-runs/{run['id']}")
        return run_answer(run, request)

    @routes.post(f"{API}/workflows/{{workflow_id}}/invoke", name="workflow.invoke",
                 **documented(RunOut, 201))
    def invoke(workflow_id: str, body: RunRequest, who: Caller, request: Request) -> Document:
        run = engine.start_run(who, workflow_id, body.inputs, "invoke")
        audit_resource(request, f"workflow-runs/{run['id']}")
        return run_answer(run, request)

    @routes.post(f"{API}/workflow-inputs", name="workflow_input.create",
                 **documented(Open, 201))
    def upload_input(body: InputUpload, who: Caller) -> dict[str, Any]:
        try:
            data = base64.b64decode(body.content, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "invalid_request", "content is not base64") from None
        return {"name": engine.save_input(body.filename, data, overwrite=False),
                "bytes": len(data)}

    @routes.get(f"{API}/workflow-runs", name="workflow_run.list", **documented(Items[RunOut]))
    def list_runs(
        who: Caller, request: Request,
        workflow_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        return {"items": [run_answer(r, request) for r in engine.list_runs(who, workflow_id)]}

    @routes.get(f"{API}/workflow-runs/{{run_id}}", name="workflow_run.get",
                **documented(RunOut))
    def get_run(run_id: str, who: Caller, request: Request) -> Document:
        return run_answer(engine.run(who, run_id), request)

    @routes.get(f"{API}/workflow-runs/{{run_id}}/outputs/{{filename}}",
                name="workflow_run.output", include_in_schema=False)
    def get_output(run_id: str, filename: str, who: Caller) -> Response:
        return Response(engine.output_bytes(who, run_id, filename), media_type="image/png")

    @routes.get(f"{API}/workflow-usage", name="workflow_usage.get", **documented(UsageOut))
    def workflow_usage(
        who: Caller,
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Document:
        return engine.usage(who, timestamp(since), timestamp(until), user_id)

    return routes


def target_adapters(api_url: str, platform: SandboxPlatform) -> dict[str, Any]:
    """The sandbox target's ``comfyui`` section: its ComfyUI-compatible endpoint."""
    return {"comfyui": {"url": f"{api_url.rstrip('/')}{COMFY}/",
                        "headers": {"Authorization": "Bearer ${SCA_SANDBOX_TOKEN}"}}}
