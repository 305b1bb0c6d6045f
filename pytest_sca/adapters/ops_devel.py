"""Operations of model development: dev machines, frameworks, job metrics and terminals,
pre-flight checks, the web console and the API description."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"
_DEV = f"{_V1}/devmachines/{{devmachine_id}}"

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "devmachines.create": OperationSpec(
        ("name", "image", "resources", "labels"), "object",
        _op("POST", f"{_V1}/devmachines", body=_body("name", "image", "resources", "labels"))),
    "devmachines.list": OperationSpec(
        (), "list", _op("GET", f"{_V1}/devmachines", items="/items")),
    "devmachines.get": OperationSpec(("devmachine_id",), "object", _op("GET", _DEV)),
    "devmachines.delete": OperationSpec(
        ("devmachine_id",), "none", _op("DELETE", _DEV, format="none")),
    "devmachines.exec": OperationSpec(
        ("devmachine_id", "command", "timeout", "background"), "object",
        _op("POST", f"{_DEV}/exec", body=_body("command", "timeout", "background"))),
    "devmachines.expose": OperationSpec(
        ("devmachine_id", "port"), "object",
        _op("POST", f"{_DEV}/ports", body=_body("port"))),
    "frameworks.list": OperationSpec(
        (), "list", _op("GET", f"{_V1}/frameworks", items="/items")),
    "jobs.metrics": OperationSpec(
        ("job_id", "since", "until"), "object",
        _op("GET", f"{_V1}/jobs/{{job_id}}/metrics", query=_body("since", "until"))),
    # A websocket: only the route is used (the adapter turns http(s) into ws(s)).
    "jobs.terminal": OperationSpec(
        ("job_id", "worker"), "none",
        _op("GET", f"{_V1}/jobs/{{job_id}}/workers/{{worker}}/terminal", format="none")),
    "preflight.run": OperationSpec(
        ("node_ids",), "object", _op("POST", f"{_V1}/preflight", body=_body("node_ids"))),
    "preflight.mark_faulty": OperationSpec(
        ("node_id", "reason"), "object",
        _op("POST", f"{_V1}/preflight/faulty-nodes", body=_body("node_id", "reason"))),
    "preflight.unmark": OperationSpec(
        ("node_id",), "object", _op("DELETE", f"{_V1}/preflight/faulty-nodes/{{node_id}}")),
    "console.page": OperationSpec((), "text", _op("GET", "/", format="text")),
    "api.description": OperationSpec((), "object", _op("GET", "/openapi.json")),
}
