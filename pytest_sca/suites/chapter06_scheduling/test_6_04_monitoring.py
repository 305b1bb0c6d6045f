"""6.4 监控运维 Monitoring and operations."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest

from pytest_sca.capabilities import (
    Alert,
    Alerting,
    Cluster,
    ClusterDiagnosis,
    Clusters,
    Compute,
    Diagnosis,
    Metrics,
    MetricSample,
    Node,
    Notification,
    RefusalReason,
    Refused,
    TargetError,
    WaitTimeout,
    wait_for,
)
from pytest_sca.capabilities.exporters import (
    ATTRIBUTION_LABELS,
    DIMENSIONS,
    Exporter,
    Scale,
    metric_table,
)
from pytest_sca.fixtures import CheckContext

ALERT_WAIT_S = 15.0
#: Pause between the two reads of metrics that must be current.
REREAD_S = 1.0
#: How many clusters of a kind 6.4.c diagnoses (each diagnosis probes every node).
MOST_CLUSTERS = 3
#: A diagnosis's component verdicts, least severe first.
VERDICTS = ("ok", "warning", "error")

#: One series: metric name and the labels that identify it (see :func:`_key`).
SeriesKey = tuple[str, frozenset[tuple[str, str]]]
#: The most a utilisation may be on each scale; a scale not declared is bounded by the widest.
SHARE_MAX: dict[str, float] = {"ratio": 1.0, "percent": 100.0}
#: Bytes per unit of a memory scale.
MEMORY_UNIT: dict[str, float] = {"bytes": 1.0, "mib": 1024.0**2}


def _table(sca: CheckContext) -> dict[str, Exporter]:
    return metric_table(sca.settings.metrics.names)


def _key(sample: MetricSample) -> SeriesKey:
    """A series' identity: its name and labels, but not those naming the workload that holds
    the card (a card taken by a job between two reads is the same series)."""
    return sample.name, frozenset(
        (k, v) for k, v in sample.labels.items() if k not in ATTRIBUTION_LABELS)


@dataclass(frozen=True)
class Reading:
    """Every sample of one scrape, by series, and when (Unix time) the check read it."""

    at: float
    samples: dict[SeriesKey, MetricSample]

    @classmethod
    def of(cls, metrics: Metrics) -> Reading:
        at = time.time()
        return cls(at, {_key(s): s for family in metrics.scrape() for s in family.samples})

    def series(self, table: Mapping[str, Exporter], dimension: str
               ) -> dict[str, list[MetricSample]]:
        """exporter → the samples of ``dimension`` that carry the exporter's node label."""
        found: dict[str, list[MetricSample]] = {}
        for exporter_name, exporter in table.items():
            metric = exporter.names.get(dimension)
            hits = [s for s in self.samples.values()
                    if metric and s.name == metric and s.labels.get(exporter.node_label)]
            if hits:
                found[exporter_name] = hits
        return found


@dataclass
class Freshness:
    """Whether series read twice (or more) are current: a series is current when its value
    moved or its timestamp advanced between reads, or its timestamp is at most ``max_age``
    seconds old; stale when its timestamp is older and did not advance; unknown when it
    carries no timestamp and its value did not move."""

    first: Reading
    max_age: float
    later: list[Reading] = field(default_factory=list)

    def state(self, key: SeriesKey) -> tuple[str, str]:
        """(``current`` | ``stale`` | ``unknown`` | ``gone``, what was seen)."""
        before = self.first.samples.get(key)
        if not self.later:
            return "unknown", "read once"
        last = self.later[-1]
        now = last.samples.get(key)
        if now is None:
            return "gone", "absent from the later read"
        values = {r.samples[key].value for r in [self.first, *self.later] if key in r.samples}
        if len(values) > 1:
            return "current", "value moved"
        if now.timestamp is not None:
            if before is not None and before.timestamp is not None and (
                    now.timestamp > before.timestamp):
                return "current", "timestamp advanced"
            age = last.at - now.timestamp
            if age <= self.max_age:
                return "current", f"sampled {max(age, 0.0):.0f} s ago"
            return "stale", f"sampled {age:.0f} s ago, not since"
        return "unknown", f"no timestamp, value {now.value:g} unchanged"

    def settle(self, metrics: Metrics, keys: Iterable[SeriesKey]) -> None:
        """Read again after a pause; while some series are unknown, keep reading (backing off)
        until each moved or ``max_age`` seconds passed since the first read."""
        wanted = list(keys)
        time.sleep(REREAD_S)
        self.later.append(Reading.of(metrics))

        def decided(_: object) -> bool:
            return not any(self.state(k)[0] == "unknown" for k in wanted)

        def reread() -> Reading:
            reading = Reading.of(metrics)
            self.later.append(reading)
            return reading

        if decided(None):
            return
        remaining = self.max_age - (time.time() - self.first.at)
        # What is still unknown after the wait is reported as such.
        with contextlib.suppress(WaitTimeout):
            wait_for(reread, decided, max(remaining, 0.0),
                     lambda _: "series without timestamps did not move", first=1.0,
                     longest=5.0)


