"""The Prometheus adapter against a real Prometheus (Debian ``prometheus`` 2.42) that the
test starts on loopback, scraping a real exporter (prometheus_client) every second."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import PrometheusConfig
from pytest_sca.adapters.prometheus import PrometheusAdapter, PrometheusAlerting, PrometheusMetrics
from pytest_sca.capabilities import TargetError, Unsupported
from pytest_sca.capabilities.exporters import METRIC_NAMES, metric_table

from .logged_server import start_logged_server

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="Debian's prometheus is not installed (.ci/run)")

FIRST_SAMPLE_S = 30.0


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusAdapter]:
    folder = tmp_path_factory.mktemp("prometheus")
    registry = CollectorRegistry()
    cpu = Gauge("sca_node_cpu_utilization_ratio", "cpu", ["node", "cluster"], registry=registry)
    cpu.labels("n1", "c1").set(0.9)
    cpu.labels("n2", "c1").set(0.1)
    gpu = Gauge("DCGM_FI_DEV_GPU_UTIL", "gpu util", ["Hostname", "gpu"], registry=registry)
    gpu.labels("n1", "0").set(42)
    exporter, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    (folder / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "sca", "rules": [
        {"alert": "ScaNodeBusy", "expr": "sca_node_cpu_utilization_ratio > 0.5",
         "labels": {"severity": "warning"}},
        {"alert": "ScaNeverFires", "expr": "sca_node_cpu_utilization_ratio > 2"},
    ]}]}))
    (folder / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(folder / "rules.yml")],
        "scrape_configs": [{"job_name": "exporter", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter.server_port}"]}]}],
    }))
    server = start_logged_server(
        ["prometheus", f"--config.file={folder / 'prometheus.yml'}",
         "--web.listen-address=127.0.0.1:0", f"--storage.tsdb.path={folder / 'data'}"],
        folder / "prometheus.log", re.compile(r'msg="Listening on" address=(\S+)'))
    adapter = PrometheusAdapter(PrometheusConfig(url=server.url, timeout=5.0),
                                AdapterContext("t", None, "run"))
    try:
        PrometheusMetrics(adapter).wait_for("sca_node_cpu_utilization_ratio",
                                            timeout=FIRST_SAMPLE_S)
        yield adapter
    finally:
        adapter.close()
        server.stop()
        exporter.shutdown()
        exporter.server_close()
        thread.join(timeout=5)
    assert server.process.poll() is not None


@pytest.mark.slow
def test_instant_queries_and_label_filters(prometheus: PrometheusAdapter) -> None:
    busy = PrometheusMetrics(prometheus).samples("sca_node_cpu_utilization_ratio", {"node": "n1"})
    assert [(s.labels["node"], s.value) for s in busy] == [("n1", 0.9)]
    assert PrometheusMetrics(prometheus).query("scalar(vector(3))")[0].value == 3.0
    both = PrometheusMetrics(prometheus).query("sum(sca_node_cpu_utilization_ratio)")
    assert both[0].value == pytest.approx(1.0)


def test_range_query_has_points(prometheus: PrometheusAdapter) -> None:
    now = time.time()
    series = PrometheusMetrics(prometheus).query_range(
        'sca_node_cpu_utilization_ratio{node="n2"}', now - 60, now, 1)
    assert len(series) == 1
    sample, points = series[0]
    assert sample.labels["node"] == "n2" and points and all(v == 0.1 for _, v in points)


def test_scrape_reads_every_series_of_the_metric_table(prometheus: PrometheusAdapter) -> None:
    families = PrometheusMetrics(prometheus).scrape()
    names = {family.name for family in families}
    assert {"sca_node_cpu_utilization_ratio", "DCGM_FI_DEV_GPU_UTIL"} <= names
    # Each sample says when it was scraped (every second here), not when it was queried.
    stamps = [s.timestamp for f in families for s in f.samples]
    assert stamps and all(t is not None and 0 <= time.time() - t < 30 for t in stamps), stamps


def test_rules_and_alerts(prometheus: PrometheusAdapter) -> None:
    rules = {r["name"]: r for r in PrometheusAlerting(prometheus).rules()}
    assert set(rules) == {"ScaNodeBusy", "ScaNeverFires"}
    assert rules["ScaNodeBusy"]["type"] == "alerting"
    deadline = time.monotonic() + 20
    alerts = PrometheusAlerting(prometheus).alerts()
    while not alerts and time.monotonic() < deadline:
        time.sleep(0.5)
        alerts = PrometheusAlerting(prometheus).alerts()
    assert {(a["name"], a["labels"]["node"]) for a in alerts} == {("ScaNodeBusy", "n1")}
    assert PrometheusAlerting(prometheus).notifications() == []  # no Alertmanager configured
    with pytest.raises(Unsupported):
        PrometheusAlerting(prometheus).create_rule("x", "up", 1)


def test_a_bad_query_is_a_target_error(prometheus: PrometheusAdapter) -> None:
    with pytest.raises(TargetError, match="Prometheus refused query"):
        PrometheusMetrics(prometheus).query("sum(")


def test_metric_table_documents_exporters_and_takes_overrides() -> None:
    assert METRIC_NAMES["dcgm"].names["accelerator"] == "DCGM_FI_DEV_GPU_UTIL"
    table = metric_table({"dcgm.accelerator": "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                          "kunlun.accelerator": "xpu_utilization"})
    assert table["dcgm"].names["accelerator"] == "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
    assert table["kunlun"].names == {"accelerator": "xpu_utilization"}
    assert METRIC_NAMES["dcgm"].names["accelerator"] == "DCGM_FI_DEV_GPU_UTIL"
