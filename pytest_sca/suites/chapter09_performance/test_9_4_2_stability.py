"""9.4.2 稳定性 Stability: management service, long jobs, topology, monitoring at scale."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pytest

from pytest_sca.capabilities import (
    CardSeries,
    Compute,
    Job,
    Jobs,
    JobTopology,
    Node,
    Refused,
    TargetError,
    Telemetry,
    Topology,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.metrics import scaling
from pytest_sca.probes.results import paced_result, progress_marks

from ..library import (
    DEVICE_VARIABLES,
    SeenByJob,
    inventory_node,
    print_visible_devices_then_sleep,
    printed_visible_devices,
    seen_by_job,
)
from .probe_jobs import (
    finished_probe,
    job_timeout,
    resources,
    submit_probe,
)

#: Cards per metrics query: a fleet of thousands is read in a few requests, not one per card.
SERIES_BATCH = 200
INVENTORY_PAGE = 500
#: Seconds between the two reads of every card's series (a metric read once proves nothing
#: about whether it is still being sampled).
REREAD_AFTER_S = 2.0
#: How far a sample's time may lie ahead of this machine's clock (clock skew) before it is a
#: made-up time, and how far ``last_sample_at`` may differ from the newest sample's time.
FUTURE_SLACK_S = 5.0
LAST_SAMPLE_SLACK_S = 1.0
#: Workers and cards per worker of the topology probe job, and how long it stays up (the
#: adapter removes it at the end of the check).
TOPOLOGY_WORKERS, TOPOLOGY_CARDS = 2, 2
TOPOLOGY_HOLD_S = 60


#: How long 9.4.2.a tries to read the API once before it measures (longer than an outage a
#: retrying client rides out, shorter than a check's budget).
READABLE_WITHIN_S = 10.0


def _read_once_within(seconds: float, reads: Sequence[Callable[[], object]]) -> None:
    """Each read answered once, trying again every half second until ``seconds`` pass; the
    last :class:`TargetError` when one never is (the target cannot be reached)."""
    deadline = time.monotonic() + seconds
    for read in reads:
        while True:
            try:
                read()
                break
            except TargetError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)


@pytest.mark.clause("9.4.2.a")
@pytest.mark.measuring
def test_management_api_available_under_steady_load(sca: CheckContext, compute: Compute,
                                                    jobs: Jobs) -> None:
    """Sends a steady, bounded load of read requests (info, nodes, jobs) to the management
    API, each sent once and never retried; the share answered successfully must reach the
    declared ratio. Failed and refused requests are counted, never hidden."""
    minimum = sca.threshold("perf.availability.min_success_ratio")
    seconds = sca.settings.perf.availability.seconds
    rate = sca.settings.perf.availability.rate_per_s
    # A platform that cannot be reached at all leaves nothing to measure: these raise, and
    # the check errors. They go through the ordinary client and are tried again for a few
    # seconds, so that a momentary outage is not taken for an unreachable target: this is
    # no measurement, the one below sends every request once.
    _read_once_within(READABLE_WITHIN_S, (compute.platform_info, compute.list_nodes,
                                          lambda: jobs.list_jobs(status="running")))
    measured_compute, measured_jobs = compute.unretried(), jobs.unretried()
    calls: Sequence[tuple[str, Callable[[], object]]] = (
        ("platform info", measured_compute.platform_info),
        ("node list", measured_compute.list_nodes),
        ("running jobs", lambda: measured_jobs.list_jobs(status="running")))
    count = max(1, int(seconds * rate))
    failed: list[str] = []
    refused: list[str] = []
    latencies: list[float] = []
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        what, call = calls[index % len(calls)]
        began = time.monotonic()
        try:
            call()
        except Refused as refusal:  # a throttled or refused read is not an available service
            refused.append(f"{what}: {refusal}")
            continue
        except TargetError as exc:  # 5xx, timeout, lost connection: counted, never retried
            failed.append(f"{what}: {exc}")
            continue
        latencies.append(time.monotonic() - began)
    ratio = len(latencies) / count
    sca.measure("management API success ratio", ratio, "ratio", threshold=minimum.value,
                comparison=">=", threshold_source=minimum.source,
                reference=f"{count} requests at {rate:g}/s over {seconds:g} s, each sent once")
    sca.measure("failed requests (5xx, timeout, no answer)", len(failed), "requests")
    sca.measure("refused requests (4xx)", len(refused), "requests")
    sca.measure("retried requests", 0, "requests",
                reference="measured through the capabilities' unretried view: every request "
                          "was sent exactly once")
    if latencies:
        sca.measure("management API latency p50", scaling.percentile(latencies, 50), "s")
        sca.measure("management API latency p99", scaling.percentile(latencies, 99), "s")
    if failed or refused:
        sca.evidence("failed and refused requests", (failed + refused)[:20])
    first = (failed + refused)[0] if failed or refused else "-"
    assert ratio >= minimum.value, (
        f"[9.4.2.a] management API answered {ratio:.1%} of {count} requests, below "
        f"{minimum.value:.1%} ({len(failed)} failed, {len(refused)} refused; first: {first})")


@pytest.mark.clause("9.4.2.b")
@pytest.mark.mutating
def test_long_job_is_not_interrupted(sca: CheckContext, jobs: Jobs, probe_image: str) -> None:
    """Runs a probe job of the declared length; it must complete on its first attempt, with
    no restart or failure event, its progress never starting over, and every step done."""
    seconds = sca.settings.perf.long_job.seconds
    steps = max(1, int(seconds / 0.5))
    job = submit_probe(sca, jobs, probe_image, "paced",
                       {"work": "paced", "steps": steps, "step_seconds": seconds / steps},
                       suffix="long")
    done = jobs.wait(job["id"], timeout=seconds * 3 + job_timeout(sca))
    events = [f"{e.get('type')}:{e.get('reason')}" for e in jobs.events(job["id"])]
    sca.evidence("job events", events)
    sca.measure("long job length", seconds, "s", reference="capabilities.perf.long_job.seconds")
    interruptions = [e for e in events if e.split(":")[0] in ("Failed", "Restarted", "Stopped")]
    attempt = done.get("attempt", 1)
    marks = progress_marks(jobs.logs(job["id"]))
    restarts = sum(1 for before, after in zip(marks, marks[1:], strict=False) if after <= before)
    sca.measure("platform interruptions", len(interruptions) + (attempt - 1) + restarts,
                "count", threshold=0, comparison="<=", threshold_source="the requirement")
    assert done.get("status") == "succeeded" and not interruptions and attempt == 1, (
        f"[9.4.2.b] the {seconds:g} s probe job was interrupted: status {done.get('status')} "
        f"(exit {done.get('exit_code')}, attempt {attempt}), events {events}")
    assert not restarts, (
        f"[9.4.2.b] the {seconds:g} s probe job was interrupted: its progress started over "
        f"{restarts} time(s) although the platform reports one attempt ({len(marks)} marks)")
    _, result = finished_probe(sca, jobs, done, paced_result)
    assert result["steps"] == steps and len(marks) == steps, (
        f"[9.4.2.b] the probe job did {result['steps']} of {steps} steps "
        f"({len(marks)} progress marks)")


def _linked_cards(links: Sequence[dict[str, object]], cards: set[str]) -> set[str]:
    """The cards that are an end of at least one link."""
    ends = {str(link.get(side)) for link in links for side in ("from", "to")}
    return {card for card in cards if card in ends}


@dataclass(frozen=True)
class Placement:
    """Where a job's workers are, as one source tells it: rank → node, node → its cards."""

    ranks: dict[int, str]
    cards: dict[str, list[str]]

    def matches(self, other: Placement, *, by_name: bool, cards: bool = True) -> bool:
        """Same node for every rank and (``cards``) the same cards on every node: by name, or
        (where the names come from different numberings) by count."""
        if self.ranks != other.ranks:
            return False
        if not cards:
            return True
        nodes = set(self.cards) | set(other.cards)
        if by_name:
            return all(sorted(self.cards.get(n, [])) == sorted(other.cards.get(n, []))
                       for n in nodes)
        return all(len(self.cards.get(n, [])) == len(other.cards.get(n, [])) for n in nodes)

    def __str__(self) -> str:
        """``bm-1 (ranks 0,1; cards 0,1,2,3)``, node by node."""
        said = []
        for node in sorted(set(self.ranks.values()) | set(self.cards)):
            ranks = ",".join(str(r) for r, n in sorted(self.ranks.items()) if n == node)
            cards = ",".join(sorted(self.cards.get(node, [])))
            said.append(f"{node} (ranks {ranks or 'none'}; cards {cards or 'none'})")
        return " and ".join(said) or "nowhere"


