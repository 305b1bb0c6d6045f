"""Operations of platform security: datasets with classification and masking, assets, MFA."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "datasets.create": OperationSpec(
        ("name", "content", "labels"), "object",
        _op("POST", f"{_V1}/datasets", body=_body("name", "content", "labels")),
    ),
    "datasets.get": OperationSpec(
        ("dataset_id",), "object", _op("GET", f"{_V1}/datasets/{{dataset_id}}")
    ),
    "datasets.read": OperationSpec(
        ("dataset_id", "view"), "object",
        _op("GET", f"{_V1}/datasets/{{dataset_id}}/content", query=_body("view")),
    ),
    "datasets.delete": OperationSpec(
        ("dataset_id",), "none",
        _op("DELETE", f"{_V1}/datasets/{{dataset_id}}", format="none"),
    ),
    "assets.list": OperationSpec(
        ("tenant_id",), "list",
        _op("GET", f"{_V1}/assets", query=_body("tenant_id"), items="/items"),
    ),
    "mfa.get": OperationSpec((), "object", _op("GET", f"{_V1}/security/mfa")),
    "mfa.set": OperationSpec(
        ("console_mfa_required",), "object",
        _op("PUT", f"{_V1}/security/mfa", body=_body("console_mfa_required")),
    ),
    "console.login": OperationSpec(
        ("otp",), "object", _op("POST", f"{_V1}/console/sessions", body=_body("otp")),
    ),
}
