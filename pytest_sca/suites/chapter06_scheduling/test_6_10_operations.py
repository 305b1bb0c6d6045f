"""6.10 运营管理 Operations: products, orders, bills, analysis reports."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import pytest

from pytest_sca.capabilities import (
    Bill,
    Billing,
    Compute,
    Jobs,
    Node,
    Operations,
    Product,
    Refused,
    Resources,
    TargetError,
    Usage,
    UsageRecord,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser
from ..library import python
from .conftest import Submit, billed_card_seconds, sleeper

COMPUTE_KINDS = ("accelerator", "cpu", "memory", "compute", "instance", "gpu")
#: How long metered usage of a finished job may take to show in the usage records.
METERING_DELAY_S = 30.0
#: Money is compared to a hundredth of a cent (amounts are rounded by the platform).
CENTS = 1e-4


def _compute_product(products: Sequence[Product]) -> Product | None:
    priced = [p for p in products if isinstance(p.get("unit_price"), (int, float))
              and p.get("unit_price", 0) > 0 and p.get("currency")]
    return next((p for p in priced if p.get("kind") in COMPUTE_KINDS), None)


def _period() -> str:
    return time.strftime("%Y-%m", time.gmtime())


@pytest.mark.clause("6.10.a")
@pytest.mark.mutating
def test_compute_products_can_be_ordered_and_cancelled(sca: CheckContext, billing: Billing,
                                                       probe_tenant: MakeProbeUser) -> None:
    """The catalogue lists a priced compute product; a tenant's probe order of it is placed
    (amount = quantity × price) and listed, and once cancelled it shows as cancelled."""
    user = probe_tenant("shop")
    shop = billing.acting_as(user.user["api_key"])
    products = shop.products()
    product = _compute_product(products)
    sca.evidence("product catalogue", products)
    assert product is not None, (
        f"[6.10.a] no purchasable compute product with a price among {len(products)} products")
    order = shop.create_order(product["id"], 2)
    expected = round(2 * product.get("unit_price", 0), 6)
    assert order.get("status") == "active" and abs(order.get("amount", -1) - expected) < CENTS, (
        f"[6.10.a] order of 2 × {product['id']} answered status {order.get('status')} and "
        f"amount {order.get('amount')}, expected active and {expected}")
    assert order["id"] in {o.get("id") for o in shop.orders()}, (
        f"[6.10.a] the new order {order['id']} is not in the tenant's order list")
    try:
        shop.cancel_order(order["id"])
    except Refused as refusal:
        raise AssertionError(f"[6.10.a] cancelling the active order {order['id']} was refused: "
                             f"{refusal}") from None
    listed = {o.get("id"): o for o in shop.orders()}
    after = listed.get(order["id"], {}).get("status")
    sca.evidence("order after cancel", listed.get(order["id"]))
    assert after == "cancelled", (
        f"[6.10.a] cancelled order {order['id']} is still {after} in the order list")


def _metered(meter: Usage, job_id: str) -> list[UsageRecord]:
    try:
        return wait_for(lambda: meter.records(job_id=job_id),
                        lambda found: any(r.get("resource") == "accelerator" for r in found),
                        METERING_DELAY_S,
                        lambda found: f"{len(found)} usage records of job {job_id}, none of "
                                      f"an accelerator")
    except WaitTimeout as waited:
        raise TargetError(f"[6.10.c] no accelerator usage was metered for the probe job: "
                          f"{waited}; cannot check it is billed") from None


@pytest.mark.clause("6.10.c")
@pytest.mark.mutating
def test_orders_usage_and_bills_add_up(sca: CheckContext, billing: Billing, usage: Usage,
                                       probe_tenant: MakeProbeUser, probe_image: str) -> None:
    """A fresh tenant runs a 1-card job and places an order: its bill for this month lists the
    order at its amount and the metered card usage, every priced line at the catalogue's price
    (amount = quantity × price), and its total is the sum of its lines."""
    user = probe_tenant("bill")
    key = user.user["api_key"]
    shop, meter = billing.acting_as(key), usage.acting_as(key)
    job = user.jobs.submit(sca.name("metered"), probe_image,
                           python("import time; time.sleep(0.5)"),
                           {"cpu": 1, "memory_gib": 1, "accelerators": 1}, labels=sca.labels)
    ran = user.jobs.wait(job["id"], timeout=60)
    if ran.get("status") != "succeeded":
        raise TargetError(f"[6.10.c] the metered probe job ended {ran.get('status')}")
    records = _metered(meter, job["id"])
    catalogue = {p.get("id"): p for p in shop.products()}
    product = _compute_product(list(catalogue.values()))
    assert product is not None, "[6.10.c] no priced compute product to order"
    order = shop.create_order(product["id"], 2)
    orders = [o.get("id") for o in shop.orders()]
    bills: list[Bill] = [b for b in shop.bills(tenant_id=user.tenant_id, period=_period())
                         if b.get("tenant_id") == user.tenant_id]
    sca.evidence("usage, order, bill", {"usage": records, "order": order, "bills": bills})
    assert order["id"] in orders, f"[6.10.c] order {order['id']} is not in the order list"
    assert bills, f"[6.10.c] tenant {user.tenant_id} has no bill for {_period()}"
    bill = bills[0]
    lines = bill.get("lines") or []
    ordered = [line for line in lines if line.get("order_id") == order["id"]]
    assert ordered, f"[6.10.c] order {order['id']} is not in the bill {bill.get('id')}"
    assert abs(float(ordered[0].get("amount", -1)) - float(order.get("amount", 0))) < CENTS, (
        f"[6.10.c] the bill charges {ordered[0].get('amount')} for order {order['id']} of "
        f"amount {order.get('amount')}")
    total = sum(float(line.get("amount", 0)) for line in lines)
    assert abs(total - float(bill.get("total", -1))) < CENTS, (
        f"[6.10.c] bill total {bill.get('total')} is not the sum of its lines {total:.6f}")
    metered = sum(float(r.get("quantity", 0)) for r in records
                  if r.get("resource") == "accelerator")
    billed = [line for line in lines if line.get("resource") == "accelerator"]
    assert metered > 0 and billed, (
        f"[6.10.c] metered accelerator usage {metered:g} card-seconds is not billed")
    # Every accelerator line together: usage billed twice, or split, must add up too.
    counted = billed_card_seconds(billed, "6.10.c")
    assert abs(counted - metered) < 1e-3, (
        f"[6.10.c] bill counts {counted:g} accelerator card-seconds over {len(billed)} "
        f"line(s), usage records {metered:g}")
    mispriced = []
    for line in lines:
        listed = catalogue.get(line.get("product_id"))
        price, quantity = line.get("unit_price"), line.get("quantity")
        if listed is None or price is None or quantity is None:
            continue
        charged = float(quantity) * float(price)
        if float(price) != float(listed.get("unit_price", -1)) \
                or abs(float(line.get("amount", -1)) - charged) >= CENTS:
            mispriced.append(
                f"{line.get('resource')} of product {line.get('product_id')} charges "
                f"{line.get('amount')} for {quantity} units at {price} per unit "
                f"({charged:.6f}); the catalogue price is {listed.get('unit_price')}")
    assert not mispriced, f"[6.10.c] bill lines off the catalogue: {'; '.join(mispriced)}"


#: Times the inventory is read around the report while cards change hands between the reads.
REPORT_TRIES = 3
#: How long the check's own card is held: past the reads around the report.
HOLD_S = 120.0
#: Resources of the probe job that holds one card while the fleet holds none.
ONE_CARD: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1}


def _held(nodes: Sequence[Node]) -> set[tuple[str, str, str]]:
    """(node, card index, job) of every card the node listing shows held."""
    return {(str(n.get("id")), str(c.get("index")), str(c.get("allocated_to")))
            for n in nodes for c in n.get("accelerators") or [] if c.get("allocated_to")}


def _cards(held: set[tuple[str, str, str]]) -> set[tuple[str, str]]:
    return {(node, index) for node, index, _ in held}


@pytest.mark.clause("6.10.b")
@pytest.mark.mutating
def test_resource_report_analyses_and_recommends(sca: CheckContext, operations: Operations,
                                                 compute: Compute, jobs: Jobs,
                                                 submit: Submit) -> None:
    """The resource analysis report of this month is for this month, counts the inventory's
    cards as the node listing does, and its allocated cards as the listing shows them held
    when read before and after it (while the fleet holds none, the check holds one with a probe
    job first, so that a report counting none can be told from the truth); its per-model lines
    add up to its totals; it gives at least one recommendation with a message."""
    start_wait = sca.settings.jobs.start_timeout_s
    period = _period()
    nodes = compute.list_nodes()
    cards = sum(len(n.get("accelerators") or []) for n in nodes)
    if cards and not _held(nodes):
        try:
            job = submit("report-hold", sleeper(HOLD_S), ONE_CARD)
        except Refused as refused:
            # The principal may hold no card (its quota): compare with what the fleet holds.
            sca.evidence("no card held by the check", str(refused))
        else:
            with contextlib.suppress(WaitTimeout):
                # No card free in time: the comparison goes on with what the fleet holds.
                jobs.wait(job["id"], until={"running", "succeeded", "failed", "stopped"},
                          timeout=start_wait)
    tries: list[dict[str, object]] = []
    for _ in range(REPORT_TRIES):
        before = _held(compute.list_nodes())
        report = operations.resource_report(period)
        after = _held(compute.list_nodes())
        figures = report.get("accelerators") or {}
        allocated = figures.get("allocated")
        # A card held in both reads by the same job was held throughout; one held in either
        # read may have been held when the report was made.
        least, most = len(before & after), len(_cards(before) | _cards(after))
        tries.append({"held before": len(before), "held after": len(after),
                      "report allocated": allocated})
        if before == after or (isinstance(allocated, int) and least <= allocated <= most):
            break
    sca.evidence("resource analysis report", report)
    sca.evidence("allocation read around the report", tries)
    if report.get("period") != period:
        raise TargetError(f"[6.10.b] asked for the report of {period}, got one of "
                          f"{report.get('period')}")
    total = figures.get("total")
    assert total == cards and isinstance(allocated, int) and 0 <= allocated <= cards, (
        f"[6.10.b] the report counts {total} cards ({allocated} allocated); the node listing "
        f"has {cards}")
    if before != after and not least <= allocated <= most:
        raise TargetError(
            f"[6.10.b] cards changed hands around each of {REPORT_TRIES} reports (the node "
            f"listing held {tries}): cannot compare the report's allocation with it")
    assert least <= allocated <= most, (
        f"[6.10.b] the report counts {allocated} allocated cards; the node listing shows "
        f"{len(before)} held before and after it")
    lines = [r for r in figures.get("by_model") or [] if isinstance(r, dict)]
    sums = {key: sum(r.get(key) or 0 for r in lines) for key in ("total", "allocated")}
    assert not lines or sums == {"total": total, "allocated": allocated}, (
        f"[6.10.b] the report's per-model lines add up to {sums}, its totals are "
        f"{ {'total': total, 'allocated': allocated} }")
    advice = [r for r in report.get("recommendations") or []
              if str(r.get("message", "")).strip()]
    assert advice, (
        f"[6.10.b] the resource analysis report for {report.get('period')} gives no "
        f"recommendation")
