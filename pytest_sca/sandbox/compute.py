"""The simulated inventory as a service: clusters, nodes, images and the shared file system.

Clusters and their nodes are store documents (``inventory.py`` seeds them);
creating a cluster or scaling it adds simulated nodes. The SSH nodes mount
one directory of this host as a shared file system. The inventory faults
(``accelerators_unmanaged``, ``domestic_vendors_unmanaged``,
``preset_images_missing``) are applied to the stored inventory at every
start, so that every answer built from it misbehaves alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, forbidden, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.inventory import HIDDEN_CARDS_NODE, SSH_NODE_NAMES, new_cluster_nodes
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

#: Vendors still managed under ``domestic_vendors_unmanaged``.
_MANAGED_UNDER_FAULT = ("huawei", "nvidia")
#: Where the SSH nodes mount the shared file system, relative to their home directory.
MOUNT_POINT = "mnt/hpfs"
#: Where ``scratch_filesystem_not_shared`` mounts its second file system on each node.
SCRATCH_POINT = "mnt/scratch"


class Compute:
    """Clusters, nodes and images over the store, seen through the permission rules."""

    def __init__(self, store: Store, permissions: Permissions, faults: Faults,
                 hosts_dir: Path) -> None:
        self.store = store
        self.permissions = permissions
        self.faults = faults
        #: What the simulated hosts see: their home directories and the shared file system.
        self.hosts_dir = hosts_dir
        self._filesystems: list[Document] = []

    # clusters ---------------------------------------------------------------------------------

    def _readable(self, who: Principal, tenant_id: str | None) -> bool:
        """Platform-wide things (no tenant) are readable by everyone."""
        return tenant_id is None or self.permissions.can_read_tenant(
            who, tenant_id, cross_tenant_kind=False)

    def clusters(self, who: Principal, kind: str | None) -> list[Document]:
        """The clusters ``who`` may see, of one kind when given."""
        return [c for c in self.store.list("cluster")
                if (kind is None or c["kind"] == kind) and self._readable(who, c["tenant_id"])]

    def visible_cluster(self, who: Principal, cluster_id: str) -> Document:
        """A cluster ``who`` may see, or 404."""
        cluster = self.store.get("cluster", cluster_id)
        if cluster is None or not self._readable(who, cluster["tenant_id"]):
            raise not_found(f"cluster {cluster_id}")
        return cluster

    def create_cluster(self, tenant_id: str | None, name: str, kind: str, nodes: int,
                       accelerator_model: str | None, labels: dict[str, str]) -> Document:
        """A ready cluster of ``nodes`` simulated nodes (H100 unless another model is named)."""
        cluster: Document = {
            "id": new_id("cluster"), "name": name, "kind": kind,
            "tenant_id": tenant_id, "node_ids": [], "status": "ready", "simulated": True,
            "created_at": utc_now(), "labels": labels,
        }
        for node in new_cluster_nodes(cluster, nodes, accelerator_model or "H100"):
            node["labels"] = dict(labels)
            self.store.put("node", node)
            cluster["node_ids"].append(node["id"])
        cluster["accelerator_model"] = accelerator_model or "H100"
        self.store.put("cluster", cluster)
        return cluster

    def delete_cluster(self, cluster_id: str) -> None:
        """Remove a cluster and its nodes; refused while a job holds one of its cards."""
        cluster = self.store.get("cluster", cluster_id)
        if cluster is None:
            raise not_found(f"cluster {cluster_id}")
        nodes = [self.store.get("node", n) for n in cluster["node_ids"]]
        if any(a["allocated_to"] for n in nodes if n for a in n["accelerators"]):
            raise ApiError(409, "conflict", f"cluster {cluster_id} has running jobs")
        for node_id in cluster["node_ids"]:
            self.store.delete("node", node_id)
        self.store.delete("cluster", cluster_id)

    def scale_out(self, cluster: Document, count: int) -> Document:
        """Add ``count`` nodes of the cluster's card model (nothing under the scaling fault)."""
        if Fault.CLUSTER_SCALING_IGNORED in self.faults:
            return cluster
        with self.store.lock:
            model = cluster.get("accelerator_model") or "H100"
            for node in new_cluster_nodes(cluster, count, model):
                if Fault.SCALED_NODES_UNLISTED not in self.faults:
                    self.store.put("node", node)
                cluster["node_ids"].append(node["id"])
            self.store.put("cluster", cluster)
        return cluster

    def scale_in(self, cluster: Document, node_id: str) -> Document:
        """Remove an idle simulated node (nothing under the scaling fault)."""
        if Fault.CLUSTER_SCALING_IGNORED in self.faults:
            return cluster
        with self.store.lock:
            node = self.store.get("node", node_id)
            if node is None or node_id not in cluster["node_ids"]:
                raise not_found(f"node {node_id} in cluster {cluster['id']}")
            if node.get("ssh"):
                raise ApiError(409, "conflict", f"node {node_id} is an SSH node of the sandbox")
            if any(a["allocated_to"] for a in node["accelerators"]):
                raise ApiError(409, "conflict", f"node {node_id} runs jobs")
            self.store.delete("node", node_id)
            cluster["node_ids"].remove(node_id)
            self.store.put("cluster", cluster)
        return cluster

    # nodes ------------------------------------------------------------------------------------

    def _node_visible(self, who: Principal, node: Document) -> bool:
        cluster = self.store.get("cluster", node["cluster_id"])
        return cluster is not None and self._readable(who, cluster["tenant_id"])

    def nodes(self, who: Principal, cluster_id: str | None) -> list[Document]:
        """The nodes ``who`` may see, of one cluster when given, as the inventory lists them."""
        return [self._as_listed(n) for n in self.store.list("node")
                if (cluster_id is None or n["cluster_id"] == cluster_id)
                and self._node_visible(who, n)]

    def visible_node(self, who: Principal, node_id: str) -> Document:
        """A node ``who`` may see, as the inventory lists it, or 404."""
        node = self.store.get("node", node_id)
        if node is None or not self._node_visible(who, node):
            raise not_found(f"node {node_id}")
        return self._as_listed(node)

    def _as_listed(self, node: Document) -> Document:
        """``node`` as the inventory answers it: under ``inventory_hides_cards``, node
        :data:`HIDDEN_CARDS_NODE` without the second half of its cards (the node, its
        scheduler and its exporter still have them all)."""
        if Fault.INVENTORY_HIDES_CARDS not in self.faults or node["id"] != HIDDEN_CARDS_NODE:
            return node
        cards = node["accelerators"]
        return {**node, "accelerators": cards[:len(cards) // 2]}

    # images -------------------------------------------------------------------------------------

    def images(self, who: Principal) -> list[Document]:
        """The catalogue's images and ``who``'s tenant's own."""
        return [i for i in self.store.list("image") if self._readable(who, i["tenant_id"])]

    def create_image(self, who: Principal, spec: dict[str, Any]) -> Document:
        """A tenant image in the catalogue."""
        image = {
            "id": new_id("img"), "name": spec["name"], "tag": spec["tag"],
            "framework": spec["framework"], "framework_version": spec["framework_version"],
            "preset": False, "size_bytes": 0, "tenant_id": who.tenant_id,
            "created_at": utc_now(), "labels": spec["labels"],
        }
        self.store.put("image", image)
        return image

    def visible_image(self, who: Principal, image_id: str) -> Document:
        """An image ``who`` may see, or 404."""
        image = self.store.get("image", image_id)
        if image is None or not self._readable(who, image["tenant_id"]):
            raise not_found(f"image {image_id}")
        return image

    def delete_image(self, who: Principal, image: Document) -> None:
        """Remove an image; preset images only by a platform admin."""
        if image["preset"] and not who.is_platform_admin:
            raise forbidden("preset images can only be removed by a platform admin")
        self.store.delete("image", image["id"])

    # start-up: inventory faults and the shared file system ------------------------------------

    def apply_inventory_faults(self) -> None:
        """Make the stored inventory and catalogue misbehave as the active faults say."""
        with self.store.lock:
            if Fault.ACCELERATORS_UNMANAGED in self.faults:
                self._unmanage(None)
            elif Fault.DOMESTIC_VENDORS_UNMANAGED in self.faults:
                self._unmanage(_MANAGED_UNDER_FAULT)
            if Fault.PRESET_IMAGES_MISSING in self.faults:
                for image in self.store.list("image", where=lambda i: bool(i["preset"])):
                    self.store.delete("image", image["id"])
            elif Fault.PRESET_IMAGES_UNVERSIONED in self.faults:
                for image in self.store.list("image", where=lambda i: bool(i["preset"])):
                    self.store.update("image", image["id"], _unversion)

    def _unmanage(self, keep: tuple[str, ...] | None) -> None:
        def strip(node: Document) -> None:
            node["accelerators"] = [a for a in node["accelerators"]
                                    if keep is not None and a["vendor"] in keep]

        for node in self.store.list("node"):
            self.store.update("node", node["id"], strip)

    def mount_shared_filesystem(self) -> None:
        """Mount one directory of the host at ``~/mnt/hpfs`` of every SSH node (a symlink: the
        nodes share this host); under ``filesystem_not_shared`` each gets a private one."""
        shared = self.hosts_dir / "filesystems" / "hpfs"
        shared.mkdir(parents=True, exist_ok=True)
        for name in SSH_NODE_NAMES:
            mount = self.hosts_dir / "nodes" / name / MOUNT_POINT
            mount.parent.mkdir(parents=True, exist_ok=True)
            if mount.is_symlink() or mount.is_file():
                mount.unlink()
            elif mount.is_dir():
                shutil.rmtree(mount)
            mount.parent.chmod(0o755)  # the node's own account must reach its mount
            if Fault.FILESYSTEM_NOT_SHARED in self.faults:
                # A private directory per node; sticky and writable like a fresh mount.
                mount.mkdir(mode=0o1777)
                mount.chmod(0o1777)
            else:
                mount.symlink_to(Path("../../../filesystems/hpfs"))
        self._filesystems = [{
            "id": "fs-hpfs", "name": "hpfs", "type": "parallel", "mount_path": f"~/{MOUNT_POINT}",
            "nodes": list(SSH_NODE_NAMES), "status": "mounted", "simulated": True,
            "note": "a directory of the sandbox host that every SSH node mounts",
        }]
        if Fault.SCRATCH_FILESYSTEM_NOT_SHARED in self.faults:
            self._filesystems.append(self._private_scratch())

    def _private_scratch(self) -> Document:
        """``scratch_filesystem_not_shared``: a file system listed second, mounted on every SSH
        node as a directory of its own."""
        for name in SSH_NODE_NAMES:
            mount = self.hosts_dir / "nodes" / name / SCRATCH_POINT
            if mount.is_symlink() or mount.is_file():
                mount.unlink()
            mount.mkdir(mode=0o1777, exist_ok=True)
            mount.chmod(0o1777)  # sticky and writable like a fresh mount
        return {"id": "fs-scratch", "name": "scratch", "type": "parallel",
                "mount_path": f"~/{SCRATCH_POINT}", "nodes": list(SSH_NODE_NAMES),
                "status": "mounted", "simulated": True}

    def filesystems(self) -> list[Document]:
        """The file systems the platform deployed onto nodes."""
        return list(self._filesystems)


def _unversion(image: Document) -> None:
    image["framework_version"] = None
    image["tag"] = "latest"
