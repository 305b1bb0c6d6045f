"""6.4.a's range checks on exporters the sandbox does not run (node-exporter's CPU-seconds
counters, DCGM's percent and MiB): the helpers alone, on made-up readings."""

from __future__ import annotations

from pytest_sca.capabilities import MetricSample
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
