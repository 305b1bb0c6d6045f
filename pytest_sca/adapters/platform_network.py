"""Capability ``network`` (tenant network isolation) over the platform API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record
from pytest_sca.adapters.platform import Facade


@runtime_checkable
class Network(ActsAs, Protocol):
    """Tenant networks: jobs run in their tenant's network, isolated from other tenants'."""

    def policy(self) -> Record:
        """``{isolation: tenant|none|unsupported, reason?}``: what the platform applies."""
        ...

    def run_in_tenant_network(
        self, name: str, image: str, command: Sequence[str], resources: Mapping[str, Any], *,
        env: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Submit a job that runs in the caller's tenant network (deleted at the end of the
        run). The answer carries ``network: {namespace, address}``: the address other jobs
        use to reach a service the job listens on."""
        ...


class PlatformNetwork(Facade):
    """:class:`Network` over the platform API."""

    def policy(self) -> Record:
        return self.adapter.call("network.policy")  # type: ignore[no-any-return]

    def run_in_tenant_network(
        self, name: str, image: str, command: Sequence[str], resources: Mapping[str, Any], *,
        env: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(  # type: ignore[no-any-return]
            "jobs.submit_networked", "jobs.delete", {"job_id": "id"},
            name=name, image=image, command=list(command), resources=dict(resources),
            workers=1, env=dict(env) if env else None, labels=dict(labels) if labels else None,
            network="tenant")


FACADES: dict[str, type[Facade]] = {"network": PlatformNetwork}
