"""The monitoring checks (6.4.a, 6.4.d) with a real Prometheus as the ``metrics`` provider:
Prometheus 2.42 scrapes the sandbox's /metrics every second, and the target file names
both the sandbox's platform API and that Prometheus."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import PrometheusConfig
from pytest_sca.adapters.prometheus import PrometheusAdapter, PrometheusMetrics
from pytest_sca.sandbox import launch

from .logged_server import start_logged_server

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="Debian's prometheus is not installed (.ci/run)")


def _query_count(url: str) -> float:
    """Instant queries Prometheus has answered, from its own exposition endpoint."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "prometheus_http_requests_total"
               and sample.labels.get("handler") == "/api/v1/query")


@pytest.mark.slow
def test_monitoring_checks_pass_with_prometheus_scraping_the_sandbox(tmp_path: Path) -> None:
    sandbox = launch(timeout=30)
    server = None
    try:
        target = yaml.safe_load(sandbox.target_path.read_text())
        platform = target["adapters"]["platform"]
        api = urlsplit(platform["url"])
        (tmp_path / "token").write_text(sandbox.env["SCA_SANDBOX_TOKEN"])
        scrape = {"job_name": "sandbox", "scheme": api.scheme, "metrics_path": "/metrics",
                  "authorization": {"type": "Bearer",
                                    "credentials_file": str(tmp_path / "token")},
                  "static_configs": [{"targets": [api.netloc]}]}
        if isinstance(platform.get("verify"), str):
            scrape["tls_config"] = {"ca_file": platform["verify"]}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s"}, "scrape_configs": [scrape]}))
        server = start_logged_server(
            ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
             "--web.listen-address=127.0.0.1:0", f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
            tmp_path / "prometheus.log", re.compile(r'msg="Listening on" address=(\S+)'))
        prometheus = PrometheusAdapter(PrometheusConfig(url=server.url),
                                       AdapterContext("t", None, "run"))
        PrometheusMetrics(prometheus).wait_for("sca_accelerator_utilization_ratio", timeout=30)
        before = _query_count(server.url)
        # The first adapter of the file that provides a capability serves it (this one
        # replaces the sandbox's own Prometheus, which is listed after `platform`).
        others = {k: v for k, v in target["adapters"].items() if k != "prometheus"}
        target["adapters"] = {"prometheus": {"url": server.url}, **others}
        (tmp_path / "target.yaml").write_text(yaml.safe_dump(target, sort_keys=False))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--sca-target=target.yaml", "-p", "no:cacheprovider",
             "-m", "clause(id='6.4.a') or clause(id='6.4.d')", "--sca-json=report.json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, **sandbox.env})
        report = json.loads((tmp_path / "report.json").read_text())
        verdicts = {i["id"]: i["verdict"] for i in report["items"]}
        assert verdicts == {"6.4.a": "pass", "6.4.d": "pass"}, result.stdout[-3000:]
        assert _query_count(server.url) > before, "the checks did not query Prometheus"
        prometheus.close()
    finally:
        if server is not None:
            server.stop()
        sandbox.stop()
