"""The vendors' OpenAPI documents the mapping generator is tested on (tests/adapters/data/).

- ``slurmrestd-v0.0.38-openapi.json``: served by a real slurmrestd 22.05 at ``/openapi/v3``
  (saved from the cluster of test_mapping_slurm.py; :func:`save_slurmrestd` saves it again).
- ``mlflow-openapi.json``: MLflow's tracking server publishes no OpenAPI document; its REST
  API is defined by protobuf services whose methods carry their HTTP method and path. This
  module turns those definitions (the installed ``mlflow``'s) into OpenAPI 3:
  ``python -m tests.adapters.openapi_docs`` writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data")
MLFLOW = DATA / "mlflow-openapi.json"
SLURMRESTD = DATA / "slurmrestd-v0.0.38-openapi.json"

_SCALARS = {1: "number", 2: "number", 3: "integer", 4: "integer", 5: "integer", 6: "integer",
            7: "integer", 8: "boolean", 9: "string", 12: "string", 13: "integer",
            14: "string", 15: "integer", 16: "integer", 17: "integer", 18: "integer"}


def _schema(message: Any, depth: int = 0) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in message.fields:
        if field.message_type is not None:
            item: dict[str, Any] = (_schema(field.message_type, depth + 1) if depth < 4
                                    else {"type": "object"})
        else:
            item = {"type": _SCALARS.get(field.type, "string")}
        if field.is_repeated if hasattr(field, "is_repeated") else field.label == 3:
            item = {"type": "array", "items": item}
        properties[field.name] = item
    return {"type": "object", "properties": properties}


def mlflow_openapi() -> dict[str, Any]:
    """OpenAPI 3 of MLflow's REST API 2.0, from the installed mlflow's protobuf services."""
    import mlflow
    from mlflow.protos import databricks_pb2, model_registry_pb2, service_pb2

    paths: dict[str, dict[str, Any]] = {}
    for module in (service_pb2, model_registry_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                rpc = method.GetOptions().Extensions[databricks_pb2.rpc]
                for endpoint in rpc.endpoints:
                    if endpoint.since.major != 2:
                        continue
                    path = f"/api/2.0{endpoint.path}"
                    verb = endpoint.method.lower()
                    request = _schema(method.input_type)
                    operation: dict[str, Any] = {
                        "operationId": method.name,
                        "summary": rpc.rpc_doc_title or method.name,
                        "responses": {"200": {"description": "OK", "content": {
                            "application/json": {"schema": _schema(method.output_type)}}}},
                    }
                    if verb == "get":
                        operation["parameters"] = [
                            {"name": name, "in": "query", "schema": schema}
                            for name, schema in request["properties"].items()]
                    else:
                        operation["requestBody"] = {"content": {
                            "application/json": {"schema": request}}}
                    paths.setdefault(path, {})[verb] = operation
    return {"openapi": "3.0.3",
            "info": {"title": "MLflow REST API", "version": mlflow.__version__},
            "paths": paths}


def save_slurmrestd(url: str, headers: dict[str, str]) -> None:
    """Save the OpenAPI document a running slurmrestd serves."""
    import requests

    document = requests.get(f"{url.rstrip('/')}/openapi/v3", headers=headers, timeout=30).json()
    SLURMRESTD.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    MLFLOW.write_text(json.dumps(mlflow_openapi(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {MLFLOW}")
