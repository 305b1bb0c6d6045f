"""Platform operations of chapter 8: models, files, deployments, fine-tuning, model usage,
workflow applications, their runs and usage (reference routes, docs/chapter08.md)."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"


def _list(path: str, *query: str) -> dict[str, object]:
    return _op("GET", f"{_V1}{path}", query=_body(*query), items="/items")


OPERATIONS: dict[str, OperationSpec] = {
    "models.list": OperationSpec((), "list", _list("/models")),
    "models.get": OperationSpec(("model_id",), "object", _op("GET", f"{_V1}/models/{{model_id}}")),
    "models.import": OperationSpec(
        ("name", "source", "kind", "format", "license", "labels"),
        "object",
        _op("POST", f"{_V1}/models/import",
            body=_body("name", "source", "kind", "format", "license", "labels")),
    ),
    "models.update": OperationSpec(
        ("model_id", "name", "description", "license", "labels"),
        "object",
        _op("PATCH", f"{_V1}/models/{{model_id}}",
            body=_body("name", "description", "license", "labels")),
    ),
    "models.delete": OperationSpec(
        ("model_id",), "none", _op("DELETE", f"{_V1}/models/{{model_id}}", format="none")
    ),
    "files.upload": OperationSpec(
        ("filename", "purpose", "content", "encoding", "labels"),
        "object",
        _op("POST", f"{_V1}/files",
            body=_body("filename", "purpose", "content", "encoding", "labels")),
    ),
    "files.delete": OperationSpec(
        ("file_id",), "none", _op("DELETE", f"{_V1}/files/{{file_id}}", format="none")
    ),
    "deployments.list": OperationSpec((), "list", _list("/deployments")),
    "deployments.create": OperationSpec(
        ("name", "model", "replicas", "resources", "labels"),
        "object",
        _op("POST", f"{_V1}/deployments",
            body=_body("name", "model", "replicas", "resources", "labels")),
    ),
    "deployments.get": OperationSpec(
        ("deployment_id",), "object", _op("GET", f"{_V1}/deployments/{{deployment_id}}")
    ),
    "deployments.scale": OperationSpec(
        ("deployment_id", "replicas"),
        "object",
        _op("POST", f"{_V1}/deployments/{{deployment_id}}/scale", body=_body("replicas")),
    ),
    "deployments.stop": OperationSpec(
        ("deployment_id",), "object", _op("POST", f"{_V1}/deployments/{{deployment_id}}/stop")
    ),
    "deployments.start": OperationSpec(
        ("deployment_id",), "object", _op("POST", f"{_V1}/deployments/{{deployment_id}}/start")
    ),
    "deployments.delete": OperationSpec(
        ("deployment_id",),
        "none",
        _op("DELETE", f"{_V1}/deployments/{{deployment_id}}", format="none"),
    ),
    "finetunes.create": OperationSpec(
        ("base_model", "training_file", "suffix", "steps", "labels"),
        "object",
        _op("POST", f"{_V1}/fine-tunes",
            body=_body("base_model", "training_file", "suffix", "steps", "labels")),
    ),
    "finetunes.get": OperationSpec(
        ("job_id",), "object", _op("GET", f"{_V1}/fine-tunes/{{job_id}}")
    ),
    "finetunes.logs": OperationSpec(
        ("job_id",), "text", _op("GET", f"{_V1}/fine-tunes/{{job_id}}/logs", format="text")
    ),
    "finetunes.delete": OperationSpec(
        ("job_id",), "none", _op("DELETE", f"{_V1}/fine-tunes/{{job_id}}", format="none")
    ),
    "model_usage.query": OperationSpec(
        ("user_id", "model", "since", "until"),
        "object",
        _op("GET", f"{_V1}/model-usage", query=_body("user_id", "model", "since", "until")),
    ),
    "workflow_apps.environments": OperationSpec((), "list", _list("/workflow-environments")),
    "workflow_apps.list": OperationSpec((), "list", _list("/workflows")),
    "workflow_apps.import": OperationSpec(
        ("name", "workflow", "labels"),
        "object",
        _op("POST", f"{_V1}/workflows", body=_body("name", "workflow", "labels")),
    ),
    "workflow_apps.get": OperationSpec(
        ("workflow_id",), "object", _op("GET", f"{_V1}/workflows/{{workflow_id}}")
    ),
    "workflow_apps.configure": OperationSpec(
        ("workflow_id", "environment_id"),
        "object",
        _op("PUT", f"{_V1}/workflows/{{workflow_id}}/environment",
            body=_body("environment_id")),
    ),
    "workflow_apps.validate": OperationSpec(
        ("workflow_id",), "object", _op("POST", f"{_V1}/workflows/{{workflow_id}}/validate")
    ),
    "workflow_apps.publish": OperationSpec(
        ("workflow_id",), "object", _op("POST", f"{_V1}/workflows/{{workflow_id}}/publish")
    ),
    "workflow_apps.unpublish": OperationSpec(
        ("workflow_id",), "object", _op("POST", f"{_V1}/workflows/{{workflow_id}}/unpublish")
    ),
    "workflow_apps.delete": OperationSpec(
        ("workflow_id",),
        "none",
        _op("DELETE", f"{_V1}/workflows/{{workflow_id}}", format="none"),
    ),
    "workflow_apps.trial": OperationSpec(
        ("workflow_id", "inputs"),
        "object",
        _op("POST", f"{_V1}/workflows/{{workflow_id}}/trial", body=_body("inputs")),
    ),
    "workflow_apps.invoke": OperationSpec(
        ("workflow_id", "inputs"),
        "object",
        _op("POST", f"{_V1}/workflows/{{workflow_id}}/invoke", body=_body("inputs")),
    ),
    "workflow_runs.list": OperationSpec(("workflow_id",), "list",
                                        _list("/workflow-runs", "workflow_id")),
    "workflow_runs.get": OperationSpec(
        ("run_id",), "object", _op("GET", f"{_V1}/workflow-runs/{{run_id}}")
    ),
    "workflow_usage.query": OperationSpec(
        ("since", "until", "user_id"),
        "object",
        _op("GET", f"{_V1}/workflow-usage", query=_body("since", "until", "user_id")),
    ),
}
