"""Operations of fault-tolerant training jobs (elastic range, checkpoint-and-resume)."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"
_FIELDS = ("name", "image", "command", "workers", "min_workers", "max_restarts", "checkpoint",
           "resources", "env", "labels")

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "training.submit": OperationSpec(
        _FIELDS, "object", _op("POST", f"{_V1}/training-jobs", body=_body(*_FIELDS))),
    "training.list": OperationSpec(
        (), "list", _op("GET", f"{_V1}/training-jobs", items="/items")),
    "training.get": OperationSpec(
        ("training_id",), "object", _op("GET", f"{_V1}/training-jobs/{{training_id}}")),
    "training.delete": OperationSpec(
        ("training_id",), "none",
        _op("DELETE", f"{_V1}/training-jobs/{{training_id}}", format="none")),
}
