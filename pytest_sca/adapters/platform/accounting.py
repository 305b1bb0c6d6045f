"""``usage`` and ``billing`` over the platform API."""

from __future__ import annotations

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.capabilities import Bill, Order, Product, UsageRecord


class PlatformUsage(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Usage` over the platform API."""

    def records(self, *, job_id: str | None = None, tenant_id: str | None = None,
                since: str | None = None, until: str | None = None) -> list[UsageRecord]:
        return self.subject.call("usage.list", job_id=job_id, tenant_id=tenant_id,
                                 since=since, until=until)


class PlatformBilling(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Billing` over the platform API."""

    def products(self) -> list[Product]:
        return self.subject.call("products.list")

    def orders(self) -> list[Order]:
        return self.subject.call("orders.list")

    def create_order(self, product_id: str, quantity: float) -> Order:
        # Orders cannot be deleted, only cancelled: cancelling is their undo.
        return self.subject.create("orders.create", "orders", "orders.cancel",
                                   {"order_id": "id"}, product_id=product_id,
                                   quantity=quantity)

    def cancel_order(self, order_id: str) -> Order:
        order: Order = self.subject.call("orders.cancel", order_id=order_id)
        self.subject.forget_removal("orders.cancel", order_id=order_id)
        return order

    def bills(self, *, tenant_id: str | None = None, period: str | None = None) -> list[Bill]:
        return self.subject.call("bills.list", tenant_id=tenant_id, period=period)
