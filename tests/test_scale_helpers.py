"""Helpers made linear for large fleets (issue 18): same answers as before, no timing here
(benchmarks/bench_fleet_scale.py measures them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_sca import yamlfile
from pytest_sca.capabilities import MetricSample
from pytest_sca.capabilities.exporters import metric_table
from pytest_sca.catalog import catalog_path
from pytest_sca.suites.chapter06_scheduling import test_6_04_monitoring as monitoring
from pytest_sca.suites.chapter06_scheduling.conftest import card_pools

TARGETS = Path(__file__).resolve().parents[1] / "targets"


def _sample(name: str, **labels: str) -> MetricSample:
    return MetricSample(name, labels, 1.0)


def test_series_by_node_match_id_hostname_and_host_port() -> None:
    table = metric_table()
    found = {
        "sca": [_sample("cpu", node="n1"), _sample("cpu", node="n2")],
        "node-exporter": [_sample("cpu", instance="host-1:9100"), _sample("cpu", instance=""),
                          _sample("cpu", instance="n1")],
    }
    index = monitoring.by_node(table, found)
    of_n1 = monitoring.of_names(index, {"n1", "host-1"})
    # Reading order kept, each series once although both names match it.
    assert [(e, s.labels) for e, s in of_n1] == [
        ("sca", {"node": "n1"}), ("node-exporter", {"instance": "host-1:9100"}),
        ("node-exporter", {"instance": "n1"})]
    assert monitoring.of_names(index, {"n2"}) == [("sca", found["sca"][1])]
    assert monitoring.of_names(index, {"n3"}) == []


def test_card_pools_hold_each_node_once_per_model() -> None:
    cards = [{"index": i, "vendor": "huawei", "model": "910B"} for i in range(4)]
    nodes = [{"id": f"n{i}", "accelerators": cards} for i in range(1000)]
    nodes.append({"id": "n0", "accelerators": cards})  # listed twice: held once
    nodes.append({"id": "m", "accelerators": [{"index": 0, "model": "MLU370"}]})
    pools = card_pools(nodes)  # type: ignore[arg-type]
    assert [(p.model, len(p.nodes)) for p in pools] == [("MLU370", 1), ("910B", 1000)]


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("path", [catalog_path(), *sorted(TARGETS.glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_libyaml_reads_what_the_pure_loader_reads(path: Path) -> None:
    text = path.read_text("utf-8")
    assert yamlfile._load(text, yamlfile._FastLoader) == yamlfile._load(  # type: ignore[arg-type]
        text, yamlfile._StrictLoader)


def test_a_problem_is_told_by_the_pure_loader(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: a\nname: b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2 column 1: duplicate key 'name'"):
        yamlfile.read_yaml(path, ValueError, "file", "fix")
    path.write_text("when: 2026-01-02\n", encoding="utf-8")
    assert yamlfile.read_yaml(path, ValueError, "file", "fix") == {"when": "2026-01-02"}
    assert yaml.safe_load("when: 2026-01-02\n") != {"when": "2026-01-02"}
