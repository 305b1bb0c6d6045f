"""Tenant network namespaces: really created, really isolated, really removed.

These need root and iproute2 (``ip netns add``); where the machine cannot
create namespaces they are skipped and the sandbox declares
``network.isolation: unsupported`` (tested here too).
"""

from __future__ import annotations

import ipaddress
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pytest_sca.sandbox import netiso
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.netiso import ADDRESS_RANGE, TenantNetworks

from .helpers import start_sandbox

REASON = netiso.unsupported_reason()
needs_namespaces = pytest.mark.skipif(REASON is not None, reason=f"no namespaces: {REASON}")

SERVER = r"""
import socket, sys
server = socket.create_server(("0.0.0.0", 0))
server.settimeout(20)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"sca-token\n")
"""
CLIENT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
        conn.settimeout(2)
        print("reached", conn.recv(64).decode().strip())
except OSError as exc:
    print("unreachable", type(exc).__name__)
"""


def _read_line(proc: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """The process's first line of output, waiting at most ``timeout``."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output from {proc.args!r} within {timeout} s")
    return proc.stdout.readline().strip()


@pytest.fixture
def service() -> Iterator[list[subprocess.Popen[str]]]:
    """Servers started in namespaces; killed at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=5)


def _serve(nets: TenantNetworks, namespace: str,
           started: list[subprocess.Popen[str]]) -> int:
    proc = subprocess.Popen(nets.wrap(namespace, [sys.executable, "-c", SERVER]),
                            stdout=subprocess.PIPE, text=True)
    started.append(proc)
    return int(_read_line(proc))


def _connect(nets: TenantNetworks, namespace: str, address: str, port: int) -> str:
    result = subprocess.run(nets.wrap(namespace, [sys.executable, "-c", CLIENT, address,
                                                  str(port)]),
                            capture_output=True, text=True, timeout=15, check=True)
    return result.stdout.strip()


@needs_namespaces
def test_tenants_get_isolated_namespaces_that_are_removed(
        service: list[subprocess.Popen[str]]) -> None:
    nets = TenantNetworks(frozenset())
    try:
        a, b = nets.attach("tenant-a"), nets.attach("tenant-b")
        assert nets.attach("tenant-a") == a
        assert a.namespace != b.namespace and a.address != b.address
        assert {ipaddress.ip_address(n.address) in ADDRESS_RANGE for n in (a, b)} == {True}
        assert set(nets.owned()) <= set(netiso.namespaces())
        port = _serve(nets, b.namespace, service)
        assert _connect(nets, b.namespace, b.address, port) == "reached sca-token"
        started = time.monotonic()
        assert _connect(nets, a.namespace, b.address, port).startswith("unreachable")
        assert time.monotonic() - started < 10
    finally:
        owned = nets.owned()
        nets.close()
    assert owned and not set(owned) & set(netiso.namespaces())


@needs_namespaces
def test_isolation_off_fault_joins_tenants_on_one_segment(
        service: list[subprocess.Popen[str]]) -> None:
    nets = TenantNetworks(frozenset({Fault.NETWORK_ISOLATION_OFF}))
    try:
        a, b = nets.attach("tenant-a"), nets.attach("tenant-b")
        port = _serve(nets, b.namespace, service)
        assert _connect(nets, a.namespace, b.address, port) == "reached sca-token"
    finally:
        nets.close()
    assert not [n for n in netiso.namespaces() if n.startswith(f"{nets.prefix}-")]


@needs_namespaces
def test_namespaces_of_a_killed_sandbox_are_swept() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    orphan = f"sca-{dead.pid}-t1"
    subprocess.run(["ip", "netns", "add", orphan], check=True, timeout=10)
    try:
        assert orphan in netiso.sweep_orphans()
        assert orphan not in netiso.namespaces()
    finally:
        subprocess.run(["ip", "netns", "delete", orphan], capture_output=True, timeout=10)


@pytest.mark.slow
@needs_namespaces
def test_sandbox_runs_tenant_jobs_in_their_namespace_and_removes_them_on_stop() -> None:
    running = start_sandbox()
    try:
        assert running.target["capabilities"]["network"]["isolation"] == "tenant"
        assert running.admin.ok("GET", "/network")["isolation"] == "tenant"
        _, user = running.admin.new_tenant("netiso")
        api_port = running.admin.base.rsplit(":", 1)[1].strip("/")
        job = user.ok("POST", "/jobs", 201, json={
            "name": "in-tenant-net", "image": "pytorch:2.5.1-py3.11", "network": "tenant",
            "resources": {"cpu": 1, "memory_gib": 1, "accelerators": 0},
            "command": ["python", "-c", CLIENT, "127.0.0.1", api_port]})
        assert ipaddress.ip_address(job["network"]["address"]) in ADDRESS_RANGE
        namespace = job["network"]["namespace"]
        assert namespace.startswith(f"sca-{running.process.pid}-")
        assert namespace in netiso.namespaces()
        user.wait_job(job["id"], ("succeeded",))
        # The host's loopback (where the API listens) is not the namespace's loopback.
        assert user.ok("GET", f"/jobs/{job['id']}/logs").startswith("unreachable")
        host = user.ok("POST", "/jobs", 201, json={
            "name": "on-host", "image": "pytorch:2.5.1-py3.11",
            "resources": {"cpu": 1, "memory_gib": 1, "accelerators": 0},
            "command": ["python", "-c", "print('host')"]})
        assert "network" not in host
    finally:
        running.process.stop()
    left = [n for n in netiso.namespaces() if n.startswith(f"sca-{running.process.pid}-")]
    assert not left, left


def test_unsupported_machine_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netiso, "_support", ("the sandbox does not run as root",))
    assert netiso.network_policy()["isolation"] == "unsupported"
    with pytest.raises(netiso.NetworkUnavailable, match="root"):
        TenantNetworks(frozenset()).attach("tenant-a")


def test_platform_facade_implements_the_network_protocol() -> None:
    from pytest_sca.adapters.platform import PlatformAdapter
    from pytest_sca.capabilities import Network

    assert isinstance(PlatformAdapter.implementations["network"](None), Network)
