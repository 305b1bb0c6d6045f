"""Operations of inference services: deploy with replicas on chosen accelerators, invoke."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "services.create": OperationSpec(
        ("name", "image", "replicas", "resources", "labels"), "object",
        _op("POST", f"{_V1}/services",
            body=_body("name", "image", "replicas", "resources", "labels"))),
    "services.list": OperationSpec((), "list", _op("GET", f"{_V1}/services", items="/items")),
    "services.get": OperationSpec(
        ("service_id",), "object", _op("GET", f"{_V1}/services/{{service_id}}")),
    "services.invoke": OperationSpec(
        ("service_id", "payload"), "object",
        _op("POST", f"{_V1}/services/{{service_id}}/invoke", body="{payload}")),
    "services.delete": OperationSpec(
        ("service_id",), "none",
        _op("DELETE", f"{_V1}/services/{{service_id}}", format="none")),
}
