"""The ``services`` capability over the platform API: inference services and their replicas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record, wait_for
from pytest_sca.adapters.platform import Facade


@runtime_checkable
class Services(ActsAs, Protocol):
    """Inference services deployed on chosen accelerators, with replicas behind one endpoint."""

    def deploy(self, name: str, image: str, resources: Mapping[str, Any], *, replicas: int = 1,
               labels: Mapping[str, str] | None = None) -> Record:
        """Deploy a probe service (removed at the end of the run): ``{id, status, replicas,
        replica_status: [{index, node_id, accelerators, status}], endpoint}``."""
        ...

    def get(self, service_id: str) -> Record:
        """One service."""
        ...

    def invoke(self, service_id: str, payload: Mapping[str, Any]) -> Record:
        """One request through the service's endpoint; the replica's answer
        (``{replica, accelerators, …}``)."""
        ...

    def delete(self, service_id: str) -> None:
        """Delete a service."""
        ...

    def wait_ready(self, service_id: str, timeout: float = 60.0) -> Record:
        """Poll until every replica is ready; :class:`WaitTimeout` if not."""
        ...


class PlatformServices(Facade):
    """Inference services over the platform API."""

    def deploy(self, name: str, image: str, resources: Mapping[str, Any], *, replicas: int = 1,
               labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create(
            "services.create", "services.delete", {"service_id": "id"}, name=name,
            image=image, replicas=replicas, resources=dict(resources),
            labels=dict(labels) if labels else None)

    def get(self, service_id: str) -> Record:
        return self.adapter.call("services.get", service_id=service_id)

    def invoke(self, service_id: str, payload: Mapping[str, Any]) -> Record:
        return self.adapter.call("services.invoke", service_id=service_id, payload=dict(payload))

    def delete(self, service_id: str) -> None:
        self.adapter.remove("services.delete", service_id=service_id)

    def wait_ready(self, service_id: str, timeout: float = 60.0) -> Record:
        return wait_for(
            lambda: self.get(service_id),
            lambda found: found.get("status") in ("ready", "failed", "stopped"), timeout,
            lambda found: f"service {service_id} still {found.get('status')!r}", longest=1.0)


FACADES: dict[str, type[Any]] = {"services": PlatformServices}
