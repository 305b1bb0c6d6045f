"""6.10 运营管理 Operations: products, orders, bills, analysis reports."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence

import pytest

from pytest_sca.capabilities import (
    Bill,
    Billing,
    Compute,
    Jobs,
    Node,
    Operations,
    Product,
    Recommendation,
    RefusalReason,
    Refused,
    ResourceReport,
    Resources,
    TargetError,
    Tenancy,
    Unsupported,
    Usage,
    UsageRecord,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

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


#: A subject whose allocated share is at least this is full: advice to scale it in
#: contradicts the report (at most one card in ten idle) …
NEAR_FULL = 0.9
#: … and one whose share is at most this is idle: advice to add capacity to it contradicts the
#: report, unless the report shows work waiting.
NEAR_IDLE = 0.1
#: The contract's words for releasing a subject's capacity and for adding to it (with the
#: common synonyms).
SCALE_IN = frozenset({"scale_in", "scale_down"})
SCALE_OUT = frozenset({"scale_out", "scale_up"})
#: Figures of a report line that count work waiting for cards.
WAITING = ("pending", "queued", "waiting")


def _share(value: object) -> float | None:
    """A utilisation figure as a share (0–1; a figure above 1 is read as a percentage)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value) / 100 if value > 1 else float(value)


def _subject(recommendation: Recommendation) -> tuple[str, str | None]:
    """(kind, id) of what a recommendation is about: ``nodes/n1`` → ``("nodes", "n1")``, a
    bare kind → ``(kind, None)``; singular kinds read as their plural."""
    subject = str(recommendation.get("subject") or "").strip()
    kind, _, ident = subject.partition("/")
    kind = kind.lower()
    if kind and not kind.endswith("s"):
        kind += "s"
    return kind, ident or None


def _figures(report: ResourceReport, kind: str, ident: str | None,
             nodes: Sequence[Node]) -> dict[str, object] | None:
    """The figures (``total``, ``allocated``, maybe utilisation and waiting work) the report
    gives for a subject (a node's: the node listing's), or ``None`` where it gives none."""
    cards = report.get("accelerators") or {}
    if kind == "accelerators" and ident is None:
        return cards
    table = {"accelerators": ("by_model", "model"), "clusters": ("by_cluster", "cluster_id")}
    if kind in table:
        lines, key = table[kind]
        return next((row for row in cards.get(lines) or []
                     if isinstance(row, dict) and str(row.get(key)) == ident), None)
    if kind == "nodes":
        node = next((n for n in nodes if ident in (n.get("id"), n.get("hostname"))), None)
        if node is not None:
            held = node.get("accelerators") or []
            return {"total": len(held), "allocated": sum(1 for c in held if c.get("allocated_to"))}
    return None


def recommendation_problems(report: ResourceReport, known: Mapping[str, set[str]],
                            nodes: Sequence[Node]) -> tuple[list[str], list[str]]:
    """(problems, what was not compared) of a report's recommendations: a subject of a kind
    in ``known`` (``nodes``, ``clusters``, ``accelerators`` by card model, ``tenants``) that
    names none of them; advice to scale in a subject the report shows (nearly) full, or to add
    capacity to one it shows (nearly) idle with no work waiting."""
    problems: list[str] = []
    unchecked: list[str] = []
    jobs = report.get("jobs") or {}
    for advice in report.get("recommendations") or []:
        kind, ident = _subject(advice)
        said = f"{advice.get('kind')!s} {advice.get('subject')!s}"
        if not kind:
            unchecked.append(f"names no subject: {advice.get('message')}")
            continue
        if ident is not None:
            if kind not in known:
                unchecked.append(f"subject of a kind the check does not know: {said}")
            elif ident not in known[kind]:
                problems.append(f"{said} names {kind} {ident!r}, which the platform does not "
                                f"have (it has {sorted(known[kind])[:8]})")
                continue
        action = str(advice.get("kind") or "").lower()
        if action not in SCALE_IN | SCALE_OUT:
            continue
        figures = _figures(report, kind, ident, nodes)
        total, allocated = (figures or {}).get("total"), (figures or {}).get("allocated")
        if not isinstance(total, int) or not isinstance(allocated, int) or total <= 0:
            unchecked.append(f"no allocation figures for the subject of {said}")
            continue
        share = allocated / total
        used = _share((figures or {}).get("utilisation", (figures or {}).get("utilization")))
        waiting = any(isinstance(source.get(key), (int, float)) and source.get(key)
                      for source in (figures or {}, jobs) for key in WAITING)
        if action in SCALE_IN and share >= NEAR_FULL and (used is None or used >= NEAR_FULL):
            problems.append(f"{said} advises releasing capacity of a subject the report shows "
                            f"{allocated} of {total} cards allocated")
        if action in SCALE_OUT and share <= NEAR_IDLE and (used is None or used <= NEAR_IDLE) \
                and not waiting:
            problems.append(f"{said} advises adding capacity to a subject the report shows "
                            f"{allocated} of {total} cards allocated, with no work waiting")
    return problems, unchecked


