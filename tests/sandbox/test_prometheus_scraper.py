"""The sandbox's own Prometheus (Debian's 2.42, where installed): started after the API,
named in the target file after ``platform``, scraping the API over HTTPS with the sandbox CA,
and stopped with the sandbox."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.platform import PlatformAdapter
from pytest_sca.adapters.prometheus import PrometheusAdapter, PrometheusMetrics
from pytest_sca.catalog import load_catalog
from pytest_sca.sandbox import launch
from pytest_sca.sandbox.prometheus_scraper import PROMETHEUS_SWITCH
from pytest_sca.target import load_target

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="Debian's prometheus is not installed (.ci/run)")

#: The first scrape lands some seconds after start-up (about 6 s measured here).
FIRST_SAMPLE_WAIT_S = 20.0


def _prometheus_pids(state_dir: str) -> list[int]:
    """Live prometheus processes whose command line names ``state_dir`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and argv and Path(argv[0].decode(errors="replace")).name == "prometheus" \
                and any(state_dir.encode() in arg for arg in argv):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_sandbox_prometheus_scrapes_the_api_and_stops_with_it() -> None:
    sandbox = launch(timeout=30)
    state_dir = str(sandbox.state_dir)
    try:
        target = load_target(sandbox.target_path, load_catalog(), sandbox.env)
        assert list(target.adapters).index("platform") < list(target.adapters).index(
            "prometheus"), "platform's exposition endpoint must stay the first metrics provider"
        config = yaml.safe_load((sandbox.state_dir / "prometheus" / "prometheus.yml").read_text())
        job = config["scrape_configs"][0]
        assert job["scheme"] == "https" and Path(job["tls_config"]["ca_file"]).is_file()
        assert len(_prometheus_pids(state_dir)) == 1

        context = AdapterContext("sandbox", sandbox.target_path, "scraper-test")
        prometheus = PrometheusAdapter(target.adapters["prometheus"], context)
        platform = PlatformAdapter(target.adapters["platform"], context)
        metrics = PrometheusMetrics(prometheus)
        try:
            samples = metrics.wait_for('sca_node_cpu_utilization_ratio{job="sandbox"}',
                                          timeout=FIRST_SAMPLE_WAIT_S)
            assert all(sample.labels.get("node") for sample in samples), samples[:3]
            assert metrics.source == f"Prometheus at {target.adapters['prometheus'].url}"
            exposition = platform.capability("metrics").source
            assert exposition.startswith("exposition endpoint https://127.0.0.1:")
            assert exposition.endswith("/metrics")
        finally:
            prometheus.close()
            platform.close()
        # SIGTERM to the sandbox alone (not its group): its own stop must end Prometheus.
        os.kill(sandbox.pid, signal.SIGTERM)
        assert sandbox._popen is not None
        assert sandbox._popen.wait(timeout=15) == 0
        assert _prometheus_pids(state_dir) == [], "the sandbox's stop left its prometheus"
    finally:
        sandbox.stop()
    assert _prometheus_pids(state_dir) == [], "the sandbox's prometheus outlived it"


@pytest.mark.slow
def test_switched_off_the_target_has_no_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROMETHEUS_SWITCH, "0")
    sandbox = launch(timeout=30)
    try:
        adapters = yaml.safe_load(sandbox.target_path.read_text())["adapters"]
        assert "prometheus" not in adapters and "platform" in adapters
        assert not (sandbox.state_dir / "prometheus").exists()
        assert _prometheus_pids(str(sandbox.state_dir)) == []
    finally:
        sandbox.stop()
