"""API routes of monitoring: alert rules, alerts, notifications, one-click diagnosis,
and the burst scheduling policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document

Short = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class AlertRuleCreate(BaseModel):
    """POST /alert-rules: fire when a sample of ``metric`` matching ``matchers`` compares true."""

    name: Short
    metric: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$")]
    matchers: dict[Short, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict)
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float = Field(ge=-1e18, le=1e18)
    severity: Literal["info", "warning", "critical"] = "warning"
    channel: Short = "default"
    labels: dict[Short, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict)


class AlertRule(S.Open):
    """An alert rule."""

    id: str
    name: str
    metric: str
    op: str
    threshold: float
    channel: str


class Alert(S.Open):
    """A firing alert."""

    rule_id: str
    state: str
    labels: dict[str, str]
    value: float


class NotifiedSeries(S.Open):
    """One series a notification tells of: its labels (its node) and the value that fired."""

    labels: dict[str, str]
    value: float | None


class Notification(S.Open):
    """A notification sent to a channel when a rule started firing, with the series that
    fired (as an Alertmanager webhook's ``alerts``)."""

    id: str
    rule_id: str
    channel: str
    time: str
    message: str
    alerts: list[NotifiedSeries] = Field(default_factory=list)


class Diagnosis(S.Open):
    """One-click diagnosis of a cluster."""

    cluster_id: str
    verdict: str
    nodes: list[dict[str, Any]]


class BurstPolicy(S.Open):
    """How off-cloud work bursts into the platform's clusters."""

    enabled: bool
    rules: list[dict[str, Any]]


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    monitoring = platform.monitoring

    @routes.get(f"{API}/alert-rules", name="alertrule.list", **documented(S.Items[AlertRule]))
    def list_rules(who: Caller) -> dict[str, Any]:
        return {"items": [public(r) for r in monitoring.rules(who)]}

    @routes.post(f"{API}/alert-rules", name="alertrule.create", **documented(AlertRule, 201))
    def create_rule(body: AlertRuleCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        rule = monitoring.create_rule(who, body.model_dump())
        audit_resource(request, f"alert-rules/{rule['id']}")
        return public(rule)

    @routes.delete(f"{API}/alert-rules/{{rule_id}}", name="alertrule.delete",
                   **documented(None, 204))
    def delete_rule(rule_id: str, who: Caller) -> Response:
        rule = monitoring.visible_rule(who, rule_id)
        rules.require_write(who, rule["tenant_id"], allowed=("tenant_admin", "member"))
        monitoring.delete_rule(rule)
        return Response(status_code=204)

    @routes.get(f"{API}/alerts", name="alert.list", **documented(S.Items[Alert]))
    def list_alerts(who: Caller) -> dict[str, Any]:
        return {"items": monitoring.alerts(who)}

    @routes.get(f"{API}/notifications", name="notification.list",
                **documented(S.Items[Notification]))
    def list_notifications(who: Caller) -> dict[str, Any]:
        return {"items": [public(n) for n in monitoring.notifications(who)]}

    @routes.post(f"{API}/clusters/{{cluster_id}}/diagnosis", name="cluster.diagnose",
                 **documented(Diagnosis))
    def diagnose(cluster_id: str, who: Caller) -> Document:
        return monitoring.diagnose_cluster(platform.compute.visible_cluster(who, cluster_id))

    @routes.get(f"{API}/scheduling/burst-policy", name="burstpolicy.get",
                **documented(BurstPolicy))
    def get_burst_policy(who: Caller) -> Document:
        return monitoring.burst_policy()

    return routes