def workers_placement(seen: Mapping[int, SeenByJob], nodes: Sequence[Node]) -> Placement:
    """Where the workers say they run: the inventory node each one's node name names, and the
    cards it sees there; :class:`TargetError` for a name that names no inventory node, or a
    worker told of no card at all (no visibility variable: a runtime that does not say is
    not a topology that is wrong)."""
    ranks: dict[int, str] = {}
    cards: dict[str, list[str]] = {}
    for rank, view in sorted(seen.items()):
        if view.device_variable is None:
            raise TargetError(f"[9.4.2.c] worker {rank} is told of no card (none of "
                              f"{', '.join(DEVICE_VARIABLES)} is set): the cards it runs on "
                              "cannot be told")
        node = inventory_node(nodes, view.node)
        if node is None:
            raise TargetError(f"[9.4.2.c] worker {rank} says it runs on {view.node!r} "
                              f"({view.node_variable or 'no node variable, no host name'}), "
                              "which names no node of the inventory: where it runs cannot be "
                              "told")
        ranks[rank] = str(node.get("id"))
        cards.setdefault(ranks[rank], []).extend(view.devices or [])
    return Placement(ranks, cards)


def shown_placement(view: JobTopology) -> Placement:
    """Where the job's topology shows the workers and their cards."""
    nodes = view.get("nodes") or []
    return Placement({int(r): str(n["id"]) for n in nodes for r in n.get("workers") or []},
                     {str(n["id"]): [str(c["index"]) for c in n.get("accelerators") or []]
                      for n in nodes})