def node_names(node: Node) -> set[str]:
    """The names a series' node label may give ``node`` by: its id and host name."""
    return {str(n) for n in (node.get("id"), node.get("hostname")) if n}


#: Series by the node name their node label gives: name → (position, exporter, sample).
NodeIndex = dict[str, list[tuple[int, str, MetricSample]]]


def by_node(table: Mapping[str, Exporter], found: Mapping[str, list[MetricSample]]
             ) -> NodeIndex:
    """Index ``found`` (exporter → samples) by every node name its node label matches: the
    value itself and, for ``host:port`` (``instance``), the host."""
    index: NodeIndex = {}
    position = 0
    for exporter, hits in found.items():
        for sample in hits:
            value = sample.labels.get(table[exporter].node_label)
            if value:
                for name in {value, str(value).rsplit(":", 1)[0]}:
                    index.setdefault(name, []).append((position, exporter, sample))
            position += 1
    return index


def of_names(index: NodeIndex, names: set[str]) -> list[tuple[str, MetricSample]]:
    """(exporter, sample) of the series whose node label names one of ``names``, in the order
    of the reading, each once."""
    hits = {position: (exporter, sample) for name in names
            for position, exporter, sample in index.get(name, [])}
    return [hits[position] for position in sorted(hits)]


def metrics_source(metrics: Metrics) -> str:
    """Which provider the samples came from (a vendor's adapter may not say)."""
    return str(getattr(metrics, "source", type(metrics).__name__))


def _left_the_inventory(compute: Compute, freshness: Freshness,
                        node_series: Mapping[str, list[SeriesKey]]) -> list[str]:
    """The nodes whose node series the later read lacks and that the platform no longer has
    (a fresh listing leaves them out and reading them by id answers not found, both: a
    listing cut short, or a read by id that fails for every node, excuses nothing): removed
    while the check read, by a scale-in or by another check side by side. Their series are
    rightly gone; a node still there whose series went is stale."""
    gone = [node for node, keys in node_series.items()
            if keys and all(freshness.state(k)[0] == "gone" for k in keys)]
    if not gone:
        return []
    listed = {str(n.get("id")) for n in compute.list_nodes()}
    left: list[str] = []
    for node in (n for n in gone if n not in listed):
        try:
            compute.get_node(node)
        except Refused as refusal:
            if refusal.reason is not RefusalReason.NOT_FOUND:
                raise
            left.append(node)
    return left


