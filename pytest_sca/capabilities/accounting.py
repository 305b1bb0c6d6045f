"""Metering and billing: capabilities ``usage`` (metered usage records) and ``billing``
(products, orders, bills)."""

from __future__ import annotations

from typing import Protocol, TypedDict, runtime_checkable

from .common import ActsAs


class UsageRecord(TypedDict, total=False):
    """Metered use of one resource by one job (worker) over one interval."""

    id: str
    tenant_id: str
    job_id: str
    resource: str
    quantity: float
    unit: str
    start: str
    end: str
    rank: int
    run_seconds: float


class Product(TypedDict, total=False):
    """Something the platform sells, and its price per unit."""

    id: str
    name: str
    kind: str
    unit: str
    unit_price: float
    currency: str


class Order(TypedDict, total=False):
    """An order of a product."""

    id: str
    tenant_id: str
    product_id: str
    quantity: float
    status: str
    amount: float
    labels: dict[str, str]


class BillLine(TypedDict, total=False):
    """One line of a bill: a resource's usage, or an order, and what it costs."""

    resource: str
    product_id: str
    order_id: str
    usage_quantity: float
    quantity: float
    unit: str
    unit_price: float
    amount: float


class Bill(TypedDict, total=False):
    """A tenant's bill for one period (``YYYY-MM``)."""

    id: str
    tenant_id: str
    period: str
    lines: list[BillLine]
    total: float
    currency: str


@runtime_checkable
class Usage(ActsAs, Protocol):
    """Metered usage records."""

    def records(self, *, job_id: str | None = None, tenant_id: str | None = None,
                since: str | None = None, until: str | None = None) -> list[UsageRecord]:
        """Usage records, filtered."""
        ...


@runtime_checkable
class Billing(ActsAs, Protocol):
    """Products, orders and bills."""

    def products(self) -> list[Product]:
        """Products and their prices."""
        ...

    def orders(self) -> list[Order]:
        """Orders the caller may see."""
        ...

    def create_order(self, product_id: str, quantity: float) -> Order:
        """Order a product (cancelled at the end of the check: orders cannot be deleted)."""
        ...

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an order; returns it."""
        ...

    def bills(self, *, tenant_id: str | None = None, period: str | None = None) -> list[Bill]:
        """Bills, filtered by tenant and period."""
        ...


