"""10.2.f 网络隔离与访问控制策略 Network isolation between tenants."""

from __future__ import annotations

import re
import secrets

import pytest

from pytest_sca.capabilities import (
    Jobs,
    Network,
    NetworkPolicy,
    RefusalReason,
    Refused,
    TargetError,
    Unsupported,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser, ProbeUser
from ..library import SMALL

#: How long a client job waits for a TCP connection before it calls the service unreachable.
CONNECT_TIMEOUT_S = 3.0
#: How long the service may take to start listening, and a client job to finish.
START_TIMEOUT_S = 30.0
#: How long the service job answers connections before it ends by itself.
SERVE_S = 90

#: Listens on every address of its network (port chosen by the kernel), answers the token.
SERVICE = r"""
import os, socket, time
token = os.environ["SCA_NET_TOKEN"].encode()
server = socket.create_server(("0.0.0.0", 0))
server.settimeout(1.0)
print(f"sca-listening: {server.getsockname()[1]}", flush=True)
deadline = time.monotonic() + float(os.environ["SCA_NET_SERVE_S"])
while time.monotonic() < deadline:
    try:
        conn, peer = server.accept()
    except OSError:
        continue
    with conn:
        conn.sendall(token + b"\n")
    print(f"sca-served: {peer[0]}", flush=True)
"""
#: Connects (bounded) to SCA_NET_SERVICE=host:port and prints what happened: ``reached`` and
#: the answer once a connection is made (even if no answer follows), else ``unreachable`` and
#: how it failed (``timeout``, ``gaierror`` or the errno's name, then the error's text).
CLIENT = r"""
import errno, os, socket
host, port = os.environ["SCA_NET_SERVICE"].rsplit(":", 1)
timeout = float(os.environ["SCA_NET_TIMEOUT_S"])
try:
    conn = socket.create_connection((host, int(port)), timeout=timeout)
except socket.timeout as exc:
    print(f"sca-unreachable: timeout {exc}", flush=True)
except socket.gaierror as exc:
    print(f"sca-unreachable: gaierror {exc}", flush=True)
except OSError as exc:
    kind = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    print(f"sca-unreachable: {kind} {exc}", flush=True)
else:
    with conn:
        conn.settimeout(timeout)
        try:
            answer = conn.recv(256).decode("utf-8", "replace").strip()
        except OSError as exc:
            answer = f"(connected, no answer: {type(exc).__name__})"
    print(f"sca-reached: {answer}", flush=True)
"""
_LISTENING = re.compile(r"sca-listening: (\d+)")
_OUTCOME = re.compile(r"sca-(reached|unreachable): ?(.*)")
_NO_ISOLATION = ("none", "absent", "no", False)
#: How a connection fails when a network policy stops it: unanswered (dropped), refused, no
#: route to the host (the segment forwards nothing to it), or forbidden by a filter. Anything
#: else (a name not resolved, the client's own network unreachable) says nothing about
#: isolation.
ISOLATING_FAILURES = frozenset({"timeout", "ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH",
                                "EACCES", "EPERM"})
ASSESSABLE = ("declare `capabilities.network.isolation` in the target file and map "
              "`network.policy` and `jobs.submit_networked` (a job run in the caller's tenant "
              "network whose answer gives `network.address`) to make 10.2.f assessable")


#: What a platform answers for an operation it does not have (no route, no method).
_ABSENT = frozenset({RefusalReason.NOT_FOUND, RefusalReason.INVALID})


def _declared_policy(sca: CheckContext, network: Network) -> NetworkPolicy:
    declared = sca.settings.network
    if declared.isolation is not None:
        return {"isolation": str(declared.isolation), "reason": declared.reason or "",
                "address_range": declared.address_range or ""}
    try:
        return network.policy()
    except Unsupported:
        sca.not_assessed(f"the target declares no network isolation policy: {ASSESSABLE}")
    except Refused as exc:
        if exc.reason not in _ABSENT:
            raise
        sca.not_assessed(f"the target has no network policy route ({exc.status}): {ASSESSABLE}")


def _listening_port(jobs: Jobs, job_id: str) -> int:
    def port() -> tuple[int | None, str | None]:
        found = _LISTENING.search(jobs.logs(job_id))
        return (int(found.group(1)), None) if found else (None, jobs.get(job_id).get("status"))

    try:
        listening, _ = wait_for(port, lambda seen: seen[0] is not None or seen[1] not in (
            "pending", "running"), START_TIMEOUT_S, lambda seen: f"status {seen[1]}",
            first=0.2, longest=1.0)
    except WaitTimeout as timeout:
        listening, status = timeout.last or (None, "unknown")
        raise TargetError(f"[10.2.f] the probe service job {job_id} did not start listening "
                          f"within {START_TIMEOUT_S:.0f} s (status {status})") from None
    if listening is None:
        raise TargetError(f"[10.2.f] the probe service job {job_id} ended before it listened")
    return listening


def _connect_from(sca: CheckContext, user: ProbeUser, network: Network, service: str,
                  what: str, probe_image: str) -> tuple[str, str]:
    """Run a client job in ``user``'s tenant network against ``service``: (outcome, detail)."""
    job = network.acting_as(user.user["api_key"]).run_in_tenant_network(
        sca.name(f"net-{what}"), probe_image, ["python", "-c", CLIENT], SMALL,
        env={"SCA_NET_SERVICE": service, "SCA_NET_TIMEOUT_S": str(CONNECT_TIMEOUT_S)},
        labels=sca.labels)
    done = user.jobs.wait(job["id"], timeout=START_TIMEOUT_S + CONNECT_TIMEOUT_S)
    found = _OUTCOME.search(user.jobs.logs(job["id"]))
    if found is None:
        raise TargetError(f"[10.2.f] the {what} client job {job['id']} ended {done.get('status')} "
                          f"without reporting whether it connected")
    return found.group(1), found.group(2)


def stopped_by_isolation(outcome: tuple[str, str]) -> bool:
    """Whether a client that did not reach the service was stopped the way isolation stops a
    connection (:data:`ISOLATING_FAILURES`), from the client's ``unreachable`` detail."""
    kind, detail = outcome
    return kind == "unreachable" and detail.split(" ", 1)[0] in ISOLATING_FAILURES


def _serve(sca: CheckContext, user: ProbeUser, network: Network, token: str, what: str,
           probe_image: str) -> str:
    """Start the probe service in ``user``'s tenant network: its ``address:port``."""
    service = network.acting_as(user.user["api_key"]).run_in_tenant_network(
        sca.name(f"net-service-{what}"), probe_image, ["python", "-c", SERVICE], SMALL,
        env={"SCA_NET_TOKEN": token, "SCA_NET_SERVE_S": str(SERVE_S)}, labels=sca.labels)
    address = (service.get("network") or {}).get("address")
    if not address:
        raise TargetError(f"[10.2.f] job {service['id']} in tenant {what}'s network has no "
                          f"network.address: {service.get('network')}")
    return f"{address}:{_listening_port(user.jobs, service['id'])}"


def _control(sca: CheckContext, user: ProbeUser, network: Network, service: str, token: str,
             what: str, probe_image: str) -> tuple[str, str]:
    """A second job of the same tenant uses the tenant's own service (else ``error``): the
    tenant's jobs can connect at all, so a failure across tenants can be isolation."""
    control = _connect_from(sca, user, network, service, f"control-{what}", probe_image)
    if control != ("reached", token):
        raise TargetError(f"[10.2.f] control failed: tenant {what}'s own job could not use its "
                          f"service at {service}: {control}")
    return control


@pytest.mark.clause("10.2.f")
@pytest.mark.mutating
def test_tenant_networks_are_isolated(sca: CheckContext, network: Network,
                                      probe_tenant: MakeProbeUser, probe_image: str) -> None:
    """Tenants A and B each run a TCP service in their network, and each tenant's second job
    reaches its own (controls: both tenants' jobs can connect); a job of tenant A connecting
    to B's service within a bounded time must not get through, and must be stopped the way
    isolation stops it (dropped, refused, no route) — a failure of another kind (a name not
    resolved, A's network unreachable) is inconclusive."""
    policy = _declared_policy(sca, network)
    sca.evidence("declared network isolation", policy)
    isolation = policy.get("isolation")
    if isolation == "unsupported":
        sca.not_assessed(f"the target cannot apply network isolation here: "
                         f"{policy.get('reason') or 'no reason given'}")
    assert isolation not in _NO_ISOLATION, (
        f"[10.2.f] target declares no network isolation: isolation={isolation!r}")
    tenants = {"B": probe_tenant("net-b"), "A": probe_tenant("net-a")}
    tokens = {what: f"sca-net-{secrets.token_hex(4)}" for what in tenants}
    try:
        services = {what: _serve(sca, user, network, tokens[what], what, probe_image)
                    for what, user in tenants.items()}
    except Unsupported:
        sca.not_assessed(f"the target maps no job in a tenant network: {ASSESSABLE}")
    controls = {what: _control(sca, user, network, services[what], tokens[what], what,
                               probe_image) for what, user in tenants.items()}
    target = services["B"]
    cross = _connect_from(sca, tenants["A"], network, target, "cross", probe_image)
    sca.evidence("connections to the tenants' services", {
        "services": services, "controls (own tenant)": {w: list(c) for w, c in controls.items()},
        "from tenant A to B's service": list(cross), "connect timeout s": CONNECT_TIMEOUT_S})
    assert cross[0] != "reached", (
        f"[10.2.f] tenant A's job reached tenant B's service at {target}")
    if not stopped_by_isolation(cross):
        raise TargetError(f"[10.2.f] inconclusive: tenant A's job failed to connect to {target} "
                          f"in a way that says nothing about isolation: {cross[1]}")
