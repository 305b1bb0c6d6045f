"""The Prometheus HTTP API adapter: ``metrics`` (instant/range queries, scrape-like reads)
and ``alerting`` (the rules and alerts Prometheus evaluates).

Metric names differ per exporter; :data:`METRIC_NAMES` is the documented table of
what each load dimension is called by the exporters platforms commonly run (the
sandbox's reference names, node-exporter, NVIDIA DCGM, Huawei Ascend npu-exporter,
Cambricon, Hygon). A target extends or overrides it with
``adapters.prometheus.metric_names: {"<exporter>.<dimension>": "<metric name>"}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext, TargetError
from pytest_sca.adapters.capabilities import MetricFamily, MetricSample, Record
from pytest_sca.adapters.config import PrometheusConfig
from pytest_sca.adapters.http import ApiError, HttpClient

#: The dimensions of load a platform monitors (6.4.d), plus the card memory.
DIMENSIONS = ("cpu", "memory", "disk", "network", "accelerator")


@dataclass(frozen=True)
class Exporter:
    """How one exporter names a dimension's metric and which label tells the node / card."""

    node_label: str
    card_label: str | None
    names: dict[str, str]


#: exporter → its node label, card label and dimension → metric name.
METRIC_NAMES: dict[str, Exporter] = {
    "sca": Exporter("node", "index", {
        "cpu": "sca_node_cpu_utilization_ratio", "memory": "sca_node_memory_used_bytes",
        "disk": "sca_node_disk_used_bytes", "network": "sca_node_network_receive_bytes",
        "accelerator": "sca_accelerator_utilization_ratio",
        "accelerator_memory": "sca_accelerator_memory_used_bytes"}),
    "node-exporter": Exporter("instance", None, {
        "cpu": "node_cpu_seconds_total", "memory": "node_memory_MemAvailable_bytes",
        "disk": "node_filesystem_avail_bytes", "network": "node_network_receive_bytes_total"}),
    "dcgm": Exporter("Hostname", "gpu", {
        "accelerator": "DCGM_FI_DEV_GPU_UTIL", "accelerator_memory": "DCGM_FI_DEV_FB_USED"}),
    "ascend": Exporter("instance", "id", {
        "accelerator": "npu_chip_info_utilization",
        "accelerator_memory": "npu_chip_info_hbm_used_memory"}),
    "cambricon": Exporter("instance", "mlu", {
        "accelerator": "mlu_utilization", "accelerator_memory": "mlu_memory_used"}),
    "hygon": Exporter("instance", "device_id", {
        "accelerator": "dcu_utilizationrate", "accelerator_memory": "dcu_usedmemory_bytes"}),
}


def metric_table(overrides: Mapping[str, str] | None = None) -> dict[str, Exporter]:
    """:data:`METRIC_NAMES` with ``"<exporter>.<dimension>": name`` overrides applied
    (a new exporter takes ``instance`` as node label and ``id`` as card label)."""
    table = {name: Exporter(e.node_label, e.card_label, dict(e.names))
             for name, e in METRIC_NAMES.items()}
    for key, metric in (overrides or {}).items():
        exporter, _, dimension = key.partition(".")
        entry = table.setdefault(exporter, Exporter("instance", "id", {}))
        entry.names[dimension] = metric
    return table