def recorded_placement(job: Job) -> tuple[Placement, bool]:
    """Where the job's record places its workers, and whether it says which cards they hold
    (a worker record without ``accelerators`` does not)."""
    workers = job.get("workers") or []
    cards: dict[str, list[str]] = {}
    for worker in workers:
        cards.setdefault(str(worker.get("node_id")), []).extend(
            str(c) for c in worker.get("accelerators") or [])
    return (Placement({int(w.get("rank", i)): str(w.get("node_id"))
                       for i, w in enumerate(workers)}, cards),
            all("accelerators" in w for w in workers))


@pytest.mark.clause("9.4.2.c")
@pytest.mark.mutating
def test_job_topology_matches_placement(sca: CheckContext, jobs: Jobs, topology: Topology,
                                        compute: Compute, probe_image: str) -> None:
    """Runs a 2-worker job with 2 cards each whose workers print the node and cards they are
    given; its topology must show exactly those nodes, cards and ranks, every card linked,
    links only between them. The platform's record of the job must agree with the workers."""
    job = jobs.submit(sca.name("topo-job"), probe_image,
                      print_visible_devices_then_sleep(TOPOLOGY_HOLD_S),
                      resources(accelerators=TOPOLOGY_CARDS), workers=TOPOLOGY_WORKERS,
                      labels=sca.labels)
    running = jobs.wait(job["id"], until={"running"}, timeout=job_timeout(sca))
    try:
        seen = {rank: seen_by_job(printed_visible_devices(jobs, job["id"], job_timeout(sca),
                                                          worker=rank))
                for rank in range(TOPOLOGY_WORKERS)}
    except TargetError as exc:
        raise TargetError(f"[9.4.2.c] {exc}") from None
    observed = workers_placement(seen, compute.list_nodes())
    # Card names are compared only where every worker saw them named as the platform names
    # its cards; a runtime's own numbering is compared by count.
    by_name = all(worker.devices_as_recorded for worker in seen.values())
    recorded, cards_recorded = recorded_placement(running)
    view = topology.of_job(job["id"])
    shown = shown_placement(view)
    sca.evidence("where the workers run", {
        "the workers": {r: {"node": v.node, "node named by": v.node_variable,
                            "cards": v.devices, "cards named by": v.device_variable}
                        for r, v in seen.items()},
        "compared": "card names" if by_name else "cards per node (the workers' names are a "
                                                 "runtime's, not the platform's)",
        "the record": str(recorded), "the record lists cards": cards_recorded})
    sca.evidence("job topology", view)
    links = view.get("links") or []
    cards = {f"{n}/{c}" for n, shown_cards in shown.cards.items() for c in shown_cards}
    endpoints = set(shown.cards) | cards
    dangling = [link for link in links
                if link.get("from") not in endpoints or link.get("to") not in endpoints]
    unlinked = sorted(cards - _linked_cards(links, cards))
    sca.measure("ranks on the node the topology shows",
                sum(1 for r, n in observed.ranks.items() if shown.ranks.get(r) == n)
                / len(observed.ranks), "ratio", threshold=1.0, comparison=">=",
                threshold_source="the requirement")
    sca.measure("links shown", len(links), "links")
    # Reasons are cut at 300 characters: each problem is said once, shortly (the evidence
    # holds the whole of each view).
    problems = []
    if not shown.matches(observed, by_name=by_name):
        problems.append(f"topology of job {job['id']} does not match where it runs: the "
                        f"workers report {observed}, the topology shows {shown}")
    if not recorded.matches(observed, by_name=by_name, cards=cards_recorded):
        problems.append(f"the job record and the workers disagree: the record says {recorded}"
                        + ("" if problems else f", the workers report {observed}"))
    if dangling:
        problems.append(f"links of job {job['id']}'s topology to unknown ends {dangling[:3]}")
    assert not problems, f"[9.4.2.c] {'; '.join(problems)}"
    assert not unlinked, (
        f"[9.4.2.c] topology of job {job['id']} does not match where it runs: it shows no "
        f"link for the card(s) {unlinked} ({len(links)} links)")


