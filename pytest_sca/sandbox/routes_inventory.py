"""Inventory of chapter 6: the shared file system the SSH nodes mount, and the inventory
faults, applied once to the seeded store when the API is built.

The nodes and images routes (routes_compute.py) serve what the store holds, so a fault
that makes the platform stop managing some hardware or images removes them from the store.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.inventory import SSH_NODE_NAMES
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document

#: Vendors still managed under ``domestic_vendors_unmanaged``.
_MANAGED_UNDER_FAULT = ("huawei", "nvidia")
#: Where the SSH nodes mount the shared file system, relative to their home directory.
MOUNT_POINT = "mnt/hpfs"


class FileSystem(S.Open):
    """A file system whose client the platform deployed onto nodes."""

    id: str
    name: str
    mount_path: str
    nodes: list[str]


def _unmanage(platform: SandboxPlatform, keep: tuple[str, ...] | None) -> None:
    def strip(node: Document) -> None:
        node["accelerators"] = [a for a in node["accelerators"]
                                if keep is not None and a["vendor"] in keep]

    for node in platform.store.list("node"):
        platform.store.update("node", node["id"], strip)


def apply_inventory_faults(platform: SandboxPlatform) -> None:
    """Make the stored inventory and catalogue misbehave as the active faults say."""
    faults = platform.faults
    with platform.store.lock:
        if Fault.ACCELERATORS_UNMANAGED in faults:
            _unmanage(platform, None)
        elif Fault.DOMESTIC_VENDORS_UNMANAGED in faults:
            _unmanage(platform, _MANAGED_UNDER_FAULT)
        if Fault.PRESET_IMAGES_MISSING in faults:
            for image in platform.store.list("image", where=lambda i: bool(i["preset"])):
                platform.store.delete("image", image["id"])


def mount_shared_filesystem(platform: SandboxPlatform) -> Document:
    """Mount one directory of the host at ``~/mnt/hpfs`` of every SSH node (a symlink: the
    nodes share this host); under ``filesystem_not_shared`` each gets a private one."""
    shared = platform.state_dir / "filesystems" / "hpfs"
    shared.mkdir(parents=True, exist_ok=True)
    for name in SSH_NODE_NAMES:
        mount = platform.state_dir / "nodes" / name / MOUNT_POINT
        mount.parent.mkdir(parents=True, exist_ok=True)
        if mount.is_symlink() or mount.is_file():
            mount.unlink()
        elif mount.is_dir():
            shutil.rmtree(mount)
        if Fault.FILESYSTEM_NOT_SHARED in platform.faults:
            mount.mkdir()
        else:
            mount.symlink_to(Path("../../../filesystems/hpfs"))
    return {
        "id": "fs-hpfs", "name": "hpfs", "type": "parallel", "mount_path": f"~/{MOUNT_POINT}",
        "nodes": list(SSH_NODE_NAMES), "status": "mounted", "simulated": True,
        "note": "a directory of the sandbox host that every SSH node mounts",
    }


def router(platform: SandboxPlatform) -> APIRouter:
    """The file-system listing; applies the inventory faults (the store is seeded by now)."""
    apply_inventory_faults(platform)
    filesystem = mount_shared_filesystem(platform)
    routes = APIRouter()

    @routes.get(f"{API}/filesystems", name="filesystem.list",
                **documented(S.Items[FileSystem]))
    def list_filesystems(who: Caller) -> dict[str, Any]:
        return {"items": [filesystem]}

    return routes
