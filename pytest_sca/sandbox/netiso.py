"""Tenant networks: one Linux network namespace per tenant, isolated from the others.

Each tenant that runs a job with ``network: "tenant"`` gets a namespace
``sca-<pid>-t<n>`` with one veth interface (``eth0``) addressed in TEST-NET
192.0.2.0/24. The other end of every veth sits on one bridge inside a
namespace of its own (``sca-<pid>-br``), so nothing is attached to the root
namespace and no packet can leave the machine. The bridge ports are
*isolated* (``bridge link set … isolated on``): the kernel's bridge forwards no
frame between two isolated ports, so tenant A's packets to tenant B are
really dropped (A's ``connect`` to B fails with ``EHOSTUNREACH`` once its ARP
requests are spent, :data:`ARP_RETRANS_MS`), while jobs of one tenant share its
namespace and reach each other. Under the fault ``network_isolation_off`` the ports are not isolated
and the bridge forwards between tenants.

Every namespace is removed by :meth:`TenantNetworks.close` (the sandbox's
stop, also on SIGTERM, and ``atexit``); namespaces that a killed sandbox left
behind (their pid is gone) are swept the next time one is created.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_sca.sandbox.faults import Fault, Faults

#: The only addresses used inside the namespaces (RFC 5737 TEST-NET-1).
ADDRESS_RANGE = ipaddress.ip_network("192.0.2.0/24")
PREFIX_LENGTH = ADDRESS_RANGE.prefixlen
#: Bound on one ``ip`` command.
IP_TIMEOUT_S = 10.0
#: Pause between two ARP requests of a tenant interface (the kernel's default is 1 s, three
#: requests). A packet to another tenant is dropped at the bridge, so its address never
#: resolves and ``connect`` fails with ``EHOSTUNREACH`` once the requests are spent: after
#: 0.3 s instead of 3 s (a connection within a tenant or across the bridge under
#: ``network_isolation_off`` resolves at once and is unaffected).
ARP_RETRANS_MS = 100
_OWNED = re.compile(r"^sca-(\d+)-(?:br|t\d+|probe)$")
_BRIDGE = "br0"
#: Set to 1 to run the sandbox as on a machine without namespaces (declared unsupported).
NO_NAMESPACES_SWITCH = "PYTEST_SCA_SANDBOX_NO_NETNS"
_TENANT_IFACE = "eth0"


class NetworkUnavailable(RuntimeError):
    """Namespaces cannot be created here (not root, no iproute2, or the kernel refused)."""


@dataclass(frozen=True)
class TenantNetwork:
    """A tenant's namespace and the address its jobs have there."""

    tenant_id: str
    namespace: str
    address: str

    def as_answer(self) -> dict[str, str]:
        """What a job's API answer carries under ``network``."""
        return {"mode": "tenant", "namespace": self.namespace, "address": self.address}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
            ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"ip {' '.join(args)}: {exc}") from exc
    if check and result.returncode != 0:
        raise NetworkUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _bridge(*args: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
            ["bridge", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"bridge {' '.join(args)}: {exc}") from exc
    if result.returncode != 0:
        raise NetworkUnavailable(f"bridge {' '.join(args)}: {result.stderr.strip()}")


def namespaces() -> list[str]:
    """Names of the network namespaces on this machine (``ip netns list``)."""
    result = _ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans() -> list[str]:
    """Delete the namespaces of sandboxes whose process is gone; the names deleted."""
    removed = []
    for name in namespaces():
        owned = _OWNED.match(name)
        if owned and not _pid_alive(int(owned.group(1))):
            _ip("netns", "delete", name, check=False)
            removed.append(name)
    return removed


_support: tuple[str | None] | None = None
_support_lock = threading.Lock()


def unsupported_reason() -> str | None:
    """Why tenant networks cannot be made here, or ``None`` when they can (probed once)."""
    global _support
    with _support_lock:
        if _support is None:
            _support = (_probe(),)
        return _support[0]


def network_policy() -> dict[str, Any]:
    """``isolation: tenant`` (each tenant's jobs in their own segment, no traffic between
    tenants) or ``unsupported`` with the reason (this machine cannot create namespaces)."""
    reason = unsupported_reason()
    if reason is None:
        return {"isolation": "tenant", "address_range": str(ADDRESS_RANGE)}
    return {"isolation": "unsupported", "reason": reason, "address_range": str(ADDRESS_RANGE)}


def _probe() -> str | None:
    if os.environ.get(NO_NAMESPACES_SWITCH) == "1":
        return f"network namespaces are switched off ({NO_NAMESPACES_SWITCH}=1)"
    if os.geteuid() != 0:
        return "the sandbox does not run as root: it cannot create network namespaces"
    if shutil.which("ip") is None or shutil.which("bridge") is None:
        return "iproute2 (ip, bridge) is not installed"
    name = f"sca-{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
        try:
            _ip("-n", name, "link", "add", _BRIDGE, "type", "bridge")
            # Jobs start through `ip netns exec`, which also needs a mount namespace.
            _ip("netns", "exec", name, "true")
        finally:
            _ip("netns", "delete", name, check=False)
    except NetworkUnavailable as exc:
        return f"the kernel refused a network namespace with a bridge: {exc}"
    return None


class TenantNetworks:
    """The namespaces of one sandbox process, created on first use, removed by :meth:`close`."""

    def __init__(self, faults: Faults) -> None:
        self.isolated = Fault.NETWORK_ISOLATION_OFF not in faults
        self.prefix = f"sca-{os.getpid()}"
        self.bridge_namespace = f"{self.prefix}-br"
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantNetwork] = {}
        self._bridge_ready = False
        self._closed = False
        self._atexit = False

    def attach(self, tenant_id: str) -> TenantNetwork:
        """The tenant's network, created (namespace, veth, bridge port) if it has none yet."""
        with self._lock:
            if self._closed:
                raise NetworkUnavailable("the sandbox is shutting down")
            known = self._tenants.get(tenant_id)
            if known is not None:
                return known
            reason = unsupported_reason()
            if reason is not None:
                raise NetworkUnavailable(reason)
            index = len(self._tenants) + 1
            # .1 is left unused (a gateway by convention); .2 … .254 for tenants.
            if index + 1 >= ADDRESS_RANGE.num_addresses - 1:
                raise NetworkUnavailable(f"no address left in {ADDRESS_RANGE} for another tenant")
            if not self._atexit:
                atexit.register(self.close)
                self._atexit = True
            self._ensure_bridge()
            network = TenantNetwork(tenant_id, f"{self.prefix}-t{index}",
                                    str(ADDRESS_RANGE[index + 1]))
            self._create(network, port=f"t{index}")
            self._tenants[tenant_id] = network
            return network

    def wrap(self, namespace: str, command: Sequence[str]) -> list[str]:
        """``command`` run inside ``namespace`` (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", namespace, *command]

    def owned(self) -> list[str]:
        """The namespaces this object created and has not removed yet."""
        with self._lock:
            names = [n.namespace for n in self._tenants.values()]
            return ([self.bridge_namespace] if self._bridge_ready else []) + names

    def close(self) -> None:
        """Remove every namespace (their veth pairs go with them); idempotent."""
        with self._lock:
            self._closed = True
            for network in self._tenants.values():
                with contextlib.suppress(NetworkUnavailable):
                    _ip("netns", "delete", network.namespace, check=False)
            self._tenants.clear()
            if self._bridge_ready:
                with contextlib.suppress(NetworkUnavailable):
                    _ip("netns", "delete", self.bridge_namespace, check=False)
                self._bridge_ready = False

    # internals ------------------------------------------------------------------------

    def _ensure_bridge(self) -> None:
        if self._bridge_ready:
            return
        sweep_orphans()
        name = self.bridge_namespace
        _ip("netns", "add", name)
        self._bridge_ready = True  # from here on, close() removes it
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", _BRIDGE, "type", "bridge")
        _ip("-n", name, "link", "set", _BRIDGE, "up")

    def _create(self, network: TenantNetwork, port: str) -> None:
        name = network.namespace
        _ip("netns", "add", name)
        try:
            _ip("-n", name, "link", "set", "lo", "up")
            # Both ends are created straight into their namespaces: the root namespace never
            # holds them, so two sandboxes cannot collide on interface names.
            _ip("link", "add", _TENANT_IFACE, "netns", name, "type", "veth",
                "peer", "name", port, "netns", self.bridge_namespace)
            _ip("-n", name, "addr", "add", f"{network.address}/{PREFIX_LENGTH}",
                "dev", _TENANT_IFACE)
            _ip("-n", name, "ntable", "change", "name", "arp_cache", "dev", _TENANT_IFACE,
                "retrans", str(ARP_RETRANS_MS))
            _ip("-n", name, "link", "set", _TENANT_IFACE, "up")
            _ip("-n", self.bridge_namespace, "link", "set", port, "master", _BRIDGE)
            if self.isolated:
                _bridge("-n", self.bridge_namespace, "link", "set", "dev", port,
                        "isolated", "on")
            _ip("-n", self.bridge_namespace, "link", "set", port, "up")
        except NetworkUnavailable:
            _ip("netns", "delete", name, check=False)
            raise
