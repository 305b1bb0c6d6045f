"""What the platform is made of: capabilities ``compute``, ``clusters``, ``telemetry``,
``topology``, ``filesystems`` and ``assets``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels, Unretried


class PlatformInfo(TypedDict, total=False):
    """The platform's name and version; ``faults`` only for a sandbox's admin."""

    name: str
    version: str
    api_version: str
    simulated: bool
    faults: list[str]


class Accelerator(TypedDict, total=False):
    """One accelerator card of a node; ``allocated_to`` names the job holding it."""

    index: int | str
    vendor: str
    model: str
    #: What holds the card on its node: a Kubernetes extended resource, a Slurm GRES.
    resource: str
    memory_gib: float | None
    allocated_to: str | None
    simulated: bool
    #: Jobs holding a fraction of the card (job id → share), when the card is shared.
    shares: dict[str, float]
    #: Where the card sits: its PCIe switch / NVLink domain, NUMA node and CPU socket, as far
    #: as the platform says (``{"switch": "pcie-sw0", "numa": "numa0"}``; Slurm: ``socket``).
    topology: dict[str, str]
    #: Why the card lists no ``topology``, where the platform can say (what it lacks).
    topology_note: str


class SshAccess(TypedDict, total=False):
    """How a node is reached over SSH."""

    host: str
    port: int
    user: str


class Node(TypedDict, total=False):
    """A node: its size, its cards and its health."""

    id: str
    cluster_id: str | None
    hostname: str
    kind: str
    cpu: float
    memory_gib: float
    accelerators: list[Accelerator]
    ssh: SshAccess
    health: str
    labels: dict[str, str]
    topology: dict[str, str]
    simulated: bool


class Cluster(TypedDict, total=False):
    """A bare-metal or container cluster."""

    id: str
    name: str
    kind: str
    tenant_id: str
    node_ids: list[str]
    status: str
    labels: dict[str, str]
    created_at: str


class FleetNode(TypedDict, total=False):
    """A node of the fleet inventory: only its cards."""

    id: str
    accelerators: list[Accelerator]


class FleetPage(TypedDict, total=False):
    """One page of the fleet inventory."""

    items: list[FleetNode]
    total: int
    offset: int
    simulated: bool


class CardSeries(TypedDict, total=False):
    """The recent samples of one card (``node/index``); ``found`` false for an unknown card."""

    card: str
    found: bool
    metric: str
    #: ``[time, value]`` pairs, oldest first; the time as epoch seconds or RFC 3339 text.
    samples: list[list[float | str]]
    last_sample_at: float | str | None
    simulated: bool


class TopologyNode(TypedDict, total=False):
    """A node holding part of a job: the ranks on it and the cards they use."""

    id: str
    hostname: str
    cluster_id: str
    workers: list[int]
    accelerators: list[Accelerator]


#: A link between two nodes (``from``, ``to``, ``kind``): ``from`` is a keyword, so a dict.
TopologyLink = dict[str, Any]


class JobTopology(TypedDict, total=False):
    """Where a job's resources are and how they are linked."""

    job_id: str
    nodes: list[TopologyNode]
    links: list[TopologyLink]
    simulated: bool


class FileSystem(TypedDict, total=False):
    """A high-performance file system and the nodes whose clients mount it."""

    id: str
    name: str
    type: str
    mount_path: str
    nodes: list[str]
    status: str


class AssetRisk(TypedDict, total=False):
    """An asset's risk status and what was found."""

    status: str
    findings: list[str]


class Asset(TypedDict, total=False):
    """An asset of the inventory, by organisation unit."""

    id: str
    kind: str
    name: str
    tenant_id: str
    org_unit: str
    risk: AssetRisk


@runtime_checkable
class Compute(ActsAs, Unretried, Protocol):
    """The compute inventory: the platform itself, its nodes and accelerators."""

    def platform_info(self) -> PlatformInfo:
        """The platform's name and version."""
        ...

    def list_nodes(self, cluster_id: str | None = None) -> list[Node]:
        """Nodes, optionally of one cluster."""
        ...

    def get_node(self, node_id: str) -> Node:
        """One node."""
        ...


@runtime_checkable
class Clusters(ActsAs, Protocol):
    """Bare-metal and container clusters, and their scaling."""

    def list_clusters(self, kind: str | None = None) -> list[Cluster]:
        """Clusters (``kind`` ``baremetal`` or ``container``)."""
        ...

    def create_cluster(self, name: str, kind: str, nodes: int, *,
                       accelerator_model: str | None = None,
                       labels: Labels | None = None) -> Cluster:
        """Create a cluster of ``nodes`` nodes (removed at the end of the check)."""
        ...

    def get_cluster(self, cluster_id: str) -> Cluster:
        """One cluster."""
        ...

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete a cluster."""
        ...

    def scale_out(self, cluster_id: str, count: int) -> Cluster:
        """Add ``count`` nodes; returns the cluster."""
        ...

    def scale_in(self, cluster_id: str, node_id: str) -> Cluster:
        """Remove one node; returns the cluster."""
        ...


@runtime_checkable
class Telemetry(ActsAs, Protocol):
    """The accelerator inventory and each card's metric series, at fleet scale."""

    def inventory_page(self, offset: int, limit: int) -> FleetPage:
        """One page of nodes with their cards."""
        ...

    def card_series(self, cards: Sequence[str]) -> list[CardSeries]:
        """The recent samples of each ``node/index`` card; one request per batch."""
        ...


@runtime_checkable
class Topology(ActsAs, Protocol):
    """Where a job's resources are and how they are linked."""

    def of_job(self, job_id: str) -> JobTopology:
        """The topology of a job's resources and their links."""
        ...


@runtime_checkable
class FileSystems(Protocol):
    """High-performance file systems whose clients the platform deploys onto nodes."""

    def list_filesystems(self) -> list[FileSystem]:
        """File systems and the nodes that mount them."""
        ...


@runtime_checkable
class Assets(Protocol):
    """The asset inventory by organisation unit, with risk status."""

    def list_assets(self, tenant_id: str | None = None) -> list[Asset]:
        """Assets, optionally of one tenant."""
        ...
