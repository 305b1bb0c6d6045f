"""Operations of operations management: resource analysis report, node NIC bonds."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _op

_V1 = "/api/v1"

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "reports.resources": OperationSpec(
        ("period",), "object",
        _op("GET", f"{_V1}/reports/resources", query={"period": "{period}"})),
    "network.get": OperationSpec(
        ("node_id",), "object", _op("GET", f"{_V1}/nodes/{{node_id}}/network")),
    "network.set_link": OperationSpec(
        ("node_id", "link", "state"), "object",
        _op("POST", f"{_V1}/nodes/{{node_id}}/network/links/{{link}}/{{state}}")),
}