class PrometheusAdapter(Adapter):
    """Provides ``metrics`` and ``alerting`` over Prometheus' HTTP API (``/api/v1``)."""

    transport: ClassVar[str] = "prometheus"
    provides: ClassVar[frozenset[str]] = frozenset({"metrics", "alerting"})
    config_model: ClassVar[type[PrometheusConfig]] = PrometheusConfig

    def __init__(self, config: PrometheusConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.http = HttpClient(config.url, token=config.token, verify=config.verify,
                               timeout=config.timeout, redact=context.redact,
                               error_shape=None)
        self.table = metric_table(config.metric_names)

    def _api(self, path: str, **params: Any) -> Any:
        try:
            answer = self.http.request("GET", f"/api/v1/{path}", params=params)
        except ApiError as refusal:
            raise TargetError(f"Prometheus refused {path}: {refusal.message}") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise TargetError(f"Prometheus {path}: {str(answer)[:160]}")
        return answer["data"]

    @property
    def source(self) -> str:
        """Where the samples come from, for evidence: this Prometheus server."""
        return f"Prometheus at {self.http.display_url}"

    # -- queries -------------------------------------------------------------------------

    def query(self, promql: str, at: float | None = None) -> list[MetricSample]:
        """An instant query; one sample per series (``__name__`` becomes the sample name)."""
        data = self._api("query", query=promql, time=at)
        return [_sample(series, series["value"][1]) for series in _vector(data)]

    def query_range(self, promql: str, start: float, end: float, step: float
                    ) -> list[tuple[MetricSample, list[tuple[float, float]]]]:
        """A range query: each series with its ``(time, value)`` points."""
        data = self._api("query_range", query=promql, start=start, end=end, step=step)
        if data.get("resultType") != "matrix":
            raise TargetError(f"query_range answered a {data.get('resultType')}")
        return [(_sample(series, "nan"), [(float(t), float(v)) for t, v in series["values"]])
                for series in data["result"]]

    def samples(self, name: str, labels: Mapping[str, str] | None = None) -> list[MetricSample]:
        """Current samples of ``name`` whose labels include ``labels``."""
        matchers = ",".join(f'{k}="{_escape(v)}"' for k, v in (labels or {}).items())
        return self.query(f"{name}{{{matchers}}}")

    def scrape(self) -> list[MetricFamily]:
        """The current series of every metric of :data:`METRIC_NAMES` (Prometheus has no
        "everything" read that stays small)."""
        names = sorted({m for e in self.table.values() for m in e.names.values()})
        found: dict[str, list[MetricSample]] = {}
        for sample in self.query('{__name__=~"' + "|".join(names) + '"}'):
            found.setdefault(sample.name, []).append(sample)
        return [MetricFamily(name, "untyped", "", tuple(samples))
                for name, samples in sorted(found.items())]

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[MetricSample]:
        """Poll (backing off) until ``promql`` has a sample; :class:`TimeoutError` if not."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            found = self.query(promql)
            if found:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no sample of {promql!r} after {timeout:g} s")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 2.0)

    # -- alerting (read-only: Prometheus rules live in its configuration files) -----------

    def rules(self) -> list[Record]:
        """Alerting and recording rules: ``{group, name, type, query, health, state}``."""
        data = self._api("rules")
        return [{"group": g["name"], "name": r.get("name"), "type": r.get("type"),
                 "query": r.get("query"), "health": r.get("health"), "state": r.get("state"),
                 "labels": r.get("labels") or {}}
                for g in data.get("groups", []) for r in g.get("rules", [])]

    def alerts(self) -> list[Record]:
        """Active alerts: ``{name, state, labels, value, active_at}``."""
        data = self._api("alerts")
        return [{"name": a["labels"].get("alertname"), "state": a.get("state"),
                 "labels": a.get("labels") or {}, "value": a.get("value"),
                 "active_at": a.get("activeAt")} for a in data.get("alerts", [])]

    def notifications(self) -> list[Record]:
        """Alertmanagers Prometheus sends to (its notification path): ``{url}``."""
        data = self._api("alertmanagers")
        return [{"url": a.get("url")} for a in data.get("activeAlertmanagers", [])]

    def create_rule(self, *args: Any, **kwargs: Any) -> Record:
        """Prometheus rules are configuration files: the HTTP API cannot create one."""
        from pytest_sca.adapters.mapping import OperationNotMapped

        raise OperationNotMapped(
            "Prometheus' HTTP API cannot create alert rules: configure adapters.platform "
            "for a platform that manages rules, or declare the rule in the target's evidence")

    def capability(self, name: str) -> Any:
        return self

    def close(self) -> None:
        self.http.close()


def _vector(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    kind = data.get("resultType")
    if kind == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    if kind != "vector":
        raise TargetError(f"instant query answered a {kind}")
    return list(data["result"])


def _sample(series: Mapping[str, Any], value: Any) -> MetricSample:
    labels = dict(series.get("metric") or {})
    name = labels.pop("__name__", "")
    return MetricSample(name, labels, float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
