"""6.4.a's range checks on exporters the sandbox does not run (node-exporter's CPU-seconds
counters, DCGM's percent and MiB): the helpers alone, on made-up readings."""

from __future__ import annotations

from pytest_sca.capabilities import MetricSample, RefusalReason, Refused
from pytest_sca.capabilities.exporters import metric_table
from pytest_sca.suites.chapter06_scheduling import test_6_04_monitoring as monitoring


def _reading(at: float, value: float) -> monitoring.Reading:
    sample = MetricSample("node_cpu_seconds_total", {"instance": "n1:9100", "mode": "idle"},
                          value, at)
    return monitoring.Reading(at, {monitoring._key(sample): sample})


def test_shares_are_bounded_by_their_declared_scale() -> None:
    assert monitoring._share_problem(0.5, "ratio") is None
    assert monitoring._share_problem(55.0, "ratio") == "55 outside 0..1"
    assert monitoring._share_problem(55.0, "percent") is None
    assert monitoring._share_problem(float("nan"), "percent") is not None
    assert "no scale declared" in str(monitoring._share_problem(101.0, None))
    assert monitoring._share_problem(1e9, "counter") is None


def test_card_memory_is_bounded_by_the_inventory_capacity_in_its_unit() -> None:
    assert monitoring._memory_problem(80 * 1024.0, "mib", 80.0) is None
    assert monitoring._memory_problem(80 * 1024.0 + 1, "mib", 80.0) is not None
    # Unknown unit or capacity: nothing to compare.
    assert monitoring._memory_problem(1e30, None, 80.0) is None
    assert monitoring._memory_problem(1e30, "bytes", None) is None


def test_a_cpu_seconds_counter_that_stands_still_is_told() -> None:
    table = metric_table()
    first = _reading(100.0, 5000.0)
    key = next(iter(first.samples))
    for later, still in ((5000.0, ["n1"]), (5001.5, [])):
        freshness = monitoring.Freshness(first, 60.0, [_reading(101.0, later)])
        assert monitoring._still_counters(table, {"n1": [key]}, freshness) == still


def test_load_readings_of_node_exporter_series() -> None:
    """6.4.d on node-exporter's shapes: available memory and file-system space within their
    totals of the same labels, a counter that goes back, a share off its scale."""
    table = metric_table()
    fs = {"instance": "n1:9100", "device": "/dev/sda1", "mountpoint": "/"}

    def reading(at: float, avail: float, size: float, rx: float) -> monitoring.Reading:
        samples = [MetricSample("node_filesystem_avail_bytes", fs, avail, at),
                   MetricSample("node_filesystem_size_bytes", fs, size, at),
                   MetricSample("node_network_receive_bytes_total", {"instance": "n1:9100"},
                                rx, at)]
        return monitoring.Reading(at, {monitoring._key(s): s for s in samples})

    first = reading(100.0, 4e10, 1e11, 5e6)
    keys = {d: [k for k in first.samples if k[0] == table["node-exporter"].names[d]]
            for d in ("disk", "network")}
    good = reading(101.0, 3.9e10, 1e11, 5.1e6)
    assert not monitoring._not_load_rates(table, "disk", first, good, keys["disk"])
    assert not monitoring._not_load_rates(table, "network", first, good, keys["network"])
    bad = reading(101.0, 4e13, 1e11, 1e3)
    assert "its total" in str(monitoring._not_load_rates(table, "disk", first, bad, keys["disk"]))
    assert "went back" in str(monitoring._not_load_rates(table, "network", first, bad,
                                                         keys["network"]))
    assert monitoring._load_problem(101.0, None, None, None) is not None
    assert monitoring._load_problem(-1.0, "bytes", None, None) is not None


def test_a_card_taken_by_a_pod_between_reads_is_the_same_series() -> None:
    """DCGM exporter's Kubernetes mode labels a GPU's series with the pod that holds it: the
    series keeps its identity when a pod takes the card (else 'absent from the later read')."""
    idle = MetricSample("DCGM_FI_DEV_GPU_UTIL", {"Hostname": "n1", "gpu": "0"}, 0.0, None)
    held = MetricSample("DCGM_FI_DEV_GPU_UTIL", {"Hostname": "n1", "gpu": "0", "pod": "p",
                                                 "namespace": "ns", "container": "c"}, 97.0, None)
    other = MetricSample("DCGM_FI_DEV_GPU_UTIL", {"Hostname": "n1", "gpu": "1"}, 0.0, None)
    assert monitoring._key(idle) == monitoring._key(held) != monitoring._key(other)
    freshness = monitoring.Freshness(monitoring.Reading(0.0, {monitoring._key(idle): idle}), 60)
    freshness.later.append(monitoring.Reading(2.0, {monitoring._key(held): held}))
    assert freshness.state(monitoring._key(idle)) == ("current", "value moved")


class _Inventory:
    """A compute capability that still has some nodes (``get_node``) and lists some
    (``list_nodes``; by default the ones it has)."""

    def __init__(self, *present: str, listed: tuple[str, ...] | None = None) -> None:
        self.present = set(present)
        self.listed = set(present if listed is None else listed)

    def list_nodes(self) -> list[dict[str, str]]:
        return [{"id": node} for node in sorted(self.listed)]

    def get_node(self, node_id: str) -> dict[str, str]:
        if node_id not in self.present:
            raise Refused("node", 404, None, "no such node", RefusalReason.NOT_FOUND)
        return {"id": node_id}


def test_a_node_removed_while_read_is_no_stale_node() -> None:
    """Side by side with a check that scales a cluster in (or under a platform's own
    scale-in), a node's series may vanish between the reads: the node that is gone from the
    inventory is left out; the one still there with vanished series stays stale."""
    first = _reading(100.0, 5000.0)
    key = next(iter(first.samples))
    freshness = monitoring.Freshness(first, 60.0, [monitoring.Reading(101.0, {})])
    series = {"n1": [key], "n2": [key]}
    assert monitoring._left_the_inventory(_Inventory("n2"), freshness, series) == ["n1"]  # type: ignore[arg-type]
    assert monitoring._left_the_inventory(_Inventory("n1", "n2"), freshness, series) == []  # type: ignore[arg-type]
    # A node still listed is not excused by a read by id that says not found, nor a node
    # the listing leaves out by one that finds it.
    for inventory in (_Inventory("n2", listed=("n1", "n2")), _Inventory("n1", "n2", listed=())):
        assert monitoring._left_the_inventory(inventory, freshness, series) == []  # type: ignore[arg-type]
