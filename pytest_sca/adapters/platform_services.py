"""The ``services`` capability over the platform API: inference services and their replicas."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record, WaitTimeout
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
        deadline = time.monotonic() + timeout
        interval = 0.1
        while True:
            service = self.get(service_id)
            if service.get("status") in ("ready", "failed", "stopped"):
                return service
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"service {service_id} still {service.get('status')!r} "
                                  f"after {timeout:g} s", service)
            time.sleep(min(interval, remaining))
            interval = min(interval * 1.5, 1.0)


FACADES: dict[str, type[Any]] = {"services": PlatformServices}
