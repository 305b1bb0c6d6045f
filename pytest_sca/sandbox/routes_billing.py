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
from pytest_sca.sandbox.errors import ApiError, forbidden, not_found
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document, new_id, utc_now

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions

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
        start, end = timestamp(since), timestamp(until)
        records = [
            public(r) for r in platform.store.list("usage", tenant_id=tenant)
            if (job_id is None or r["job_id"] == job_id)
            and (start is None or r["end"] >= start) and (end is None or r["start"] <= end)
        ]
        return {"items": records}

    @routes.get(f"{API}/products", name="product.list", **documented(S.Items[S.Product]))
    def list_products(who: Caller) -> dict[str, Any]:
        return {"items": platform.store.list("product")}

    @routes.get(f"{API}/orders", name="order.list", **documented(S.Items[S.Order]))
    def list_orders(who: Caller) -> dict[str, Any]:
        tenant = scoped_tenant(who, None)
        return {"items": platform.store.list("order", tenant_id=tenant)}

    @routes.post(f"{API}/orders", name="order.create", **documented(S.Order, 201))
    def create_order(body: models.OrderCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        product = platform.store.get("product", body.product_id)
        if product is None:
            raise not_found(f"product {body.product_id}")
        order = {
            "id": new_id("order"), "tenant_id": who.tenant_id, "product_id": product["id"],
            "quantity": body.quantity, "unit_price": product["unit_price"],
            "amount": round(body.quantity * product["unit_price"], 6),
            "currency": product["currency"], "status": "active", "created_by": who.user_id,
            "created_at": utc_now(), "labels": body.labels,
        }
        platform.store.put("order", order)
        audit_resource(request, f"orders/{order['id']}")
        return order

    @routes.post(f"{API}/orders/{{order_id}}/cancel", name="order.cancel", **documented(S.Order))
    def cancel_order(order_id: str, who: Caller) -> Document:
        order = platform.store.get("order", order_id)
        if order is None or not rules.can_read_tenant(
            who, order["tenant_id"], cross_tenant_kind=False
        ):
            raise not_found(f"order {order_id}")
        rules.require_write(who, order["tenant_id"], allowed=("tenant_admin", "member"))
        if order["status"] != "active":
            raise ApiError(409, "conflict", f"order {order_id} is {order['status']}")
        if Fault.ORDER_CANCEL_IGNORED in platform.faults:
            return order
        order["status"] = "cancelled"
        order["cancelled_at"] = utc_now()
        platform.store.put("order", order)
        return order

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
        tenants = [tenant] if tenant else [t["id"] for t in platform.store.list("tenant")]
        for tid in tenants:
            platform.tenant(tid)
        return {"items": [platform.bill(tid, period) for tid in tenants]}

    @routes.get(f"{API}/audit", name="audit.list", **documented(S.Items[S.AuditEntry]))
    def list_audit(
        who: Caller,
        since: datetime | None = None,
        actor: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        if not who.is_platform_admin and who.role != "tenant_admin":
            raise forbidden(f"role {who.role} cannot read the audit log")
        start = timestamp(since)
        tenant = None if who.is_platform_admin else who.tenant_id
        entries = [
            public(e) for e in platform.store.list("audit", tenant_id=tenant)
            if (start is None or e["time"] >= start)
            and (actor is None or e["actor"] == actor)
            and (action is None or e["action"] == action)
        ]
        return {"items": entries}

    return routes
