"""6.10 运营管理 Operations: products, orders, bills, analysis reports."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from pytest_sca.capabilities import Refused
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ._jobs_support import poll

COMPUTE_KINDS = ("accelerator", "cpu", "memory", "compute", "instance", "gpu")


def _compute_product(products: list[dict[str, Any]]) -> dict[str, Any] | None:
    priced = [p for p in products if isinstance(p.get("unit_price"), (int, float))
              and p["unit_price"] > 0 and p.get("currency")]
    return next((p for p in priced if p.get("kind") in COMPUTE_KINDS), None)


def _cancel_quietly(billing: Any, order_id: str) -> None:
    # An order already cancelled by the check answers 409: nothing is left to undo.
    with contextlib.suppress(Refused):
        billing.cancel_order(order_id)


@pytest.mark.clause("6.10.a")
@pytest.mark.mutating
def test_compute_products_can_be_ordered_and_cancelled(sca: CheckContext, billing: Any,
                                                       probe_tenant: Any,
                                                       cleanup: Cleanup) -> None:
    """The catalogue lists a priced compute product; a tenant's probe order of it is placed
    (amount = quantity × price) and, once cancelled, shows as cancelled."""
    user = probe_tenant("shop")
    shop = billing.acting_as(user.user["api_key"])
    products = shop.products()
    product = _compute_product(products)
    sca.evidence("product catalogue", products)
    assert product is not None, (
        f"[6.10.a] no purchasable compute product with a price among {len(products)} products")
    order = shop.create_order(product["id"], 2)
    expected = round(2 * product["unit_price"], 6)
    assert order.get("status") == "active" and abs(order.get("amount", -1) - expected) < 1e-6, (
        f"[6.10.a] order of 2 × {product['id']} answered status {order.get('status')} and "
        f"amount {order.get('amount')}, expected active and {expected}")
    shop.cancel_order(order["id"])
    listed = {o["id"]: o for o in shop.orders()}
    after = listed.get(order["id"], {}).get("status")
    sca.evidence("order after cancel", listed.get(order["id"]))
    assert after == "cancelled", (
        f"[6.10.a] cancelled order {order['id']} is still {after} in the order list")


@pytest.mark.clause("6.10.c")
@pytest.mark.mutating
def test_orders_usage_and_bills_add_up(sca: CheckContext, billing: Any, usage: Any,
                                       probe_tenant: Any, probe_image: str,
                                       cleanup: Cleanup) -> None:
    """A fresh tenant runs a 1-card job and places an order: its bill lists the order and
    the metered usage at catalogue prices, and its total is the sum of its lines."""
    user = probe_tenant("bill")
    key = user.user["api_key"]
    shop, meter = billing.acting_as(key), usage.acting_as(key)
    job = user.jobs.submit(sca.name("metered"), probe_image,
                           ["python", "-c", "import time; time.sleep(0.5)"],
                           {"cpu": 1, "memory_gib": 1, "accelerators": 1}, labels=sca.labels)
    user.jobs.wait(job["id"], timeout=60)
    records = poll(lambda: meter.records(job_id=job["id"]),
                   lambda found: any(r["resource"] == "accelerator" for r in found), 15)
    product = _compute_product(shop.products())
    assert product is not None, "[6.10.c] no priced compute product to order"
    order = shop.create_order(product["id"], 2)
    orders = [o["id"] for o in shop.orders()]
    bills = [b for b in shop.bills() if b.get("tenant_id") == user.tenant_id]
    sca.evidence("usage, order, bill", {"usage": records, "order": order, "bills": bills})
    assert order["id"] in orders, f"[6.10.c] order {order['id']} is not in the order list"
    assert bills, f"[6.10.c] tenant {user.tenant_id} has no bill for the current period"
    bill = bills[0]
    lines = bill.get("lines", [])
    assert any(line.get("order_id") == order["id"] for line in lines), (
        f"[6.10.c] order {order['id']} is not in the bill {bill.get('id')}")
    total = sum(float(line.get("amount", 0)) for line in lines)
    assert abs(total - float(bill.get("total", -1))) < 1e-4, (
        f"[6.10.c] bill total {bill.get('total')} is not the sum of its lines {total:.6f}")
    metered = sum(r["quantity"] for r in records if r["resource"] == "accelerator")
    billed = [line for line in lines if line.get("resource") == "accelerator"]
    assert metered > 0 and billed, (
        f"[6.10.c] metered accelerator usage {metered:g} card-seconds is not billed")
    assert abs(float(billed[0].get("usage_quantity", -1)) - metered) < 1e-3, (
        f"[6.10.c] bill counts {billed[0].get('usage_quantity')} accelerator card-seconds, "
        f"usage records {metered:g}")


@pytest.mark.clause("6.10.b")
def test_resource_report_analyses_and_recommends(sca: CheckContext, operations: Any,
                                                 compute: Any) -> None:
    """The resource analysis report of this month counts the inventory's cards as the node
    listing does, and gives at least one recommendation."""
    report = operations.resource_report()
    cards = sum(len(n.get("accelerators", [])) for n in compute.list_nodes())
    sca.evidence("resource analysis report", report)
    figures = report.get("accelerators", {})
    total, allocated = figures.get("total"), figures.get("allocated")
    assert total == cards and isinstance(allocated, int) and 0 <= allocated <= cards, (
        f"[6.10.b] the report counts {total} cards ({allocated} allocated); the node listing "
        f"has {cards}")
    advice = [r for r in report.get("recommendations", []) if str(r.get("message", "")).strip()]
    assert advice, (
        f"[6.10.b] the resource analysis report for {report.get('period')} gives no "
        f"recommendation")
