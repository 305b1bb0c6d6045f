"""The emulated cluster's pod network, loaded into every emulated pod's Python process.

No container runtime or CNI can run on the test machine, so pods are local processes and
this module plays the CNI and the cluster DNS for them (a TEST DOUBLE, and said so):

- each pod has its own loopback address (``SCA_EMU_POD_IP``, in 127.0.0.0/8): a server
  binding the wildcard address binds that one, so two replicas can use the same port, and
  ``127.0.0.1`` inside a pod is that address (a pod's own network namespace);
- names the cluster DNS would answer (``<host>.<subdomain>``, ``<service>.<namespace>``,
  ``….svc.cluster.local``) resolve through the table the emulator writes (``SCA_EMU_NET``);
- a connection to another pod is refused when the NetworkPolicies of the target's namespace
  do not admit the source's namespace, as the emulator computed them into the same table
  (https://kubernetes.io/docs/concepts/services-networking/network-policies/).
"""

from __future__ import annotations

import json
import os
import socket

_TABLE = os.environ.get("SCA_EMU_NET")
_POD_IP = os.environ.get("SCA_EMU_POD_IP")
_NAMESPACE = os.environ.get("SCA_EMU_NAMESPACE", "")


def _table() -> dict:
    try:
        with open(_TABLE or "", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _resolve(host: str) -> str | None:
    names = _table().get("dns", {})
    for candidate in (host, host.removesuffix(".cluster.local"),
                      host.removesuffix(".svc.cluster.local"), host.removesuffix(".svc")):
        if candidate in names:
            return str(names[candidate])
    return None


def _admitted(address: str) -> bool:
    table = _table()
    target = table.get("pods", {}).get(address)
    if target is None:
        return True
    allowed = table.get("ingress", {}).get(target)
    return allowed is None or _NAMESPACE in allowed


if _TABLE and _POD_IP:
    _getaddrinfo, _bind, _connect, _connect_ex = (socket.getaddrinfo, socket.socket.bind,
                                                  socket.socket.connect,
                                                  socket.socket.connect_ex)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str):
            host = _resolve(host) or host
        return _getaddrinfo(host, *args, **kwargs)

    def bind(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and address[0] in ("", "0.0.0.0"):
            address = (_POD_IP, *address[1:])
        elif isinstance(address, tuple) and isinstance(address[0], str):
            address = (_resolve(address[0]) or address[0], *address[1:])
        return _bind(self, address)

    def _local(address):  # type: ignore[no-untyped-def]
        """A pod's own loopback is its network namespace: its pod IP here."""
        if isinstance(address, tuple) and address[0] in ("127.0.0.1", "localhost"):
            return (_POD_IP, *address[1:])
        return address

    def connect(self, address):  # type: ignore[no-untyped-def]
        address = _local(address)
        if isinstance(address, tuple) and not _admitted(str(address[0])):
            raise ConnectionRefusedError(111, "refused by a NetworkPolicy (emulated CNI)")
        return _connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        address = _local(address)
        if isinstance(address, tuple) and not _admitted(str(address[0])):
            return 111
        return _connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.bind = bind
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
