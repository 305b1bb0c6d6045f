"""API routes of usage records, products, orders, bills and the audit log."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public, timestamp
from pytest_sca.sandbox.errors import ApiError, forbidden
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    billing = platform.billing

    def scoped_tenant(who: Principal, tenant_id: str | None) -> str | None:
        """The tenant a listing is limited to: any (None) for a platform admin."""
        if who.is_platform_admin:
            return tenant_id
        if tenant_id is not None and tenant_id != who.tenant_id:
            raise forbidden(f"tenant {who.tenant_id} cannot read tenant {tenant_id}")
        return who.tenant_id

    @routes.get(f"{API}/usage", name="usage.list", **documented(S.Items[S.UsageRecord]))
    def list_usage(
        who: Caller,
        job_id: Annotated[str | None, Query(max_length=64)] = None,
        tenant_id: Annotated[str | None, Query(max_length=64)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        tenant = scoped_tenant(who, tenant_id)
        records = billing.usage(tenant, job_id, timestamp(since), timestamp(until))
        return {"items": [public(r) for r in records]}

    @routes.get(f"{API}/products", name="product.list", **documented(S.Items[S.Product]))
    def list_products(who: Caller) -> dict[str, Any]:
        return {"items": billing.products()}

    @routes.get(f"{API}/orders", name="order.list", **documented(S.Items[S.Order]))
    def list_orders(who: Caller) -> dict[str, Any]:
        return {"items": billing.orders(scoped_tenant(who, None))}

    @routes.post(f"{API}/orders", name="order.create", **documented(S.Order, 201))
    def create_order(body: models.OrderCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        order = billing.create_order(who, body.product_id, body.quantity, body.labels)
        audit_resource(request, f"orders/{order['id']}")
        return order

    @routes.post(f"{API}/orders/{{order_id}}/cancel", name="order.cancel", **documented(S.Order))
    def cancel_order(order_id: str, who: Caller) -> Document:
        order = billing.visible_order(who, order_id)
        rules.require_write(who, order["tenant_id"], allowed=("tenant_admin", "member"))
        return billing.cancel_order(order)

    @routes.get(f"{API}/bills", name="bill.list", **documented(S.Items[S.Bill]))
    def list_bills(
        who: Caller,
        tenant_id: Annotated[str | None, Query(max_length=64)] = None,
        period: Annotated[str | None, Query(max_length=7)] = None,
    ) -> dict[str, Any]:
        period = period or datetime.now(timezone.utc).strftime("%Y-%m")
        if not _PERIOD.match(period):
            raise ApiError(422, "invalid_request", f"period {period!r} is not YYYY-MM")
        tenant = scoped_tenant(who, tenant_id)
        tenants = [tenant] if tenant else platform.tenancy.tenant_ids()
        for tid in tenants:
            platform.tenancy.tenant(tid)
        return {"items": [billing.bill(tid, period) for tid in tenants]}

    @routes.get(f"{API}/audit", name="audit.list", **documented(S.Items[S.AuditEntry]))
    def list_audit(
        who: Caller,
        since: datetime | None = None,
        actor: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        if not who.is_platform_admin and who.role != "tenant_admin":
            raise forbidden(f"role {who.role} cannot read the audit log")
        tenant = None if who.is_platform_admin else who.tenant_id
        entries = platform.audit.entries(tenant, timestamp(since), actor, action)
        return {"items": [public(e) for e in entries]}

    return routes
