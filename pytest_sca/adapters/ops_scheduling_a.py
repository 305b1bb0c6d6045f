"""Operations of alerting, diagnosis, image pulls and scheduling policy (chapter 6, 6.2–6.5)."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"
_RULE = ("name", "metric", "matchers", "op", "threshold", "severity", "channel", "labels")
_QUEUED = ("name", "image", "command", "workers", "resources", "env", "labels", "priority",
           "queue")

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "alerts.rules.list": OperationSpec((), "list", _op("GET", f"{_V1}/alert-rules",
                                                       items="/items")),
    "alerts.rules.create": OperationSpec(
        _RULE, "object", _op("POST", f"{_V1}/alert-rules", body=_body(*_RULE))),
    "alerts.rules.delete": OperationSpec(
        ("rule_id",), "none", _op("DELETE", f"{_V1}/alert-rules/{{rule_id}}", format="none")),
    "alerts.list": OperationSpec((), "list", _op("GET", f"{_V1}/alerts", items="/items")),
    "alerts.notifications": OperationSpec(
        (), "list", _op("GET", f"{_V1}/notifications", items="/items")),
    "clusters.diagnose": OperationSpec(
        ("cluster_id",), "object", _op("POST", f"{_V1}/clusters/{{cluster_id}}/diagnosis")),
    "images.pull": OperationSpec(
        ("node_id", "image", "mode"), "object",
        _op("POST", f"{_V1}/nodes/{{node_id}}/image-pulls", body=_body("image", "mode"))),
    "filesystems.list": OperationSpec(
        (), "list", _op("GET", f"{_V1}/filesystems", items="/items")),
    "scheduling.burst_policy": OperationSpec(
        (), "object", _op("GET", f"{_V1}/scheduling/burst-policy")),
    "jobs.submit_queued": OperationSpec(
        _QUEUED, "object", _op("POST", f"{_V1}/jobs", body=_body(*_QUEUED))),
}
