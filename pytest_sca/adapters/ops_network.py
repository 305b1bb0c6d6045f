"""Operations of tenant network isolation (10.2.f): the policy, and jobs run in a tenant's
network."""

from __future__ import annotations

from pytest_sca.adapters.mapping import OperationSpec, _body, _op

_V1 = "/api/v1"
_NETWORKED = ("name", "image", "command", "workers", "resources", "env", "labels", "network")

#: operation name → parameters, what it returns, and its reference route.
OPERATIONS: dict[str, OperationSpec] = {
    "network.policy": OperationSpec((), "object", _op("GET", f"{_V1}/network")),
    "jobs.submit_networked": OperationSpec(
        _NETWORKED, "object", _op("POST", f"{_V1}/jobs", body=_body(*_NETWORKED))),
}
