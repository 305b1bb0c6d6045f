"""Operations of performance and operations checks (chapter 9): diagnostics per layer, a job's
topology, and the per-card metric series of a large accelerator fleet, queried in batches."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "diagnoses.create": OperationSpec(
        ("layer", "job_id", "node_id"), "object",
        _op("POST", f"{_V1}/diagnoses", body=_body("layer", "job_id", "node_id"))),
    "diagnoses.get": OperationSpec(
        ("diagnosis_id",), "object", _op("GET", f"{_V1}/diagnoses/{{diagnosis_id}}")),
    "jobs.topology": OperationSpec(
        ("job_id",), "object", _op("GET", f"{_V1}/jobs/{{job_id}}/topology")),
    "fleet.nodes": OperationSpec(
        ("offset", "limit"), "object",
        _op("GET", f"{_V1}/fleet/nodes", query={"offset": "{offset}", "limit": "{limit}"})),
    "fleet.metrics": OperationSpec(
        ("cards",), "list",
        _op("GET", f"{_V1}/fleet/metrics", query={"cards": "{cards}"}, items="/items")),
}
