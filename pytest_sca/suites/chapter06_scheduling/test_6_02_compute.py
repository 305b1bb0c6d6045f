"""6.2 算力资源管理 Compute resource management."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest

from pytest_sca.capabilities import (
    TERMINAL_JOB_STATUSES,
    Billing,
    Clusters,
    Compute,
    Exporter,
    FileSystem,
    FileSystems,
    Job,
    Jobs,
    Metrics,
    MetricSample,
    Node,
    Nodes,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    Unsupported,
    Usage,
    UsageRecord,
    WaitTimeout,
    metric_table,
    wait_for_status,
)
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

from ..conftest import MakeProbeUser
from ..library import (
    print_visible_devices_then_sleep,
    printed_visible_devices,
    time_resolution,
    visible_devices,
)
from .conftest import (
    CardPool,
    Submit,
    billed_card_seconds,
    card_pools,
    cards_listed,
    cards_of,
    node_of,
    sleeper,
    wait_or_last,
)
from .test_6_04_monitoring import by_node, metrics_source, node_names, of_names

#: Vendor names (as platforms spell them, lower case) of domestic accelerator makers.
DOMESTIC_VENDORS = {
    "huawei": ("huawei", "ascend"), "cambricon": ("cambricon", "mlu"),
    "hygon": ("hygon", "dcu"), "kunlunxin": ("kunlunxin", "kunlun"),
    "metax": ("metax",), "iluvatar": ("iluvatar",), "moorethreads": ("mthreads", "moore"),
    "enflame": ("enflame",), "biren": ("biren",), "sophgo": ("sophgo",),
}

#: How long probe jobs that must stay up run (the check stops them; the adapter removes them).
HOLD_S = 600
#: How many of the listed file systems 6.2.f tries (each costs two SSH round trips).
MOST_FILESYSTEMS = 4
#: How long the metering probe runs: its run time is at least this.
METER_PROBE_S = 2.0
#: Relative tolerance between a metered quantity and request × metered run time.
METER_TOLERANCE = 0.05
#: Slack (s) between a record's interval and its run time, and on the check's own clocks.
CLOCK_SLACK_S = 0.5

ONE_CARD: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1}


def _domestic_vendor(vendor: str, model: str) -> str | None:
    text = f"{vendor} {model}".lower()
    return next((name for name, words in DOMESTIC_VENDORS.items()
                 if any(w in text for w in words)), None)


def _described(value: object) -> bool:
    """A vendor or model name, not a placeholder."""
    return isinstance(value, str) and value.strip().lower() not in ("", "unknown", "none",
                                                                    "n/a", "null")


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.mark.clause("6.2.a")
def test_inventory_manages_heterogeneous_resources(sca: CheckContext, compute: Compute,
                                                   request: pytest.FixtureRequest) -> None:
    """The inventory lists every node with a positive CPU count and memory size, and
    accelerators with a real vendor and model: CPU, memory and cards under one API. Where the
    target's monitoring reports cards (its exporters' per-card series, a second source), no
    exporter reports more cards on a node than the inventory lists for it: a card the node
    has and the platform does not list is not managed."""
    nodes = compute.list_nodes()
    assert nodes, "[6.2.a] the inventory lists no node"
    unsized = {n.get("id"): {"cpu": n.get("cpu"), "memory_gib": n.get("memory_gib")}
               for n in nodes if not (_positive(n.get("cpu")) and _positive(n.get("memory_gib")))}
    cards = [c for n in nodes for c in n.get("accelerators") or []]
    described = [c for c in cards if _described(c.get("vendor")) and _described(c.get("model"))]
    summary = {n.get("id"): {"cpu": n.get("cpu"), "memory_gib": n.get("memory_gib"),
                             "accelerators": sorted({f"{c.get('vendor')} {c.get('model')}"
                                                     for c in n.get("accelerators") or []})}
               for n in nodes}
    sca.evidence("inventory", summary)
    sca.measure("accelerators managed", len(described), "cards")
    assert not unsized, f"[6.2.a] nodes listed without a CPU count or memory size: {unsized}"
    assert described, (f"[6.2.a] the inventory lists no accelerator with vendor and model "
                       f"on any of {len(nodes)} nodes")
    beyond = _cards_beyond_the_inventory(sca, request, nodes)
    assert not beyond, (f"[6.2.a] exporters report cards the inventory does not list: "
                        f"{dict(list(beyond.items())[:5])}")


#: Per node: what the inventory and each exporter say (node id → text).
CardCounts = dict[str, str]


def exporter_card_counts(nodes: Sequence[Node], table: Mapping[str, Exporter],
                         found: Mapping[str, list[MetricSample]], max_age: float, now: float
                         ) -> tuple[CardCounts, CardCounts, CardCounts]:
    """(compared, beyond, lagging): for each inventory node some exporter reports cards of,
    what the inventory and each exporter say; the nodes on which one exporter reports more
    distinct cards in current series (no timestamp, or at most ``max_age`` s old at ``now``)
    than the inventory lists; those on which it does only counting older series. ``found``:
    exporter → its accelerator samples."""
    index = by_node(table, found)
    compared: CardCounts = {}
    beyond: CardCounts = {}
    lagging: CardCounts = {}
    for node in nodes:
        listed = len(node.get("accelerators") or [])
        current: dict[str, set[str]] = {}  # exporter → its cards with a current series
        reported: dict[str, set[str]] = {}  # exporter → every card it reports
        for exporter, sample in of_names(index, node_names(node)):
            card = str(sample.labels.get(table[exporter].card_label or "index"))
            reported.setdefault(exporter, set()).add(card)
            if sample.timestamp is None or now - sample.timestamp <= max_age:
                current.setdefault(exporter, set()).add(card)
        if not reported:
            continue
        said = (f"the inventory lists {listed} card(s); "
                + ", ".join(f"{e} reports {len(c)} ({len(current.get(e, ()))} current)"
                            for e, c in sorted(reported.items())))
        compared[str(node.get("id"))] = said
        if any(len(c) > listed for c in current.values()):
            beyond[str(node.get("id"))] = said
        elif any(len(c) > listed for c in reported.values()):
            lagging[str(node.get("id"))] = said
    return compared, beyond, lagging


def _cards_beyond_the_inventory(sca: CheckContext, request: pytest.FixtureRequest,
                                nodes: Sequence[Node]) -> dict[str, str]:
    """Nodes on which one exporter reports more distinct cards, in current series, than the
    inventory lists: node → what each says. Each exporter is compared alone (a node's cards
    of several vendors have several exporters; two exporters may report one card). Where the
    excess is only in series older than the monitoring's staleness bound, the cards may be gone
    and the exporter lagging: :class:`TargetError`. Without ``metrics``, or where they cannot
    be read, the inventory's word stands and the evidence says so; a node no exporter reports
    cards of is not compared."""
    try:
        metrics: Metrics = request.getfixturevalue("metrics")
        table = metric_table(sca.settings.metrics.names)
        found = {name: [s for s in metrics.samples(metric) if s.labels.get(e.node_label)]
                 for name, e in table.items() if (metric := e.names.get("accelerator"))}
    except (NotAssessed, Unsupported, Refused, TargetError) as unread:
        sca.evidence("second source", f"none: the target's metrics could not be read "
                                      f"({unread}); the inventory's word stands")
        return {}
    max_age = sca.threshold("perf.monitoring.max_staleness_s").value
    compared, beyond, lagging = exporter_card_counts(nodes, table, found, max_age, time.time())
    sca.evidence("second source", {
        "source": metrics_source(metrics),
        "cards per node": compared or "no exporter reports cards of an inventory node",
        "nodes not compared": sorted(str(n.get("id")) for n in nodes
                                     if str(n.get("id")) not in compared)})
    if lagging and not beyond:
        raise TargetError(f"[6.2.a] exporters report more cards than the inventory lists only "
                          f"in series older than {max_age:g} s (gone cards, or an exporter "
                          f"lagging?): {dict(list(lagging.items())[:5])}")
    return beyond


@pytest.mark.clause("6.2.b")
@pytest.mark.mutating
@pytest.mark.parametrize("case", ["whole-card", "multi-card", "half-card"])
def test_allocation_by_whole_multiple_and_fractional_cards(
        sca: CheckContext, jobs: Jobs, submit: Submit, case: str) -> None:
    """Jobs requesting 1 card and 2 cards are given that many and see exactly that many
    distinct devices; two jobs requesting half a card each run side by side on one card."""
    if case == "half-card":
        _half_cards(sca, jobs, submit)
    else:
        _whole_cards(sca, jobs, submit, 1 if case == "whole-card" else 2)


def _whole_cards(sca: CheckContext, jobs: Jobs, submit: Submit, cards: int) -> None:
    """The platform's record of the running job and the device-visibility variables it was
    given both show ``cards`` distinct cards."""
    start_wait = sca.settings.jobs.start_timeout_s
    job = submit(f"alloc-{cards}", print_visible_devices_then_sleep(HOLD_S),
                 {"cpu": 1, "memory_gib": 1, "accelerators": cards})
    # Read while it runs: a record of a running job must say which cards it holds (some
    # platforms forget them once it ends).
    running = wait_or_last(jobs, job["id"], {"running", "succeeded", "failed", "stopped"},
                           start_wait)
    if running.get("status") != "running":
        raise TargetError(f"[6.2.b] the {cards}-card probe job {job['id']} is "
                          f"{running.get('status')}, not running: nothing it sees can be read")
    devices = visible_devices(printed_visible_devices(jobs, job["id"], start_wait))
    record = jobs.get(job["id"])
    jobs.stop(job["id"])
    held, listed = cards_of(record), cards_listed(record)
    sca.evidence("devices", {"job": job["id"], "visible": devices, "held (platform)": held})
    assert devices is not None and len(devices) == cards and len(set(devices)) == cards, (
        f"[6.2.b] a job requesting {cards} card(s) sees {devices}")
    if listed[:1] == [None]:
        raise TargetError(f"[6.2.b] the record of the running {cards}-card job {job['id']} "
                          "does not say which cards it holds")
    assert len(held) == cards and len(set(held)) == cards, (
        f"[6.2.b] a job requesting {cards} card(s) was given "
        f"{held or 'no card, as its record lists'}")


def _half_cards(sca: CheckContext, jobs: Jobs, submit: Submit) -> None:
    """Two half-card jobs run at once, each sees one device, and the platform records both on
    the same card of the same node."""
    start_wait = sca.settings.jobs.start_timeout_s
    halves = []
    for n in range(2):
        try:
            halves.append(submit(f"alloc-half{n}", print_visible_devices_then_sleep(HOLD_S), {
                "cpu": 0.5, "memory_gib": 0.5, "accelerators": 1, "accelerator_share": 0.5}))
        except Refused as refusal:
            raise AssertionError(f"[6.2.b] a half-card request was refused: {refusal}") from None
    running = [wait_or_last(jobs, h["id"], {"running", "succeeded", "failed"}, start_wait)
               for h in halves]
    both = all(j.get("status") == "running" for j in running)
    held = [(node_of(j), tuple(cards_of(j))) for j in running]
    seen = [visible_devices(printed_visible_devices(jobs, j["id"], start_wait))
            if j.get("status") == "running" else None for j in running]
    for job in halves:
        jobs.stop(job["id"])
    sca.evidence("half cards", {"statuses": [j.get("status") for j in running],
                                "held (platform)": held, "visible": seen})
    assert both, (f"[6.2.b] two half-card jobs did not run side by side: "
                  f"{[j.get('status') for j in running]}")
    assert held[0] == held[1] and len(held[0][1]) == 1, (
        f"[6.2.b] two half-card jobs do not share one card: they hold {held}")
    assert all(devices is not None and len(devices) == 1 for devices in seen), (
        f"[6.2.b] a half-card job sees {seen}, not one device")


def _card_seconds(records: list[UsageRecord], resource: str) -> float:
    return sum(float(r.get("quantity") or 0.0) for r in records if r.get("resource") == resource)


@pytest.mark.clause("6.2.c")
@pytest.mark.mutating
def test_lifecycle_from_request_to_release(sca: CheckContext, probe_tenant: MakeProbeUser,
                                           compute: Compute, billing: Billing, usage: Usage,
                                           probe_image: str) -> None:
    """One probe job goes through apply → schedule → run → stop (govern) → meter/bill →
    release: each stage is observable, the metered card time fits what the check saw and the
    bill carries it, and after release no card is held and no usage accrues."""
    start_wait = sca.settings.jobs.start_timeout_s
    user = probe_tenant("life")
    began = time.monotonic()
    job = user.jobs.submit(sca.name("life"), probe_image, sleeper(HOLD_S), ONE_CARD,
                           labels=sca.labels)
    stages: dict[str, object] = {"applied": job.get("status")}
    running = user.jobs.wait(job["id"], until={"running"}, timeout=start_wait)
    seen_running = time.monotonic()
    stages["running on"] = node_of(running)
    time.sleep(1.0)  # a measurable run time before it is stopped
    stop_called = time.monotonic()
    user.jobs.stop(job["id"])
    stopped = user.jobs.wait(job["id"], timeout=start_wait)
    ended = time.monotonic()
    stages["governed (stopped)"] = stopped.get("status")
    events = [e.get("type") for e in user.jobs.events(job["id"])]
    stages["events"] = events
    metered = usage.records(job_id=job["id"])
    card_seconds = _card_seconds(metered, "accelerator")
    stages["metered card-seconds"] = card_seconds
    bills = billing.acting_as(user.user["api_key"]).bills()
    lines = [line for bill in bills for line in bill.get("lines") or []
             if line.get("resource") == "accelerator"]
    charged = sum(float(line.get("amount") or 0.0) for line in lines)
    stages["accelerator charge"] = charged
    user.jobs.delete(job["id"])
    held = [(n.get("id"), c.get("index")) for n in compute.list_nodes()
            for c in n.get("accelerators") or []
            if c.get("allocated_to") == job["id"] or job["id"] in (c.get("shares") or {})]
    time.sleep(1.0)
    later = _card_seconds(usage.records(job_id=job["id"]), "accelerator")
    stages["cards held after release"] = held
    stages["metered card-seconds 1 s after release"] = later
    sca.evidence("life cycle", stages)
    missing = [e for e in ("Created", "Scheduled", "Started", "Stopped") if e not in events]
    assert not missing, f"[6.2.c] life-cycle stages not observable: no {missing} event"
    assert stopped.get("status") == "stopped", (
        f"[6.2.c] job {job['id']} was stopped but ended {stopped.get('status')}")
    assert metered, f"[6.2.c] no usage record metered for job {job['id']}"
    ran_at_least, ran_at_most = stop_called - seen_running, ended - began
    assert ran_at_least - CLOCK_SLACK_S <= card_seconds <= ran_at_most + CLOCK_SLACK_S, (
        f"[6.2.c] job {job['id']} held 1 card for {ran_at_least:.2f}–{ran_at_most:.2f} s; "
        f"{card_seconds:.2f} card-seconds metered")
    assert charged > 0, f"[6.2.c] the tenant's bill charges nothing for job {job['id']}"
    billed = billed_card_seconds(lines, "6.2.c")
    assert billed == pytest.approx(card_seconds, rel=0.01, abs=0.01), (
        f"[6.2.c] the tenant's bill carries {billed:.2f} card-seconds; its only job "
        f"{job['id']} was metered {card_seconds:.2f}")
    priced = [(float(line["quantity"]), float(line["unit_price"])) for line in lines
              if line.get("quantity") is not None and line.get("unit_price") is not None]
    if len(priced) == len(lines):
        # Where the price is known, the charge is the billed card time at that price.
        due = sum(quantity * price for quantity, price in priced)
        assert charged == pytest.approx(due, rel=0.01, abs=1e-4), (
            f"[6.2.c] the tenant's bill charges {charged:.6f} for job {job['id']}; its card "
            f"time at its own unit price comes to {due:.6f}")
    assert not held, f"[6.2.c] after release, cards still allocated to job {job['id']}: {held}"
    assert later == pytest.approx(card_seconds), (
        f"[6.2.c] usage of job {job['id']} kept accruing after release: {card_seconds:.2f} "
        f"then {later:.2f} card-seconds")


@pytest.mark.clause("6.2.d")
@pytest.mark.mutating
@pytest.mark.parametrize("kind", ["baremetal", "container"])
def test_cluster_created_on_demand(sca: CheckContext, clusters: Clusters, compute: Compute,
                                   probe_tenant: MakeProbeUser, probe_image: str,
                                   kind: str) -> None:
    """A tenant admin creates a 1-node cluster of ``kind``; it becomes ready with a node of
    its kind, and a probe job pinned to it runs there."""
    start_wait = sca.settings.jobs.start_timeout_s
    admin = probe_tenant(f"cluster-{kind}", role="tenant_admin")
    own = clusters.acting_as(admin.user["api_key"])
    created = own.create_cluster(sca.name(f"ondemand-{kind}"), kind, 1, labels=sca.labels)
    cluster = wait_for_status(lambda: own.get_cluster(created["id"]),
                              {"ready", "failed", "error"},
                              sca.settings.clusters.ready_timeout_s,
                              f"{kind} cluster {created['id']}")
    node_ids = cluster.get("node_ids") or []
    nodes = [compute.get_node(n) for n in node_ids]
    assert cluster.get("status") == "ready" and nodes, (
        f"[6.2.d] {kind} cluster {cluster['id']} is {cluster.get('status')} with "
        f"{len(nodes)} node(s)")
    wrong = [n.get("id") for n in nodes if n.get("kind") != kind]
    assert not wrong, f"[6.2.d] nodes {wrong} of the {kind} cluster are not {kind}"
    job = admin.jobs.submit(sca.name(f"ondemand-{kind}"), probe_image, sleeper(0.1),
                            {**ONE_CARD, "cluster_id": cluster["id"]}, labels=sca.labels)
    try:
        done = admin.jobs.wait(job["id"], until={"succeeded", "failed"}, timeout=start_wait)
    except WaitTimeout as exc:
        last = exc.last if isinstance(exc.last, dict) else {}
        raise AssertionError(f"[6.2.d] a job pinned to the new {kind} cluster "
                             f"{cluster['id']} stayed {last.get('status')}") from None
    placed = node_of(done)
    sca.evidence("cluster created on demand", {
        "cluster": cluster["id"], "nodes": node_ids, "job": done.get("status"),
        "ran on": placed})
    assert done.get("status") == "succeeded" and placed in node_ids, (
        f"[6.2.d] a job pinned to the new {kind} cluster {cluster['id']} "
        f"{done.get('status')} on {placed}")


@dataclass(frozen=True)
class VendorProbe:
    """What a vendor's one-card probe job showed: ``used`` (it ran on a node the inventory
    gives the model and saw one card), ``unusable`` (observed not to: refused, failed, placed
    elsewhere, another number of cards, held back while cards were free) or ``unknown``
    (could not find out: no free card, busy, nothing readable), and what was seen."""

    state: str
    seen: str


def _free_pool(pools: Sequence[CardPool]) -> CardPool | None:
    """The pool of ``pools`` with the most free cards, or None when none has one."""
    free = [p for p in pools if p.free]
    return max(free, key=lambda p: p.free) if free else None


def _vendor_probe(sca: CheckContext, jobs: Jobs, compute: Compute, job: Job,
                  pool: CardPool) -> VendorProbe:
    """Whether the one-card ``job`` asking for ``pool``'s model runs on a node the inventory
    gives that model and sees exactly one card."""
    start_wait = sca.settings.jobs.start_timeout_s
    running = wait_or_last(jobs, job["id"], {"running", *TERMINAL_JOB_STATUSES}, start_wait)
    status = running.get("status")
    asked = f"its one-card {pool.model} job {job['id']}"
    if status == "failed":
        return VendorProbe("unusable", f"{asked} failed: {_last_reason(jobs, job['id'])}")
    if status in TERMINAL_JOB_STATUSES:
        return VendorProbe("unknown", f"{asked} ended {status} before it could be read")
    if status != "running":
        return _held_back(jobs, compute, job, pool, f"{asked} is still {status} after "
                                                    f"{start_wait:g} s")
    node_id = node_of(running)
    if node_id is None:
        return VendorProbe("unknown", f"the record of {asked} names no node")
    models = {str(c.get("model")) for c in compute.get_node(node_id).get("accelerators") or []}
    if pool.model not in models:
        return VendorProbe("unusable", f"{asked} runs on {node_id}, which the inventory gives "
                                       f"{sorted(models)}")
    try:
        devices = visible_devices(printed_visible_devices(jobs, job["id"], start_wait))
    except TargetError as unread:
        return VendorProbe("unknown", f"{asked}: {unread}")
    if devices is None:
        return VendorProbe("unknown", f"{asked} runs on {node_id} but no visibility variable "
                                      "names its cards")
    if len(set(devices)) != 1:
        return VendorProbe("unusable", f"{asked} on {node_id} sees {devices}")
    return VendorProbe("used", f"{asked} runs on {node_id} and sees card {devices[0]}")


def _held_back(jobs: Jobs, compute: Compute, job: Job, pool: CardPool, said: str
               ) -> VendorProbe:
    """A probe job that did not start: ``unusable`` while the inventory lists free cards of
    its model and it waits for no quota; ``unknown`` when every card is taken meanwhile or a
    quota holds it (the check's own principal may be at its limit)."""
    reason = _last_reason(jobs, job["id"])
    free = next((p.free for p in card_pools(compute.list_nodes()) if p.model == pool.model), 0)
    if "quota" in reason.lower():
        return VendorProbe("unknown", f"{said}, held by a quota ({reason})")
    if not free:
        return VendorProbe("unknown", f"{said}: every {pool.model} card is taken now")
    return VendorProbe("unusable", f"{said} while the inventory lists {free} free "
                                   f"{pool.model} card(s) ({reason})")


def _last_reason(jobs: Jobs, job_id: str) -> str:
    """The reason and message of the job's last event, as evidence of why it ended."""
    events = jobs.events(job_id)
    return f"{events[-1].get('reason')}: {events[-1].get('message')}" if events else "no event"


@pytest.mark.clause("6.2.e")
@pytest.mark.mutating
def test_three_domestic_accelerator_vendors_managed(sca: CheckContext, compute: Compute,
                                                    request: pytest.FixtureRequest) -> None:
    """Accelerators of at least three domestic vendors appear in the managed inventory and
    can be used: for each vendor a one-card probe job (all at once) asking for a free model
    of it runs on a node the inventory gives that model and sees exactly one card. A vendor
    the check could not try (no free card, all taken meanwhile) leaves the item undecided
    (``error``) unless three others were used."""
    found: dict[str, set[str]] = {}
    pools: dict[str, list[CardPool]] = {}
    for pool in card_pools(compute.list_nodes()):
        vendor = _domestic_vendor(pool.vendor, pool.model)
        if vendor:
            found.setdefault(vendor, set()).add(pool.model)
            pools.setdefault(vendor, []).append(pool)
    sca.evidence("domestic vendors", {v: sorted(m) for v, m in found.items()})
    sca.measure("domestic accelerator vendors", len(found), "vendors", threshold=3)
    assert len(found) >= 3, (
        f"[6.2.e] {len(found)} domestic accelerator vendor(s) managed "
        f"({', '.join(sorted(found)) or 'none'}), at least 3 required")
    # Asked for only now: an inventory of fewer vendors fails whether or not jobs can run.
    jobs: Jobs = request.getfixturevalue("jobs")
    submit: Submit = request.getfixturevalue("submit")
    probes: dict[str, VendorProbe] = {}
    submitted: dict[str, tuple[Job, CardPool]] = {}
    # Every job first, then each one read: the vendors are tried side by side.
    for vendor, offered in sorted(pools.items()):
        chosen = _free_pool(offered)
        if chosen is None:
            probes[vendor] = VendorProbe("unknown", f"no free card of {sorted(found[vendor])}")
            continue
        try:
            submitted[vendor] = (submit(f"vendor-{vendor}", print_visible_devices_then_sleep(
                HOLD_S), {**ONE_CARD, "accelerator_model": chosen.model}), chosen)
        except Refused as refusal:
            probes[vendor] = VendorProbe(
                "unknown" if refusal.reason is RefusalReason.QUOTA else "unusable",
                f"a one-card {chosen.model} job was refused: {refusal}")
    for vendor, (job, pool) in submitted.items():
        probes[vendor] = _vendor_probe(sca, jobs, compute, job, pool)
    for job, _ in submitted.values():
        # Frees the cards early; one that already ended refuses, and is removed at the end.
        with contextlib.suppress(Refused):
            jobs.stop(job["id"])
    used = sorted(v for v, p in probes.items() if p.state == "used")
    unknown = sorted(v for v, p in probes.items() if p.state == "unknown")
    sca.evidence("domestic vendors used", {v: f"{p.state}: {p.seen}" for v, p in probes.items()})
    sca.measure("domestic accelerator vendors used", len(used), "vendors", threshold=3)
    if len(used) >= 3:
        return
    unusable = {v: p.seen for v, p in probes.items() if p.state == "unusable"}
    if len(used) + len(unknown) >= 3:
        raise TargetError(f"[6.2.e] inconclusive: {len(used)} domestic vendor(s) used "
                          f"({', '.join(used) or 'none'}), could not try "
                          f"{ {v: probes[v].seen for v in unknown} }")
    raise AssertionError(
        f"[6.2.e] {len(used)} domestic accelerator vendor(s) usable "
        f"({', '.join(used) or 'none'}), at least 3 required; listed but not usable: {unusable}")


@pytest.mark.clause("6.2.f")
@pytest.mark.mutating
def test_shared_filesystem_mounted_on_nodes(sca: CheckContext, nodes: Nodes,
                                            filesystems: FileSystems, cleanup: Cleanup) -> None:
    """Each file system the platform lists as mounted (the first few) is shared by two of its
    nodes: a file written on one is read back, byte for byte, on the other."""
    names = nodes.nodes()
    mounted = [f for f in filesystems.list_filesystems() if f.get("mount_path")]
    assert mounted, "[6.2.f] the platform lists no mounted file system"
    tried: dict[str, str] = {}
    problems: list[str] = []
    for fs in mounted[:MOST_FILESYSTEMS]:
        on = [n for n in names if n in (fs.get("nodes") or names)]
        if len(on) < 2:
            tried[str(fs.get("name"))] = "fewer than two of its nodes reachable over SSH"
            continue
        problem = _not_shared(sca, nodes, cleanup, fs, on[0], on[1])
        tried[str(fs.get("name"))] = problem or f"shared by {on[0]} and {on[1]}"
        if problem:
            problems.append(problem)
    sca.evidence("file systems tried", {"listed": mounted, "tried": tried})
    assert not problems, f"[6.2.f] {'; '.join(problems)}"
    if all(not outcome.startswith("shared") for outcome in tried.values()):
        sca.not_assessed(f"fewer than two SSH nodes of the target mount any of "
                         f"{sorted(tried)}: list two of their nodes under adapters.ssh")


def _not_shared(sca: CheckContext, nodes: Nodes, cleanup: Cleanup, fs: FileSystem,
                writer: str, reader: str) -> str | None:
    """Why a random token written under ``fs`` on ``writer`` is not read back byte for byte on
    ``reader``; None when it is."""
    path = _shell_path(fs["mount_path"]) + "/" + shlex.quote(sca.name("fs-probe"))
    token = sca.name(f"fs-{time.time_ns()}")
    wrote = nodes.run(writer, f"printf %s {shlex.quote(token)} > {path}")
    # A file written over SSH: no adapter created it, so the check removes it itself.
    cleanup.add(f"remove {path} on {writer}", lambda: nodes.run(writer, f"rm -f {path}"))
    if wrote.exit_status != 0:
        return f"cannot write under {fs['mount_path']} on {writer}: {wrote.stderr[:200]}"
    read = nodes.run(reader, f"cat {path}")
    if read.exit_status == 0 and read.stdout == token:
        return None
    return (f"a file written on {writer} under {fs['mount_path']} ({fs.get('name')}) is not "
            f"visible on {reader}: {read.stderr.strip()[:200] or read.stdout[:200]}")


def _shell_path(mount_path: str) -> str:
    """A mount path for a shell command line; ``~/x`` stays relative to the home directory."""
    if mount_path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(mount_path[2:])
    return shlex.quote(mount_path)


def _instant(text: str | None) -> datetime | None:
    """An RFC 3339 time (``Z`` or an offset), or None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _record_seconds(record: UsageRecord) -> float:
    """The run time a usage record meters: its ``run_seconds``, else its interval."""
    if record.get("run_seconds") is not None:
        return float(record["run_seconds"])
    start, end = _instant(record.get("start")), _instant(record.get("end"))
    if start is None or end is None:
        raise TargetError(f"[6.2.g] usage record {record.get('id')} says neither its run time "
                          f"nor its interval: {record}")
    return (end - start).total_seconds()


def _record_resolution(record: UsageRecord) -> float:
    """How coarse a usage record's run time is: 1 s where its interval is in whole seconds,
    or it gives only a whole number of run seconds; else a millisecond."""
    stamps = [str(record[key]) for key in ("start", "end") if record.get(key)]
    if stamps:
        return time_resolution(*stamps)
    run = record.get("run_seconds")
    return 1.0 if run is not None and float(run).is_integer() else 0.001


@pytest.mark.clause("6.2.g")
@pytest.mark.mutating
def test_metering_matches_what_ran(sca: CheckContext, jobs: Jobs, usage: Usage,
                                   submit: Submit) -> None:
    """A probe holding 2 CPU, 3 GiB and 2 cards sleeps 2 s: each resource is metered as its
    request × a run time of at least 2 s and at most what the check saw from submission to
    end, and each record's run time agrees with its own interval."""
    start_wait = sca.settings.jobs.start_timeout_s
    requests_: Resources = {"cpu": 2, "memory_gib": 3, "accelerators": 2}
    began = time.monotonic()
    job = submit("meter", sleeper(METER_PROBE_S), requests_)
    done = jobs.wait(job["id"], timeout=start_wait + METER_PROBE_S)
    observed = time.monotonic() - began
    if done.get("status") != "succeeded":
        raise TargetError(f"[6.2.g] the metering probe {job['id']} ended {done.get('status')}: "
                          "there is no known run time to compare the metering with")
    records = [r for r in usage.records(job_id=job["id"]) if r.get("job_id") == job["id"]]
    sca.evidence("usage records", records)
    assert records, f"[6.2.g] no usage record for job {job['id']}"
    wanted = {"cpu": float(requests_["cpu"]), "memory": float(requests_["memory_gib"]),
              "accelerator": float(requests_["accelerators"])}
    metered: dict[str, float] = {}
    seconds: dict[str, float] = {}
    inconsistent = []
    for record in records:
        resource = str(record.get("resource"))
        ran = _record_seconds(record)
        metered[resource] = metered.get(resource, 0.0) + float(record.get("quantity") or 0.0)
        seconds[resource] = seconds.get(resource, 0.0) + ran
        start, end = _instant(record.get("start")), _instant(record.get("end"))
        if start is not None and end is not None:
            interval = (end - start).total_seconds()
            if abs(interval - ran) > max(CLOCK_SLACK_S, 0.1 * ran):
                inconsistent.append(f"{record.get('id')}: {ran:.2f} s metered over "
                                    f"{interval:.2f} s")
    missing = sorted(set(wanted) - set(metered))
    assert not missing, f"[6.2.g] job {job['id']} was not metered for {missing}"
    sca.measure("run time seen by the check", observed, "s")
    # A record of whole seconds (Slurm's accounting) can round a 2.3 s run up to 3 s.
    resolution = max((_record_resolution(r) for r in records), default=0.0)
    for resource, amount in wanted.items():
        ran = seconds[resource]
        sca.measure(f"{resource} metered", metered[resource], "per-second units")
        assert (METER_PROBE_S * (1 - METER_TOLERANCE) <= ran
                <= observed + resolution + CLOCK_SLACK_S), (
            f"[6.2.g] {resource} of job {job['id']} metered for {ran:.2f} s; it ran at least "
            f"{METER_PROBE_S:g} s and at most {observed:.2f} s (seen by the check)"
            + (f", to the records' whole seconds at most {observed + resolution:.2f} s"
               if resolution >= 1.0 else ""))
        assert metered[resource] == pytest.approx(amount * ran, rel=METER_TOLERANCE), (
            f"[6.2.g] {resource} metered {metered[resource]:.2f} for {amount:g} × "
            f"{ran:.2f} s")
    assert not inconsistent, (
        f"[6.2.g] usage records of job {job['id']} meter a run time their own interval does "
        f"not hold: {inconsistent}")
