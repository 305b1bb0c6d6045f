"""``metrics``, ``alerting``, ``diagnosis``, ``diagnostics``, ``operations`` and ``audit``
over the platform API."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Timestamp

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.capabilities import (
    Alert,
    AlertRule,
    AuditRecord,
    ClusterDiagnosis,
    Labels,
    LayerDiagnosis,
    MetricFamily,
    MetricSample,
    NodeNetwork,
    Notification,
    ResourceReport,
    TargetError,
    Unsupported,
    wait_for_status,
)


def _seconds(timestamp: float | Timestamp | None) -> float | None:
    """An exposition sample's explicit timestamp as Unix seconds (the parser gives a float,
    or a ``Timestamp`` for OpenMetrics), or None when the sample carries none."""
    return None if timestamp is None else float(timestamp)


class PlatformMetrics(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Metrics` from the platform's Prometheus exposition."""

    @property
    def source(self) -> str:
        """Where the samples come from, for evidence: the exposition endpoint's URL."""
        url = self.subject.http.display_url
        try:
            return f"exposition endpoint {url}{self.subject.table.get('metrics.scrape').path}"
        except Unsupported:
            return f"exposition endpoint of {url} (metrics.scrape not mapped)"

    def scrape(self) -> list[MetricFamily]:
        text = self.subject.call("metrics.scrape")
        try:
            return [
                MetricFamily(
                    name=family.name, type=family.type, help=family.documentation,
                    samples=tuple(MetricSample(sample.name, dict(sample.labels),
                                               float(sample.value),
                                               _seconds(sample.timestamp))
                                  for sample in family.samples))
                for family in text_string_to_metric_families(text)
            ]
        except (ValueError, TypeError, IndexError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TargetError(
                f"metrics.scrape: not Prometheus exposition format ({first})") from None

    def samples(self, name: str, labels: Mapping[str, str] | None = None) -> list[MetricSample]:
        wanted = dict(labels or {})
        return [sample for family in self.scrape() for sample in family.samples
                if sample.name == name
                and all(sample.labels.get(k) == v for k, v in wanted.items())]


class PlatformAlerting(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Alerting` over the platform API."""

    def create_rule(self, name: str, metric: str, threshold: float, *, op: str = ">",
                    matchers: Mapping[str, str] | None = None, severity: str = "warning",
                    channel: str = "default", labels: Labels | None = None) -> AlertRule:
        return self.subject.create(
            "alerts.rules.create", "alert_rules", "alerts.rules.delete", {"rule_id": "id"},
            name=name, metric=metric, threshold=threshold, op=op,
            matchers=dict(matchers or {}), severity=severity, channel=channel,
            labels=dict(labels or {}))

    def delete_rule(self, rule_id: str) -> None:
        self.subject.remove("alerts.rules.delete", rule_id=rule_id)

    def rules(self) -> list[AlertRule]:
        return self.subject.call("alerts.rules.list")

    def alerts(self) -> list[Alert]:
        return self.subject.call("alerts.list")

    def notifications(self) -> list[Notification]:
        return self.subject.call("alerts.notifications")


class PlatformDiagnosis(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Diagnosis` over the platform API."""

    def diagnose_cluster(self, cluster_id: str) -> ClusterDiagnosis:
        return self.subject.call("clusters.diagnose", cluster_id=cluster_id)


class PlatformDiagnostics(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Diagnostics` over the platform API."""

    def start(self, layer: str, *, job_id: str | None = None,
              node_id: str | None = None) -> LayerDiagnosis:
        return self.subject.call("diagnoses.create", layer=layer, job_id=job_id,
                                 node_id=node_id)

    def get(self, diagnosis_id: str) -> LayerDiagnosis:
        return self.subject.call("diagnoses.get", diagnosis_id=diagnosis_id)

    def wait(self, diagnosis_id: str, timeout: float) -> LayerDiagnosis:
        return wait_for_status(lambda: self.get(diagnosis_id), ("finished",), timeout,
                               f"diagnosis {diagnosis_id}", first=0.05, longest=0.5)


class PlatformOperations(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Operations` over the platform API."""

    def resource_report(self, period: str | None = None) -> ResourceReport:
        return self.subject.call("reports.resources", period=period)

    def node_network(self, node_id: str) -> NodeNetwork:
        return self.subject.call("network.get", node_id=node_id)

    def set_link(self, node_id: str, link: str, up: bool) -> NodeNetwork:
        answer: NodeNetwork = self.subject.call("network.set_link", node_id=node_id,
                                                link=link, state="up" if up else "down")
        if not up:
            # A link the run took down comes up again at the end of the check.
            self.subject.context.created(
                "", f"bring link {link} of node {node_id} up again",
                lambda: self.subject.call("network.set_link", node_id=node_id, link=link,
                                          state="up"))
        return answer


class PlatformAudit(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Audit` over the platform API."""

    def records(self, *, since: str | None = None, actor: str | None = None,
                action: str | None = None) -> list[AuditRecord]:
        return self.subject.call("audit.list", since=since, actor=actor, action=action)
