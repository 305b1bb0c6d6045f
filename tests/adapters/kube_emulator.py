"""A Kubernetes API emulator on loopback for the adapter's tests.

No real kube-apiserver can run on this machine (none is packaged here), so the
tests talk to kmock's ``KubernetesEmulator``: an in-memory API server that the
official client reaches over real HTTP. It stores what it is sent and serves it
back; it runs no controllers (no pod is ever started for a Job) and ignores
label and field selectors. Two gaps are bridged here, and only here:

- kmock 0.8 cannot parse the cluster-scoped ``/api/v1/namespaces[/<name>]`` paths
  (500): its path parser is patched, while the emulator runs, to read them as the
  ``namespaces`` resource, so Namespaces are stored like any other object;
- it has no TokenRequest or SelfSubjectReview logic: reactions answer them, with a
  token ``tok.<namespace>.<account>`` and the service account a token names;
- it serves no API discovery: ``/apis`` answers an empty group list (no component beyond
  the core API, so the adapter's other capabilities are ``Unsupported`` here).

The tests play the part of the controllers where a behaviour needs one, and say so.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kmock
import yaml
from kmock._internal import parsing

_ORIGINAL_PARSE_PATH = parsing.parse_path


def _parse_path(path: str) -> Any:
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        return parsing.ParsedPath("", "v1", "namespaces", None,
                                  parts[3] if len(parts) == 4 else None, None)
    return _ORIGINAL_PARSE_PATH(path)


def _token(request: Any) -> dict[str, Any]:
    parts = request.url.path.split("/")
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": []},
            "status": {"token": f"tok.{parts[4]}.{parts[6]}",
                       "expirationTimestamp": "2030-01-01T00:00:00Z"}}


def _who(request: Any) -> dict[str, Any]:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    pieces = token.split(".")
    username = (f"system:serviceaccount:{pieces[1]}:{pieces[2]}"
                if len(pieces) == 3 and pieces[0] == "tok" else "kubernetes-admin")
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
            "status": {"userInfo": {"username": username}}}


class EmulatedCluster:
    """The emulator in its own thread and event loop, and a kubeconfig that points at it."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kube-emulator",
                                       daemon=True)
        self.emulator: Any = None
        self.server: Any = None
        self.kubeconfig = folder / "kubeconfig"
        self.url = ""

    def start(self, logs: dict[tuple[str, str], str]) -> None:
        parsing.parse_path = _parse_path
        self.thread.start()

        async def up() -> None:
            self.emulator = kmock.KubernetesEmulator()
            self.emulator.resources.load_bundled()
            token_path = re.compile(r"^/api/v1/namespaces/[^/]+/serviceaccounts/[^/]+/token$")
            self.emulator["post", token_path] << _token
            self.emulator["post /apis/authentication.k8s.io/v1/selfsubjectreviews"] << _who
            # API discovery: no group beyond the core one is served here.
            self.emulator["get", re.compile(r"^/apis/?$")] << {
                "kind": "APIGroupList", "apiVersion": "v1", "groups": []}
            for (namespace, pod), text in logs.items():
                self.emulator[f"get /api/v1/namespaces/{namespace}/pods/{pod}/log"] << text
            await self.emulator.__aenter__()
            self.server = kmock.Server(self.emulator)
            await self.server.__aenter__()

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(timeout=10)
        self.url = str(self.server.url).rstrip("/")
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulated",
            "clusters": [{"name": "emulated", "cluster": {"server": self.url}}],
            "contexts": [{"name": "emulated",
                          "context": {"cluster": "emulated", "user": "probe"}}],
            "users": [{"name": "probe", "user": {"token": "sca-emulator-token"}}],
        }))

    def stop(self) -> None:
        async def down() -> None:
            await self.server.__aexit__(None, None, None)
            await self.emulator.__aexit__(None, None, None)

        if self.server is not None:
            asyncio.run_coroutine_threadsafe(down(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
        parsing.parse_path = _ORIGINAL_PARSE_PATH


@contextmanager
def emulated_cluster(folder: Path,
                     logs: dict[tuple[str, str], str] | None = None) -> Iterator[EmulatedCluster]:
    """Start an emulated cluster; stopped (thread joined) on exit."""
    cluster = EmulatedCluster(folder)
    try:
        cluster.start(logs or {})
        yield cluster
    finally:
        cluster.stop()
