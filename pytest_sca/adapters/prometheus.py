"""The Prometheus HTTP API adapter: ``metrics`` (instant/range queries, scrape-like reads)
and ``alerting`` (the rules and alerts Prometheus evaluates).

Metric names differ per exporter: :mod:`pytest_sca.capabilities.exporters` holds the
table; a target extends or overrides it with
``adapters.prometheus.metric_names: {"<exporter>.<dimension>": "<metric name>"}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import PrometheusConfig
from pytest_sca.adapters.http import HttpClient
from pytest_sca.capabilities import (
    Alert,
    AlertRule,
    Labels,
    MetricFamily,
    MetricSample,
    Notification,
    Refused,
    TargetError,
    Unsupported,
    metric_table,
)


class PrometheusAdapter(Adapter):
    """A Prometheus server's HTTP API (``/api/v1``)."""

    transport: ClassVar[str] = "prometheus"
    config_model: ClassVar[type[PrometheusConfig]] = PrometheusConfig

    def __init__(self, config: PrometheusConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.http = HttpClient(config.url, token=config.token, verify=config.verify,
                               timeout=config.timeout, redact=context.redact,
                               error_shape=None)
        self.table = metric_table(config.metric_names)

    def api(self, path: str, **params: Any) -> Any:
        """The ``data`` of a successful ``GET /api/v1/<path>``; TargetError otherwise."""
        try:
            answer = self.http.request("GET", f"/api/v1/{path}", params=params)
        except Refused as refusal:
            raise TargetError(f"Prometheus refused {path}: {refusal.message}") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise TargetError(f"Prometheus {path}: {str(answer)[:160]}")
        return answer["data"]

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``/api/v1/status/buildinfo`` answers (with the token): the version."""
        from pytest_sca.adapters.http import HttpClient

        http = HttpClient(self.config.url, token=self.config.token, verify=self.config.verify,
                          timeout=timeout, retries=0, redact=self.context.redact)
        try:
            answer = http.request("GET", "/api/v1/status/buildinfo")
        except Refused as refusal:
            if refusal.status in (401, 403):
                return [Finding("credentials", "fail",
                                f"/api/v1/status/buildinfo: refused {refusal.status}")]
            return [Finding("api", "warn", f"/api/v1/status/buildinfo: refused {refusal.status}")]
        except TargetError as exc:
            return [Finding("api", "fail", str(exc))]
        finally:
            http.close()
        data = answer.get("data", {}) if isinstance(answer, dict) else {}
        return [Finding("api", "ok", f"Prometheus {data.get('version', '?')}")]

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


def _key(labels: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class PrometheusMetrics(Facade[PrometheusAdapter]):
    """:class:`~pytest_sca.capabilities.Metrics` from a Prometheus server's queries."""

    @property
    def source(self) -> str:
        """Where the samples come from, for evidence: this Prometheus server."""
        return f"Prometheus at {self.subject.http.display_url}"

    def query(self, promql: str, at: float | None = None) -> list[MetricSample]:
        """An instant query; one sample per series (``__name__`` becomes the sample name)."""
        data = self.subject.api("query", query=promql, time=at)
        return [_sample(series, series["value"][1]) for series in _vector(data)]

    def query_range(self, promql: str, start: float, end: float, step: float
                    ) -> list[tuple[MetricSample, list[tuple[float, float]]]]:
        """A range query: each series with its ``(time, value)`` points."""
        data = self.subject.api("query_range", query=promql, start=start, end=end, step=step)
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
        "everything" read that stays small), each sample with the time it was scraped (or
        the exposition's own timestamp): ``timestamp(<name>)``, one query per metric found,
        since an instant query answers its evaluation time, not the sample's."""
        names = sorted({m for e in self.subject.table.values() for m in e.names.values()})
        found: dict[str, list[MetricSample]] = {}
        for sample in self.query('{__name__=~"' + "|".join(names) + '"}'):
            found.setdefault(sample.name, []).append(sample)
        families = []
        for name, samples in sorted(found.items()):
            taken = {_key(s.labels): s.value for s in self.query(f"timestamp({name})")}
            families.append(MetricFamily(name, "untyped", "", tuple(
                replace(s, timestamp=taken.get(_key(s.labels))) for s in samples)))
        return families

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


class PrometheusAlerting(Facade[PrometheusAdapter]):
    """:class:`~pytest_sca.capabilities.Alerting` read from Prometheus (read-only: its rules
    live in its configuration files)."""

    def rules(self) -> list[AlertRule]:
        """Alerting and recording rules: ``{group, name, type, query, health, state}``."""
        data = self.subject.api("rules")
        return [{"group": g["name"], "name": r.get("name"), "type": r.get("type"),
                 "query": r.get("query"), "health": r.get("health"), "state": r.get("state"),
                 "labels": r.get("labels") or {}}
                for g in data.get("groups", []) for r in g.get("rules", [])]

    def alerts(self) -> list[Alert]:
        """Active alerts: ``{name, state, labels, value, active_at}``."""
        data = self.subject.api("alerts")
        return [{"name": a["labels"].get("alertname"), "state": a.get("state"),
                 "labels": a.get("labels") or {}, "value": a.get("value"),
                 "active_at": a.get("activeAt")} for a in data.get("alerts", [])]

    def notifications(self) -> list[Notification]:
        """Alertmanagers Prometheus sends to (its notification path): ``{url}``."""
        data = self.subject.api("alertmanagers")
        return [{"url": a.get("url")} for a in data.get("activeAlertmanagers", [])]

    def create_rule(self, name: str, metric: str, threshold: float, *, op: str = ">",
                    matchers: Mapping[str, str] | None = None, severity: str = "warning",
                    channel: str = "default", labels: Labels | None = None) -> AlertRule:
        """Prometheus rules are configuration files: the HTTP API cannot create one."""
        raise Unsupported(
            "Prometheus' HTTP API cannot create alert rules: configure adapters.platform "
            "for a platform that manages rules, or declare the rule in the target's evidence")

    def delete_rule(self, rule_id: str) -> None:
        """Prometheus rules are configuration files: the HTTP API cannot delete one."""
        raise Unsupported("Prometheus' HTTP API cannot delete alert rules")


#: The Prometheus adapter's capabilities (set here: each implementation needs the class).
PrometheusAdapter.implementations = {"metrics": PrometheusMetrics,
                                     "alerting": PrometheusAlerting}
