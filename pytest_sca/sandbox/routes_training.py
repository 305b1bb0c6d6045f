"""API routes of fault-tolerant training jobs (elastic range, checkpoint-and-resume)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


class TrainingCreate(BaseModel):
    """POST /training-jobs: a job the platform relaunches after a failure."""

    name: models.Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    command: list[Annotated[str, StringConstraints(max_length=65_536)]] = Field(
        min_length=1, max_length=1024)
    workers: int = Field(default=1, ge=1, le=64, description="workers at launch (the maximum)")
    min_workers: int | None = Field(
        default=None, ge=1, le=64, description="elastic: fewest workers to relaunch with")
    max_restarts: int = Field(default=0, ge=0, le=16)
    checkpoint: bool = Field(default=False, description="give the job a checkpoint location")
    resources: models.Resources = Field(default_factory=models.Resources)
    env: dict[models.EnvName, models.EnvValue] = Field(default_factory=dict)
    labels: models.Labels = Field(default_factory=dict)


class TrainingAttempt(S.Open):
    """One launch of a training job: an ordinary job."""

    attempt: int
    job_id: str
    world_size: int | None
    status: str


class TrainingJob(S.Open):
    """A fault-tolerant training job."""

    id: str
    tenant_id: str
    name: str
    status: str
    min_workers: int
    max_workers: int
    world_size: int
    restarts: int
    max_restarts: int
    checkpoint_uri: str | None
    attempts: list[TrainingAttempt]
    created_at: str
    labels: dict[str, str]


def target_capabilities(platform: SandboxPlatform) -> dict[str, Any]:
    """What the sandbox declares about training: workers here start within a second, so a
    rendezvous that has not happened in 5 s never will (real platforms default to 60 s)."""
    return {"training": {"rendezvous_timeout_s": 5}}


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    controller = platform.training

    @routes.post(f"{API}/training-jobs", name="training.create",
                 **documented(TrainingJob, 201))
    def create(body: TrainingCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        training = controller.create(who, body.model_dump())
        audit_resource(request, f"training-jobs/{training['id']}")
        return controller.answer(training)

    @routes.get(f"{API}/training-jobs", name="training.list",
                **documented(S.Items[TrainingJob]))
    def list_training(who: Caller) -> dict[str, Any]:
        return {"items": [controller.answer(t) for t in controller.list(who)]}

    @routes.get(f"{API}/training-jobs/{{training_id}}", name="training.get",
                **documented(TrainingJob))
    def get(training_id: str, who: Caller) -> Document:
        return controller.answer(controller.get(who, training_id))

    @routes.delete(f"{API}/training-jobs/{{training_id}}", name="training.delete",
                   **documented(None, 204))
    def delete(training_id: str, who: Caller) -> Response:
        training = controller.get(who, training_id)
        rules.require_write(who, training["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=training["owner"])
        controller.delete(training)
        return Response(status_code=204)

    return routes
