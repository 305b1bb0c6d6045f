"""Metering and billing: usage records, products, orders and the tenants' bills.

Usage records are written by the job runner (real run time × requests); a
bill prices a period's usage with the product catalogue and adds the
tenant's active orders.
"""

from __future__ import annotations

import math

from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

#: usage resource → (product kind, seconds per billed unit).
_PER_HOUR = {"cpu": ("cpu", 3600.0), "memory": ("memory", 3600.0),
             "accelerator": ("accelerator", 3600.0)}


class Billing:
    """Usage, products, orders and bills over the store."""

    def __init__(self, store: Store, permissions: Permissions, faults: Faults) -> None:
        self.store = store
        self.permissions = permissions
        self.faults = faults

    def usage(self, tenant_id: str | None, job_id: str | None, start: str | None,
              end: str | None) -> list[Document]:
        """Usage records of one tenant (all when ``None``) overlapping ``start``..``end``."""
        return [
            r for r in self.store.list("usage", tenant_id=tenant_id)
            if (job_id is None or r["job_id"] == job_id)
            and (start is None or r["end"] >= start) and (end is None or r["start"] <= end)
        ]

    def products(self) -> list[Document]:
        """The product catalogue."""
        return self.store.list("product")

    def orders(self, tenant_id: str | None) -> list[Document]:
        """Orders of one tenant (all when ``None``)."""
        return self.store.list("order", tenant_id=tenant_id)

    def create_order(self, who: Principal, product_id: str, quantity: float,
                     labels: dict[str, str]) -> Document:
        """An active order of ``quantity`` units of a product, priced now."""
        product = self.store.get("product", product_id)
        if product is None:
            raise not_found(f"product {product_id}")
        order = {
            "id": new_id("order"), "tenant_id": who.tenant_id, "product_id": product["id"],
            "quantity": quantity, "unit_price": product["unit_price"],
            "amount": round(quantity * product["unit_price"], 6),
            "currency": product["currency"], "status": "active", "created_by": who.user_id,
            "created_at": utc_now(), "labels": labels,
        }
        self.store.put("order", order)
        return order

    def visible_order(self, who: Principal, order_id: str) -> Document:
        """An order of ``who``'s tenant (any for a platform admin), or 404."""
        order = self.store.get("order", order_id)
        if order is None or not self.permissions.can_read_tenant(
            who, order["tenant_id"], cross_tenant_kind=False
        ):
            raise not_found(f"order {order_id}")
        return order

    def cancel_order(self, order: Document) -> Document:
        """Cancel an active order (answered but ignored under ``order_cancel_ignored``)."""
        if order["status"] != "active":
            raise ApiError(409, "conflict", f"order {order['id']} is {order['status']}")
        if Fault.ORDER_CANCEL_IGNORED in self.faults:
            return order
        order["status"] = "cancelled"
        order["cancelled_at"] = utc_now()
        self.store.put("order", order)
        return order

    def bill(self, tenant_id: str, period: str) -> Document:
        """The tenant's bill for ``period`` (YYYY-MM): usage records × product prices."""
        products = {p["kind"]: p for p in self.store.list("product")}
        totals: dict[str, float] = {}
        for record in self.store.list("usage", tenant_id=tenant_id):
            if record["end"].startswith(period):
                resource = record["resource"]
                totals[resource] = totals.get(resource, 0.0) + record["quantity"]
        lines = []
        for resource, quantity in sorted(totals.items()):
            kind, seconds_per_unit = _PER_HOUR[resource]
            product = products[kind]
            units = quantity / seconds_per_unit
            if Fault.USAGE_BILLED_BY_STARTED_HOUR in self.faults:
                units = float(math.ceil(units))
            price = product["unit_price"]
            if Fault.USAGE_BILLED_AT_STALE_PRICES in self.faults:
                price = round(price * 1.25, 6)
            line: Document = {
                "product_id": product["id"],
                "resource": resource,
                "usage_quantity": round(quantity, 6),
                "quantity": round(units, 9),
                "unit": product["unit"],
                "unit_price": price,
                "amount": round(units * price, 6),
            }
            if Fault.USAGE_BILLED_BY_STARTED_HOUR in self.faults:
                del line["usage_quantity"]
            lines.append(line)
            if resource == "accelerator" and Fault.ACCELERATOR_USAGE_BILLED_TWICE in self.faults:
                lines.append(dict(line))
        for order in self.store.list("order", tenant_id=tenant_id):
            if Fault.ORDERS_NOT_BILLED in self.faults:
                break
            if order["status"] == "active" and order["created_at"].startswith(period):
                lines.append({
                    "product_id": order["product_id"],
                    "resource": "order",
                    "order_id": order["id"],
                    "quantity": order["quantity"],
                    "unit_price": order["unit_price"],
                    "amount": order["amount"],
                })
        return {
            "id": f"bill-{tenant_id}-{period}",
            "tenant_id": tenant_id,
            "period": period,
            "lines": lines,
            "total": round(sum(line["amount"] for line in lines), 6),
            "currency": "CNY",
            "created_at": utc_now(),
            "labels": {},
        }