def _sample_time(value: object) -> float | None:
    """A sample's time as epoch seconds (numbers as given, RFC 3339 text parsed)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _read_fleet(telemetry: Telemetry, cards: Sequence[str]) -> tuple[dict[str, CardSeries], int]:
    """Every card's series, in batches: (card → series, requests made)."""
    found: dict[str, CardSeries] = {}
    requests = 0
    for first in range(0, len(cards), SERIES_BATCH):
        requests += 1
        for series in telemetry.card_series(cards[first:first + SERIES_BATCH]):
            found[str(series.get("card"))] = series
    return found, requests


def _newest(series: CardSeries | None) -> float | None:
    """The time of a series' newest sample, read from the samples themselves."""
    if series is None or series.get("found") is False:
        return None
    times = [_sample_time(sample[0]) for sample in series.get("samples") or [] if sample]
    known = [t for t in times if t is not None]
    return max(known) if known else None


@pytest.mark.clause("9.4.2.d")
def test_fleet_monitoring_is_fresh_at_scale(sca: CheckContext, telemetry: Telemetry) -> None:
    """Lists every node and card the platform reports, then reads each card's series twice in
    batches; at both reads every card needs samples whose own times are no older than the
    declared staleness (``last_sample_at`` is checked against them), at the declared scale."""
    max_age = sca.threshold("perf.monitoring.max_staleness_s")
    min_cards = sca.threshold("perf.monitoring.min_cards")
    cards: list[str] = []
    offset, requests = 0, 0
    while True:
        page = telemetry.inventory_page(offset, INVENTORY_PAGE)
        requests += 1
        items = page.get("items") or []
        cards += [f"{n['id']}/{c['index']}" for n in items for c in n.get("accelerators") or []]
        offset += len(items)
        if not items or offset >= int(page.get("total", offset)):
            break
    reads: list[tuple[float, dict[str, float | None]]] = []
    contradicted: dict[str, str] = {}
    for number in range(2):
        if number:
            time.sleep(REREAD_AFTER_S)
        series, made = _read_fleet(telemetry, cards)
        now = time.time()
        requests += made
        newest = {card: _newest(series.get(card)) for card in cards}
        reads.append((now, newest))
        for card, latest in newest.items():
            claimed = _sample_time((series.get(card) or {}).get("last_sample_at"))
            if latest is not None and latest > now + FUTURE_SLACK_S:
                contradicted[card] = f"a sample {latest - now:.0f} s in the future"
            elif latest is not None and (claimed is None
                                         or abs(claimed - latest) > LAST_SAMPLE_SLACK_S):
                said = "none" if claimed is None else f"{now - claimed:.0f} s ago"
                contradicted[card] = (f"last_sample_at {said}, newest sample "
                                      f"{now - latest:.0f} s ago")
    stale: dict[str, float | None] = {}
    for now, newest in reads:
        for card, latest in newest.items():
            age = None if latest is None else now - latest
            if age is None or age > max_age.value:
                stale[card] = age
    went_back = [card for card in cards if (reads[0][1][card] or 0) > (reads[1][1][card] or 0)]
    moved = sum(1 for card in cards if (reads[1][1][card] or 0) > (reads[0][1][card] or 0))
    ages = [now - latest for now, newest in reads for latest in newest.values()
            if latest is not None]
    sca.measure("cards reported", len(cards), "cards", threshold=min_cards.value,
                comparison=">=", threshold_source=min_cards.source)
    sca.measure("cards with stale or missing samples", len(stale), "cards", threshold=0,
                comparison="<=", threshold_source="the requirement",
                reference=f"ages from the samples' own times, 2 reads {REREAD_AFTER_S:g} s apart")
    sca.measure("cards whose last_sample_at the samples contradict", len(contradicted),
                "cards", threshold=0, comparison="<=", threshold_source="the requirement")
    sca.measure("cards sampled again between the reads", moved, "cards")
    sca.measure("oldest newest sample", max(ages) if ages else 0.0, "s", threshold=max_age.value,
                comparison="<=", threshold_source=max_age.source,
                reference=f"{requests} requests for {len(cards)} cards")
    if stale or contradicted:
        sca.evidence("stale cards", dict(list(stale.items())[:50]))
        sca.evidence("contradicted last_sample_at", dict(list(contradicted.items())[:50]))
    assert len(cards) >= min_cards.value, (
        f"[9.4.2.d] the platform reports {len(cards)} cards, fewer than the declared "
        f"{min_cards.value:g}")
    worst = max((a for a in stale.values() if a is not None), default=None)
    assert not stale and not contradicted and not went_back, (
        f"[9.4.2.d] {len(stale)} of {len(cards)} cards have stale or missing metrics"
        + (f" (oldest sample {worst:.0f} s, threshold {max_age.value:g} s)"
           if worst is not None else "")
        + (f"; {len(contradicted)} report a last_sample_at their samples contradict "
           f"(e.g. {next(iter(contradicted.items()))})" if contradicted else "")
        + (f"; {len(went_back)} went back in time between reads" if went_back else ""))
