"""``filesystems``: shared file systems as Kubernetes sees them.

A file system mounted on nodes is a PersistentVolume of a ``hostPath`` or ``local`` source
(the path on the node; the nodes from its ``nodeAffinity``), or a ReadWriteMany volume of a
network file system (NFS, CephFS, a CSI driver: mounted by the kubelet where a pod uses it,
so no fixed node path); StorageClasses name what can be provisioned
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/).
"""

from __future__ import annotations

from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import FileSystem

from .adapter import KubernetesAdapter


class KubeFileSystems(Facade[KubernetesAdapter]):
    """PersistentVolumes and StorageClasses (:class:`~pytest_sca.capabilities.FileSystems`)."""

    def list_filesystems(self) -> list[FileSystem]:
        adapter = self.subject
        volumes = adapter.call("list persistent volumes",
                               adapter.core().list_persistent_volume).items
        found: list[FileSystem] = []
        for volume in volumes:
            spec = volume.spec
            if spec is None:
                continue
            modes = spec.access_modes or []
            path, kind = None, None
            if spec.host_path is not None:
                path, kind = spec.host_path.path, "hostPath"
            elif spec.local is not None:
                path, kind = spec.local.path, "local"
            elif spec.nfs is not None:
                kind = "nfs"
            elif spec.cephfs is not None:
                kind = "cephfs"
            elif spec.csi is not None:
                kind = f"csi:{spec.csi.driver}"
            if kind is None or ("ReadWriteMany" not in modes and path is None):
                continue
            found.append({"id": volume.metadata.name, "name": volume.metadata.name,
                          "type": kind, "mount_path": path or "",
                          "nodes": _affinity_nodes(spec),
                          "status": (volume.status.phase or "").lower()
                          if volume.status else ""})
        classes = adapter.call("list storage classes", _storage_api(adapter).list_storage_class)
        for storage_class in classes.items:
            found.append({"id": f"storageclass/{storage_class.metadata.name}",
                          "name": storage_class.metadata.name,
                          "type": storage_class.provisioner, "mount_path": "", "nodes": [],
                          "status": "available"})
        return found


def _storage_api(adapter: KubernetesAdapter) -> Any:
    from kubernetes import client

    return client.StorageV1Api(adapter.api)


def _affinity_nodes(spec: Any) -> list[str]:
    """Node names a volume's required node affinity allows (``kubernetes.io/hostname In``)."""
    required = spec.node_affinity.required if spec.node_affinity else None
    names: list[str] = []
    for term in (required.node_selector_terms if required else None) or []:
        for expression in term.match_expressions or []:
            if expression.key == "kubernetes.io/hostname" and expression.operator == "In":
                names.extend(expression.values or [])
    return names