def _not_current(freshness: Freshness, keys: Mapping[str, list[SeriesKey]]
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """(stale, unknown): for each named group of series none of which is current, what was
    seen of its first series."""
    stale: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for what, group in keys.items():
        states = [freshness.state(k) for k in group]
        if any(state == "current" for state, _ in states):
            continue
        if any(state == "unknown" for state, _ in states):
            unknown[what] = next(seen for state, seen in states if state == "unknown")
        else:
            stale[what] = states[0][1]
    return stale, unknown


def _require_current(item: str, stale: Mapping[str, str], unknown: Mapping[str, str],
                     max_age: float) -> None:
    assert not stale, f"[{item}] series not current: {dict(stale)}"
    if unknown:
        raise TargetError(
            f"[{item}] cannot tell whether series are current: they carry no timestamps and "
            f"did not move within {max_age:g} s: {dict(unknown)}")


def _share_problem(value: float, scale: Scale | None) -> str | None:
    """What is wrong with a utilisation ``value`` on ``scale``, or None: a share lies within
    0..1 (ratio) or 0..100 (percent, and where no scale is declared), a counter is never
    negative. NaN is never in range."""
    if scale == "counter":
        return None if value >= 0 else f"counter at {value:g}"
    top = SHARE_MAX.get(scale or "percent", 100.0)
    if 0.0 <= value <= top:
        return None
    return f"{value:g} outside 0..{top:g}" + ("" if scale else " (no scale declared)")


def _memory_problem(value: float, scale: Scale | None, capacity_gib: float | None
                    ) -> str | None:
    """What is wrong with a card's memory in use, or None: within 0 and the card's capacity
    (the inventory's), where both the scale and the capacity are known."""
    unit = MEMORY_UNIT.get(scale or "")
    if unit is None or not capacity_gib:
        return None
    used, capacity = value * unit, capacity_gib * 1024.0**3
    if 0.0 <= used <= capacity:
        return None
    return f"memory in use {used:.4g} B outside 0..{capacity:.4g} B (the card's capacity)"


#: The dimensions whose values 6.4.a range-checks.
RANGED = ("cpu", "accelerator", "accelerator_memory")


def _ranged_indexes(table: Mapping[str, Exporter], readings: list[Reading]
                    ) -> list[tuple[str, NodeIndex]]:
    """(dimension, its series by node) of each reading, indexed once for every node."""
    return [(dimension, by_node(table, reading.series(table, dimension)))
            for reading in readings for dimension in RANGED]


def _out_of_range(table: Mapping[str, Exporter], node: Node,
                  indexes: list[tuple[str, NodeIndex]]) -> dict[str, str]:
    """Series of ``node`` whose value in one of the readings is out of range: what → why."""
    names = node_names(node)
    capacity = {str(c.get("index")): c.get("memory_gib") for c in node.get("accelerators") or []}
    problems: dict[str, str] = {}
    for dimension, index in indexes:
        for exporter, s in of_names(index, names):
            card = str(s.labels.get(table[exporter].card_label or "index"))
            scale = table[exporter].scales.get(dimension)
            problem = (_memory_problem(s.value, scale, capacity.get(card))
                       if dimension == "accelerator_memory"
                       else _share_problem(s.value, scale))
            where = node.get("id") if dimension == "cpu" else f"{node.get('id')}/{card}"
            if problem and (dimension == "cpu" or card in capacity):
                problems.setdefault(f"{s.name} of {where}", problem)
    return problems


def _still_counters(table: Mapping[str, Exporter], node_series: Mapping[str, list[SeriesKey]],
                    freshness: Freshness) -> list[str]:
    """Nodes whose CPU series are counters (CPU seconds) that did not grow between the first
    and the last read: a running node's CPU seconds always grow, idle time included, so a
    counter that stands still with fresh timestamps is a stuck exporter."""
    counters = {e.names["cpu"] for e in table.values() if e.scales.get("cpu") == "counter"}
    last = freshness.later[-1] if freshness.later else freshness.first
    still = []
    for node, keys in node_series.items():
        own = [k for k in keys if k[0] in counters and k in last.samples]
        if own and sum(last.samples[k].value for k in own) <= sum(
                freshness.first.samples[k].value for k in own):
            still.append(node)
    return still


@pytest.mark.clause("6.4.a")
def test_cluster_node_and_card_monitoring(sca: CheckContext, metrics: Metrics,
                                          compute: Compute) -> None:
    """Every node with accelerators has a current node series and a current series for each
    of its cards, read twice (values move or timestamps are fresh); where the inventory has
    several clusters, each node's series names its cluster. Values are in range: a
    utilisation within 0..1 or 0..100 as its exporter declares, a card's memory in use within
    the card's capacity, and a CPU-seconds counter grows between the reads."""
    table = _table(sca)
    max_age = sca.threshold("perf.monitoring.max_staleness_s").value
    nodes = [n for n in compute.list_nodes() if n.get("accelerators")]
    assert nodes, "[6.4.a] the inventory lists no node with accelerators to look for"
    first = Reading.of(metrics)
    node_series: dict[str, list[SeriesKey]] = {}
    card_series: dict[str, list[SeriesKey]] = {}
    unclustered: list[str] = []
    clusters = {n.get("cluster_id") for n in nodes if n.get("cluster_id")}
    report: dict[str, dict[str, object]] = {}
    # The series by the node they name, once: a fleet of thousands of nodes is not scanned
    # once per node (issue 18).
    cpu = by_node(table, first.series(table, "cpu"))
    cards = by_node(table, first.series(table, "accelerator"))
    for node in nodes:
        names = node_names(node)
        own = [s for _, s in of_names(cpu, names)]
        node_series[str(node.get("id"))] = [_key(s) for s in own]
        if own and len(clusters) > 1 and not any(
                node.get("cluster_id") in s.labels.values() for s in own):
            unclustered.append(str(node.get("id")))
        indices = {str(c.get("index")) for c in node.get("accelerators") or []}
        seen: set[str] = set()
        for exporter, s in of_names(cards, names):
            card = str(s.labels.get(table[exporter].card_label or "index"))
            if card in indices:
                seen.add(card)
                card_series.setdefault(f"{node.get('id')}/{card}", []).append(_key(s))
        report[str(node.get("id"))] = {"node series": len(own), "cards": sorted(indices),
                                       "card series": sorted(seen),
                                       "cards without a series": sorted(indices - seen)}
    sca.evidence("metrics source", metrics_source(metrics))
    sca.evidence("series per node", report)
    no_node = [node for node, keys in node_series.items() if not keys]
    no_cards = {node: r["cards without a series"] for node, r in report.items()
                if r["cards without a series"]}
    assert not no_node, f"[6.4.a] no node-level series for nodes {no_node}"
    assert not no_cards, f"[6.4.a] no per-card series for cards of nodes {no_cards}"
    assert not unclustered, (
        f"[6.4.a] no cluster-level view: the series of nodes {unclustered} do not name their "
        f"cluster (the inventory has clusters {sorted(map(str, clusters))})")
    freshness = Freshness(first, max_age)
    freshness.settle(metrics, [k for keys in [*node_series.values(), *card_series.values()]
                               for k in keys])
    left = _left_the_inventory(compute, freshness, node_series)
    if left:
        sca.evidence("nodes gone from the inventory between the reads", left)
    groups = {f"node {n}": keys for n, keys in node_series.items() if n not in left} | {
        f"card {c}": keys for c, keys in card_series.items() if c.rsplit("/", 1)[0] not in left}
    stale, unknown = _not_current(freshness, groups)
    sca.evidence("freshness", {what: [freshness.state(k)[1] for k in keys][:3]
                               for what, keys in list(groups.items())[:40]})
    _require_current("6.4.a", stale, unknown, max_age)
    indexes = _ranged_indexes(table, [first, *freshness.later[-1:]])
    wrong = {what: why for node in nodes
             for what, why in _out_of_range(table, node, indexes).items()}
    sca.evidence("values out of range", dict(list(wrong.items())[:40]))
    assert not wrong, (f"[6.4.a] {len(wrong)} series carry values out of range, e.g. "
                       f"{dict(list(wrong.items())[:5])}")
    still = _still_counters(table, node_series, freshness)
    assert not still, (f"[6.4.a] the CPU-seconds counters of nodes {still[:10]} did not grow "
                       f"between reads {REREAD_S:g} s or more apart")


@pytest.mark.clause("6.4.b")
@pytest.mark.mutating
def test_alert_rule_fires_and_notifies(sca: CheckContext, alerting: Alerting,
                                       metrics: Metrics) -> None:
    """A rule whose threshold every current sample is above (synthetic condition) fires with
    a value above it and is notified within 15 s; a rule no sample can meet stays silent.
    The notification tells what fired: it names series (nodes) the alerts name, none other,
    and the values it gives meet the rule."""
    table = _table(sca)
    candidates = Reading.of(metrics).series(table, "cpu")
    assert candidates, "[6.4.b] no node CPU series to set an alert rule on"
    exporter, samples = next(iter(candidates.items()))
    metric = table[exporter].names["cpu"]
    threshold = min(s.value for s in samples) - 1.0
    firing = alerting.create_rule(sca.name("fires"), metric, threshold, op=">",
                                  labels=sca.labels)
    silent = alerting.create_rule(sca.name("silent"), metric, 1e15, op=">", labels=sca.labels)

    def fired(alerts: list[Alert]) -> bool:
        return any(a.get("rule_id") == firing["id"] for a in alerts)

    try:
        alerts = wait_for(alerting.alerts, fired, ALERT_WAIT_S,
                          lambda alerts: f"{len(alerts)} alert(s), none of rule {firing['id']}",
                          first=0.2)
    except WaitTimeout as exc:
        alerts = exc.last or []
    raised = [a for a in alerts if a.get("rule_id") == firing["id"]]
    sent = [n for n in alerting.notifications() if n.get("rule_id") in (firing["id"],
                                                                          silent["id"])]
    wrongly = [a for a in [*alerting.alerts(), *sent] if a.get("rule_id") == silent["id"]]
    sca.evidence("alerts", {"rule": firing, "fired": raised[:3], "notifications": sent})
    assert raised, (f"[6.4.b] rule {firing['id']} on {metric} > {threshold:g} never fired "
                    f"within {ALERT_WAIT_S:g} s")
    values = [a.get("value") for a in raised]
    below = [v for v in values if isinstance(v, int | float) and not v > threshold]
    assert not below, (f"[6.4.b] rule {firing['id']} ({metric} > {threshold:g}) fired with "
                       f"values {below}")
    assert not wrongly, f"[6.4.b] rule {silent['id']} fired although no sample meets it"
    told = [n for n in sent if n.get("rule_id") == firing["id"]]
    assert told, f"[6.4.b] rule {firing['id']} fired but no notification was sent"
    wrong = _content_problems(told, raised, table[exporter].node_label, threshold)
    assert not wrong, (f"[6.4.b] the notification of rule {firing['id']} ({metric} > "
                       f"{threshold:g}) does not tell what fired: {'; '.join(wrong[:3])}")


def _number(value: object) -> float | None:
    """A sample value as a number (Prometheus gives them as text), or None."""
    try:
        return float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None


def _content_problems(notes: list[Notification], raised: list[Alert], node_label: str,
                      threshold: float) -> list[str]:
    """What the notifications of a fired rule get wrong against its alerts: each must name a
    node whose series fired (in its ``alerts``, else in its message) and no other, and every
    value it gives must be above the threshold."""
    fired = {str(a.get("labels", {}).get(node_label)) for a in raised} - {"None"}
    problems = []
    for note in notes:
        series = note.get("alerts") or []
        named = {str((s.get("labels") or {}).get(node_label)) for s in series} - {"None"}
        named = named or {node for node in fired if node in str(note.get("message", ""))}
        if not named:
            problems.append(f"{note.get('id')} names none of the series that fired "
                            f"(nodes {sorted(fired)[:5]})")
        elif not named <= fired:
            problems.append(f"{note.get('id')} names nodes whose series did not fire: "
                            f"{sorted(named - fired)[:5]}")
        values = [(s.get("value"), _number(s.get("value"))) for s in series]
        # NaN and text that is no number are not above the threshold either.
        low = [v for v, number in values if number is None or not number > threshold]
        if low:
            problems.append(f"{note.get('id')} gives values {low[:5]}, not above the "
                            f"threshold {threshold:g}")
    return problems


@pytest.mark.clause("6.4.c")
@pytest.mark.parametrize("kind", ["baremetal", "container"])
def test_one_click_diagnosis_of_both_cluster_kinds(sca: CheckContext, clusters: Clusters,
                                                   compute: Compute, diagnosis: Diagnosis,
                                                   kind: str) -> None:
    """Diagnosing each cluster of ``kind`` (the first few) returns a verdict per component for
    every node the cluster has, and agrees with the inventory's health: a node the inventory
    lists unhealthy is not diagnosed ok, one it lists healthy is not diagnosed in error."""
    found = [c for c in clusters.list_clusters(kind=kind) if c.get("node_ids")]
    assert found, f"[6.4.c] the platform lists no {kind} cluster with nodes to diagnose"
    health = {str(n.get("id")): n.get("health") for n in compute.list_nodes()}
    reports: dict[str, ClusterDiagnosis] = {}
    for cluster in found[:MOST_CLUSTERS]:
        report = diagnosis.diagnose_cluster(cluster["id"])
        reports[cluster["id"]] = report
        _covers_every_node(kind, cluster, report)
    sca.evidence("diagnoses", {"reports": reports, "inventory health": health})
    disagree = [f"{node_id} ({state}, inventory: {health[node_id]})"
                for report in reports.values() for node_id, state in _diagnosed(report).items()
                if _contradicts(state, health.get(node_id))]
    assert not disagree, (f"[6.4.c] the diagnosis of {kind} clusters {sorted(reports)} "
                          f"contradicts the inventory's health of nodes {disagree}")


def _covers_every_node(kind: str, cluster: Cluster, report: ClusterDiagnosis) -> None:
    """Every node the cluster lists is in its diagnosis, with a component verdict."""
    diagnosed = {str(n.get("node_id")): n for n in report.get("nodes") or []}
    missing = sorted(set(map(str, cluster.get("node_ids") or [])) - set(diagnosed))
    assert not missing, (f"[6.4.c] diagnosis of {kind} cluster {cluster['id']} covered no "
                         f"verdict for its nodes {missing}")
    silent = [node_id for node_id, node in diagnosed.items()
              if not [c for c in node.get("components") or []
                      if c.get("status") in VERDICTS]]
    assert not silent, (f"[6.4.c] diagnosis of {kind} cluster {cluster['id']} gave no "
                        f"component verdict for nodes {silent}")


def _diagnosed(report: ClusterDiagnosis) -> dict[str, str]:
    """Node id → the worst of its verdict and its components' verdicts (``ok`` < ``warning``
    < ``error``)."""
    found: dict[str, str] = {}
    for node in report.get("nodes") or []:
        said = [str(c.get("status")) for c in node.get("components") or []]
        said += [str(node["verdict"])] if node.get("verdict") else []
        found[str(node.get("node_id"))] = max((v for v in said if v in VERDICTS),
                                              key=VERDICTS.index, default="none")
    return found


def _contradicts(diagnosed: str, health: str | None) -> bool:
    """Whether a node's diagnosis contradicts the health the inventory lists for it (none
    listed: nothing to compare)."""
    if not health:
        return False
    return diagnosed == "error" if health == "healthy" else diagnosed == "ok"


#: The dimensions every node has (the accelerator one: every node with cards).
NODE_DIMENSIONS = ("cpu", "memory", "disk", "network")


def _load_problem(value: float, scale: Scale | None, total: float | None,
                  earlier: float | None) -> str | None:
    """What keeps ``value`` from being a load reading, or None: a share within 0..1 or 0..100
    as declared (no scale: the widest), a part within 0..its total (the capacity series of
    the same labels), a counter never negative and never going back between reads, any other
    value not negative. NaN is never in range."""
    if total is not None:
        return None if 0.0 <= value <= total else f"{value:g} outside 0..{total:g} (its total)"
    if scale == "counter" and earlier is not None and not value >= earlier:
        return f"counter went back from {earlier:g} to {value:g}"
    if scale in ("counter", "bytes", "mib"):
        return None if value >= 0.0 else f"{value:g} is negative"
    return _share_problem(value, scale)


def _not_load_rates(table: Mapping[str, Exporter], dimension: str, first: Reading,
                    last: Reading, keys: Iterable[SeriesKey]) -> dict[str, str]:
    """Series of ``dimension`` whose value in the last read is not a load reading: what → why."""
    problems: dict[str, str] = {}
    for key in keys:
        sample = last.samples.get(key) or first.samples.get(key)
        if sample is None:
            continue
        exporter = next((e for e in table.values() if e.names.get(dimension) == key[0]), None)
        if exporter is None:
            continue
        total_name = exporter.names.get(f"{dimension}_total")
        total = None
        if total_name:
            found = last.samples.get((total_name, key[1])) or first.samples.get(
                (total_name, key[1]))
            total = found.value if found is not None else None
        before = first.samples.get(key)
        problem = _load_problem(sample.value, exporter.scales.get(dimension), total,
                                before.value if before is not None and before is not sample
                                else None)
        if problem:
            label = sample.labels.get(exporter.node_label)
            problems.setdefault(f"{sample.name} of {label}", problem)
    return problems


def _healthy(node: Node) -> bool:
    """Whether the inventory lists the node healthy (or gives no health): one it lists down
    or faulty may have stopped reporting."""
    return node.get("health") in (None, "", "healthy")


@pytest.mark.clause("6.4.d")
def test_load_rate_of_five_dimensions(sca: CheckContext, metrics: Metrics,
                                      compute: Compute) -> None:
    """CPU, memory, disk, accelerator and network load each have a current series (read twice:
    it moves or carries a fresh timestamp) for every node the inventory lists healthy (the
    accelerator: every such node with cards), and the values are load readings: shares within
    0..1 or 0..100 as the exporter table declares, parts within their totals, counters that
    do not go back."""
    table = _table(sca)
    max_age = sca.threshold("perf.monitoring.max_staleness_s").value
    nodes = [n for n in compute.list_nodes() if _healthy(n)]
    if not nodes:
        raise TargetError("[6.4.d] the inventory lists no healthy node to look for: nothing "
                          "to compare the series with")
    first = Reading.of(metrics)
    found = {dimension: first.series(table, dimension) for dimension in DIMENSIONS}
    sca.evidence("metrics source", metrics_source(metrics))
    sca.evidence("load series", {d: sorted(table[e].names[d] for e in f)
                                 for d, f in found.items()})
    missing = [d for d, f in found.items() if not f]
    assert not missing, f"[6.4.d] no load series for any node of: {', '.join(missing)}"
    groups: dict[str, list[SeriesKey]] = {}
    uncovered: dict[str, list[str]] = {}
    for dimension, hits in found.items():
        index = by_node(table, hits)
        wanted = [n for n in nodes if dimension in NODE_DIMENSIONS or n.get("accelerators")]
        for node in wanted:
            keys = [_key(s) for _, s in of_names(index, node_names(node))]
            if keys:
                groups[f"{dimension} of {node.get('id')}"] = keys
            else:
                uncovered.setdefault(dimension, []).append(str(node.get("id")))
        if wanted and len(uncovered.get(dimension, [])) == len(wanted):
            labels = sorted({str(s.labels.get(table[e].node_label)) for e, f in hits.items()
                             for s in f})
            raise TargetError(
                f"[6.4.d] the {dimension} series name nodes {labels[:5]} and none of the "
                f"inventory's {len(wanted)} node(s) (by id or hostname): cannot tell which "
                f"node they are of")
    sca.evidence("nodes without a series", {d: ids[:20] for d, ids in uncovered.items()})
    assert not uncovered, (
        f"[6.4.d] no load series for nodes of the inventory: "
        f"{ {d: ids[:5] for d, ids in uncovered.items()} }")
    freshness = Freshness(first, max_age)
    freshness.settle(metrics, [k for keys in groups.values() for k in keys])
    stale, unknown = _not_current(freshness, groups)
    _require_current("6.4.d", stale, unknown, max_age)
    last = freshness.later[-1]
    wrong = {what: why for dimension in DIMENSIONS
             for what, why in _not_load_rates(
                 table, dimension, first, last,
                 [k for name, keys in groups.items() if name.startswith(f"{dimension} of ")
                  for k in keys]).items()}
    sca.evidence("values that are not load readings", dict(list(wrong.items())[:40]))
    assert not wrong, (f"[6.4.d] {len(wrong)} series carry values that are not load readings, "
                       f"e.g. {dict(list(wrong.items())[:5])}")
