"""Seeing and operating the platform: capabilities ``metrics``, ``alerting``, ``diagnosis``
(one-click cluster diagnosis), ``diagnostics`` (per-layer diagnosis), ``operations``
(analysis reports, NIC drills) and ``audit``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels


@dataclass(frozen=True)
class MetricSample:
    """One sample of a metrics scrape or query; ``timestamp`` (Unix seconds) when the source
    says when it was sampled (an exposition's explicit timestamp, Prometheus' sample time)."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True)
class MetricFamily:
    """One metric family: its name, type (counter, gauge…), help text and samples."""

    name: str
    type: str
    help: str
    samples: Sequence[MetricSample] = field(default_factory=tuple)


class AlertRule(TypedDict, total=False):
    """An alert rule: fires when a sample of ``metric`` ``op`` ``threshold``."""

    id: str
    name: str
    metric: str
    matchers: dict[str, str]
    op: str
    threshold: float
    severity: str
    channel: str
    labels: dict[str, str]
    group: str
    type: str
    query: str
    health: str
    state: str


class Alert(TypedDict, total=False):
    """A firing (or pending) alert."""

    rule_id: str
    name: str
    state: str
    labels: dict[str, str]
    value: float | str | None
    active_at: str


class Notification(TypedDict, total=False):
    """A notification sent for an alert (or, for Prometheus, where they go: ``url``);
    ``alerts``: the series it tells of, with their labels and values (as an Alertmanager
    webhook's)."""

    id: str
    rule_id: str
    channel: str
    time: str
    message: str
    url: str
    alerts: list[Alert]


class ComponentStatus(TypedDict, total=False):
    """One component of a node as a diagnosis found it."""

    component: str
    status: str
    detail: str


class NodeDiagnosis(TypedDict, total=False):
    """A node's diagnosis."""

    node_id: str
    verdict: str
    components: list[ComponentStatus]


class ClusterDiagnosis(TypedDict, total=False):
    """A one-click diagnosis of a cluster."""

    cluster_id: str
    kind: str
    verdict: str
    nodes: list[NodeDiagnosis]


class LayerDiagnosis(TypedDict, total=False):
    """A diagnosis of one resource layer: ``running`` then ``finished`` with a verdict
    (``healthy``, ``degraded``, ``faulty``, ``unknown``)."""

    id: str
    layer: str
    #: The subject diagnosed: the job (``container``) or the node (the other layers).
    job_id: str | None
    node_id: str | None
    status: str
    verdict: str
    findings: list[str]
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    simulated: bool


class Recommendation(TypedDict, total=False):
    """One recommendation of a resource report: ``message`` for people; the structured fields,
    where the platform gives them, say what it is about and what to do, so that a check can
    hold it against the inventory and the report's own figures."""

    message: str
    severity: str
    #: What it is about, ``<kind>/<id>``: ``nodes/<node id>``, ``clusters/<cluster id>``,
    #: ``accelerators/<card model>``, ``tenants/<tenant id>``; a bare kind (``jobs``,
    #: ``accelerators``) for all of it.
    subject: str
    #: What to do. ``scale_in`` (release, scale in or sell the subject's idle capacity) and
    #: ``scale_out`` (add capacity to it) are compared with the report's figures; other words
    #: (``raise_quota``, ``repair``…) are the platform's own.
    kind: str


class ResourceReport(TypedDict, total=False):
    """Utilisation analysis of a period, with recommendations. ``accelerators`` holds
    ``total`` and ``allocated`` cards, with ``by_model`` (``model``) and ``by_cluster``
    (``cluster_id``) lines of the same figures."""

    period: str
    accelerators: dict[str, Any]
    usage: dict[str, Any]
    jobs: dict[str, Any]
    recommendations: list[Recommendation]


class Bond(TypedDict, total=False):
    """A NIC bond of a node."""

    name: str
    mode: str
    members: list[str]
    active_member: str | None
    state: str


class NodeNetwork(TypedDict, total=False):
    """A node's NICs and bonds."""

    node_id: str
    interfaces: list[dict[str, Any]]
    bonds: list[Bond]
    simulated: bool


class AuditRecord(TypedDict, total=False):
    """One audited action: who did what to which resource, and what came of it."""

    id: str
    time: str
    actor: str
    tenant_id: str | None
    action: str
    resource: str
    result: str
    status_code: int
    role: str


@runtime_checkable
class Metrics(Protocol):
    """Monitoring metrics, from a scrape endpoint or a metrics server."""

    @property
    def source(self) -> str:
        """Where the figures come from, for evidence ("Prometheus at …", "exposition …")."""
        ...

    def scrape(self) -> list[MetricFamily]:
        """Every metric family the target exposes now."""
        ...

    def samples(self, name: str, labels: Mapping[str, str] | None = None) -> list[MetricSample]:
        """Current samples of ``name`` whose labels include ``labels``."""
        ...


@runtime_checkable
class Alerting(Protocol):
    """Alert rules, the alerts they raise and the notifications sent."""

    def create_rule(self, name: str, metric: str, threshold: float, *, op: str = ">",
                    matchers: Mapping[str, str] | None = None, severity: str = "warning",
                    channel: str = "default", labels: Labels | None = None) -> AlertRule:
        """Fire when a sample of ``metric`` (labels including ``matchers``) ``op``
        ``threshold``; the rule is removed at the end of the check."""
        ...

    def delete_rule(self, rule_id: str) -> None:
        """Delete a rule."""
        ...

    def rules(self) -> list[AlertRule]:
        """Rules the caller may see."""
        ...

    def alerts(self) -> list[Alert]:
        """Firing alerts."""
        ...

    def notifications(self) -> list[Notification]:
        """Notifications sent."""
        ...


@runtime_checkable
class Diagnosis(ActsAs, Protocol):
    """One-click fault diagnosis of a cluster."""

    def diagnose_cluster(self, cluster_id: str) -> ClusterDiagnosis:
        """Diagnose every node of a cluster."""
        ...


@runtime_checkable
class Diagnostics(ActsAs, Protocol):
    """Diagnosis of one resource layer: ``container`` (of a job), ``accelerator``, ``os``,
    ``network`` (of a node)."""

    def start(self, layer: str, *, job_id: str | None = None,
              node_id: str | None = None) -> LayerDiagnosis:
        """Start a diagnosis; the answer has its ``id`` and ``status``."""
        ...

    def get(self, diagnosis_id: str) -> LayerDiagnosis:
        """One diagnosis."""
        ...

    def wait(self, diagnosis_id: str, timeout: float) -> LayerDiagnosis:
        """Poll until the diagnosis is finished; :class:`WaitTimeout` after ``timeout``."""
        ...


@runtime_checkable
class Operations(ActsAs, Protocol):
    """What a platform operator sees and does across the platform."""

    def resource_report(self, period: str | None = None) -> ResourceReport:
        """Utilisation analysis of ``period`` (YYYY-MM, default this month)."""
        ...

    def node_network(self, node_id: str) -> NodeNetwork:
        """A node's NICs and bonds."""
        ...

    def set_link(self, node_id: str, link: str, up: bool) -> NodeNetwork:
        """Take one NIC port of a node down (or up again): a link failure drill. A link the
        check took down is brought up again at the end of the check."""
        ...


@runtime_checkable
class Audit(ActsAs, Protocol):
    """The audit log of mutations."""

    def records(self, *, since: str | None = None, actor: str | None = None,
                action: str | None = None) -> list[AuditRecord]:
        """Audit records, filtered."""
        ...
