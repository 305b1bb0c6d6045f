"""``compute``, ``clusters``, ``telemetry``, ``topology``, ``filesystems`` and ``assets``
over the platform API."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import (
    Asset,
    CardSeries,
    Cluster,
    FileSystem,
    FleetPage,
    JobTopology,
    Labels,
    Node,
    PlatformInfo,
)


class PlatformCompute(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Compute` over the platform API."""

    def platform_info(self) -> PlatformInfo:
        return self.subject.call("platform.info")

    def list_nodes(self, cluster_id: str | None = None) -> list[Node]:
        return self.subject.call("nodes.list", cluster_id=cluster_id)

    def get_node(self, node_id: str) -> Node:
        return self.subject.call("nodes.get", node_id=node_id)


class PlatformClusters(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Clusters` over the platform API."""

    def list_clusters(self, kind: str | None = None) -> list[Cluster]:
        return self.subject.call("clusters.list", kind=kind)

    def create_cluster(self, name: str, kind: str, nodes: int, *,
                       accelerator_model: str | None = None,
                       labels: Labels | None = None) -> Cluster:
        return self.subject.create(
            "clusters.create", "clusters", "clusters.delete", {"cluster_id": "id"},
            name=name, kind=kind, nodes=nodes, accelerator_model=accelerator_model,
            labels=labels_or_none(labels))

    def get_cluster(self, cluster_id: str) -> Cluster:
        return self.subject.call("clusters.get", cluster_id=cluster_id)

    def delete_cluster(self, cluster_id: str) -> None:
        self.subject.remove("clusters.delete", cluster_id=cluster_id)

    def scale_out(self, cluster_id: str, count: int) -> Cluster:
        return self.subject.call("clusters.scale_out", cluster_id=cluster_id, count=count)

    def scale_in(self, cluster_id: str, node_id: str) -> Cluster:
        return self.subject.call("clusters.scale_in", cluster_id=cluster_id, node_id=node_id)


class PlatformTelemetry(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Telemetry` over the platform API."""

    def inventory_page(self, offset: int, limit: int) -> FleetPage:
        return self.subject.call("fleet.nodes", offset=offset, limit=limit)

    def card_series(self, cards: Sequence[str]) -> list[CardSeries]:
        return self.subject.call("fleet.metrics", cards=",".join(cards))


class PlatformTopology(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Topology` over the platform API."""

    def of_job(self, job_id: str) -> JobTopology:
        return self.subject.call("jobs.topology", job_id=job_id)


class PlatformFileSystems(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.FileSystems` over the platform API."""

    def list_filesystems(self) -> list[FileSystem]:
        return self.subject.call("filesystems.list")


class PlatformAssets(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Assets` over the platform API."""

    def list_assets(self, tenant_id: str | None = None) -> list[Asset]:
        return self.subject.call("assets.list", tenant_id=tenant_id)