def _named_tenants(request: pytest.FixtureRequest, report: ResourceReport,
                   listed: set[str]) -> set[str]:
    """The tenants the platform has, for the report's tenant subjects: those ``listed``, and
    each named one the listing lacks that reads back (a listing may show the caller only
    some); one whose read is refused for another reason than not found counts as known
    (cannot tell)."""
    tenancy: Tenancy = request.getfixturevalue("tenancy")
    known = set(listed)
    for advice in report.get("recommendations") or []:
        kind, ident = _subject(advice)
        if kind != "tenants" or ident is None or ident in known:
            continue
        try:
            tenancy.get_tenant(ident)
        except Refused as refusal:
            if refusal.reason is not RefusalReason.NOT_FOUND:
                known.add(ident)
            continue
        known.add(ident)
    return known


def _tenant_ids(request: pytest.FixtureRequest) -> set[str] | None:
    """The ids (and names) of the tenants the platform lists, ``None`` without ``tenancy`` or
    where the listing is refused."""
    try:
        tenancy: Tenancy = request.getfixturevalue("tenancy")
        return {str(v) for t in tenancy.list_tenants() for v in (t.get("id"), t.get("name"))
                if v}
    except (NotAssessed, Refused, Unsupported):
        return None


@pytest.mark.clause("6.10.b")
@pytest.mark.mutating
def test_resource_report_analyses_and_recommends(sca: CheckContext, operations: Operations,
                                                 compute: Compute, jobs: Jobs,
                                                 submit: Submit,
                                                 request: pytest.FixtureRequest) -> None:
    """The resource analysis report of this month is for this month, counts the inventory's
    cards as the node listing does, and its allocated cards as the listing shows them held
    when read before and after it (while the fleet holds none, the check holds one with a probe
    job first, so that a report counting none can be told from the truth); its per-model lines
    add up to its totals; it gives at least one recommendation with a message, and those that
    name their subject name a node, cluster, card model or tenant the platform has (read
    around the report) and do not advise scaling in what the report shows full, or out what
    it shows idle with no work waiting."""
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
    tenants = _tenant_ids(request)
    seen_nodes: list[Node] = list(nodes)
    for _ in range(REPORT_TRIES):
        listed = compute.list_nodes()
        before = _held(listed)
        report = operations.resource_report(period)
        listed_after = compute.list_nodes()
        after = _held(listed_after)
        seen_nodes += listed + listed_after
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
    # Everything the platform had while the report was made: nodes come and go (scaling),
    # so a subject listed in any read counts.
    known = {"nodes": {str(v) for n in seen_nodes for v in (n.get("id"), n.get("hostname"))
                       if v},
             "clusters": {str(n.get("cluster_id")) for n in seen_nodes if n.get("cluster_id")},
             "accelerators": {str(c.get("model")) for n in seen_nodes
                              for c in n.get("accelerators") or [] if c.get("model")}}
    later = _tenant_ids(request)
    if tenants is not None and later is not None:
        known["tenants"] = _named_tenants(request, report, tenants | later)
    problems, unchecked = recommendation_problems(report, known, listed_after)
    sca.evidence("recommendations not compared", unchecked or "none")
    assert not problems, (
        f"[6.10.b] recommendations of the report for {report.get('period')} name what the "
        f"platform does not have or contradict the report's figures: {'; '.join(problems)}")
