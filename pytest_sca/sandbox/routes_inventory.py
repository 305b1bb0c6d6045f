"""API routes of the inventory's file systems: the shared file system the SSH nodes mount.

The platform mounts it (and applies the inventory faults to the stored
inventory) when it initialises, before the API serves (``compute.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller
from pytest_sca.sandbox.schemas import documented


class FileSystem(S.Open):
    """A file system whose client the platform deployed onto nodes."""

    id: str
    name: str
    mount_path: str
    nodes: list[str]


def router(platform: SandboxPlatform) -> APIRouter:
    """The file-system listing."""
    routes = APIRouter()

    @routes.get(f"{API}/filesystems", name="filesystem.list",
                **documented(S.Items[FileSystem]))
    def list_filesystems(who: Caller) -> dict[str, Any]:
        return {"items": platform.compute.filesystems()}

    return routes
