"""The ``operations`` capability over the platform API: analysis reports, NIC bond drills."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record
from pytest_sca.adapters.platform import Facade


@runtime_checkable
class Operations(ActsAs, Protocol):
    """What a platform operator sees and does across the platform."""

    def resource_report(self, period: str | None = None) -> Record:
        """Utilisation analysis of ``period`` (YYYY-MM, default this month):
        ``{period, accelerators: {total, allocated, allocation_ratio, by_model, by_cluster},
        usage: {card_hours, core_hours, by_tenant}, recommendations: [{kind, severity,
        subject, message}]}``."""
        ...

    def node_network(self, node_id: str) -> Record:
        """A node's NICs and bonds: ``{interfaces, bonds: [{name, mode, members,
        active_member, state}]}``."""
        ...

    def set_link(self, node_id: str, link: str, up: bool) -> Record:
        """Take one NIC port of a node down (or up again): a link failure drill."""
        ...


class PlatformOperations(Facade):
    """Operations over the platform API."""

    def resource_report(self, period: str | None = None) -> Record:
        return self.adapter.call("reports.resources", period=period)

    def node_network(self, node_id: str) -> Record:
        return self.adapter.call("network.get", node_id=node_id)

    def set_link(self, node_id: str, link: str, up: bool) -> Record:
        return self.adapter.call("network.set_link", node_id=node_id, link=link,
                                 state="up" if up else "down")


FACADES: dict[str, type[Any]] = {"operations": PlatformOperations}
