"""API routes of tenants, users, quotas and storage credentials."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.errors import forbidden
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    tenancy = platform.tenancy

    def tenant_answer(tenant: Document) -> Document:
        return {k: tenant[k] for k in ("id", "name", "labels", "created_at")}

    @routes.get(f"{API}/tenants", name="tenant.list", **documented(S.Items[S.Tenant]))
    def list_tenants(who: Caller) -> dict[str, Any]:
        return {"items": [tenant_answer(t) for t in tenancy.visible_tenants(who)]}

    @routes.post(f"{API}/tenants", name="tenant.create", **documented(S.Tenant, 201))
    def create_tenant(body: models.TenantCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, None, allowed=())
        tenant = tenancy.create_tenant(body.name, body.labels)
        audit_resource(request, f"tenants/{tenant['id']}")
        return tenant_answer(tenant)

    @routes.get(f"{API}/tenants/{{tenant_id}}", name="tenant.get", **documented(S.Tenant))
    def get_tenant(tenant_id: str, who: Caller) -> Document:
        return tenant_answer(tenancy.visible_tenant(who, tenant_id))

    @routes.delete(f"{API}/tenants/{{tenant_id}}", name="tenant.delete", **documented(None, 204))
    def delete_tenant(tenant_id: str, who: Caller) -> Response:
        rules.require_write(who, None, allowed=())
        tenancy.delete_tenant(tenant_id)
        return Response(status_code=204)

    @routes.get(
        f"{API}/tenants/{{tenant_id}}/users", name="user.list", **documented(S.Items[S.User])
    )
    def list_users(tenant_id: str, who: Caller) -> dict[str, Any]:
        tenancy.visible_tenant(who, tenant_id, cross_tenant_kind=True)
        return {"items": [public(u) for u in tenancy.users(tenant_id)]}

    @routes.post(
        f"{API}/tenants/{{tenant_id}}/users",
        name="user.create", **documented(S.NewUser, 201),
    )
    def create_user(
        tenant_id: str, body: models.UserCreate, who: Caller, request: Request
    ) -> Document:
        rules.require_write(who, tenant_id, allowed=("tenant_admin",))
        if body.role == "platform_admin" and not who.is_platform_admin:
            raise forbidden("only a platform admin can create platform admins")
        tenancy.tenant(tenant_id)
        user, api_key = tenancy.create_user(tenant_id, body.name, body.role, body.labels)
        audit_resource(request, f"tenants/{tenant_id}/users/{user['id']}")
        return {**public(user), "api_key": api_key}

    @routes.delete(
        f"{API}/tenants/{{tenant_id}}/users/{{user_id}}",
        name="user.delete", **documented(None, 204),
    )
    def delete_user(tenant_id: str, user_id: str, who: Caller) -> Response:
        rules.require_write(who, tenant_id, allowed=("tenant_admin",))
        tenancy.delete_user(tenant_id, user_id)
        return Response(status_code=204)

    @routes.get(f"{API}/tenants/{{tenant_id}}/quota", name="quota.get", **documented(S.Quota))
    def get_quota(tenant_id: str, who: Caller) -> Document:
        tenancy.visible_tenant(who, tenant_id)
        return tenancy.quota(tenant_id)

    @routes.put(f"{API}/tenants/{{tenant_id}}/quota", name="quota.update", **documented(S.Quota))
    def set_quota(tenant_id: str, body: models.QuotaUpdate, who: Caller) -> Document:
        rules.require_write(who, None, allowed=())
        return tenancy.set_quota(tenant_id, body.model_dump(exclude_none=True))

    @routes.get(f"{API}/tenants/{{tenant_id}}/storage", name="storage.get", **documented(S.Storage))
    def get_storage(tenant_id: str, who: Caller) -> Document:
        tenant = tenancy.visible_tenant(who, tenant_id)
        if who.role == "readonly":
            raise forbidden("the readonly role cannot read storage credentials")
        return tenancy.storage_credentials(tenant)

    return routes
