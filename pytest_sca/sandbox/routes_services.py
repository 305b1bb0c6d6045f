"""API routes of inference services: deploy on chosen accelerators, replicas, invoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


class ServiceCreate(BaseModel):
    """POST /services: a probe service of ``replicas`` replicas."""

    name: models.Name
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    replicas: int = Field(default=1, ge=1, le=16)
    resources: models.Resources = Field(default_factory=models.Resources)
    labels: models.Labels = Field(default_factory=dict)


class ReplicaStatus(S.Open):
    """Where one replica runs and whether it answers."""

    index: int
    node_id: str | None
    accelerators: list[int]
    status: str


class Service(S.Open):
    """An inference service."""

    id: str
    tenant_id: str
    name: str
    status: str
    replicas: int
    replica_status: list[ReplicaStatus]
    endpoint: str
    created_at: str
    labels: dict[str, str]


class Invocation(S.Open):
    """A replica's answer through the gateway."""

    replica: int
    accelerators: list[str]


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    services = platform.services

    @routes.post(f"{API}/services", name="service.create", **documented(Service, 201))
    def deploy(body: ServiceCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        service = services.deploy(who, body.model_dump())
        audit_resource(request, f"services/{service['id']}")
        return services.answer(service)

    @routes.get(f"{API}/services", name="service.list", **documented(S.Items[Service]))
    def list_services(who: Caller) -> dict[str, Any]:
        return {"items": [services.answer(s) for s in services.list(who)]}

    @routes.get(f"{API}/services/{{service_id}}", name="service.get", **documented(Service))
    def get(service_id: str, who: Caller) -> Document:
        return services.answer(services.get(who, service_id))

    @routes.post(f"{API}/services/{{service_id}}/invoke", name="service.invoke",
                 **documented(Invocation))
    def invoke(service_id: str, who: Caller,
               payload: Annotated[dict[str, Any] | None, Body()] = None) -> Document:
        return services.invoke(services.get(who, service_id), payload or {})

    @routes.delete(f"{API}/services/{{service_id}}", name="service.delete",
                   **documented(None, 204))
    def delete(service_id: str, who: Caller) -> Response:
        service = services.get(who, service_id)
        rules.require_write(who, service["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=service["owner"])
        services.delete(service)
        return Response(status_code=204)

    return routes
