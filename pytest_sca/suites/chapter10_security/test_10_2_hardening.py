"""10.2.a, 10.2.e 安全防护体系与安全基线 Defence in depth and security baselines, on the nodes.

The physical, network and process layers of 10.2.a have no API: the target
file's evidence entry for 10.2.a gives them (verdict ``manual``); the checks
here are its automatable sub-parts, reported with it.
"""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import Compute, Nodes, TargetError
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

#: PermitRootLogin values under which root can never log in with a password.
ROOT_WITHOUT_PASSWORD = {"no", "prohibit-password", "without-password", "forced-commands-only"}
#: Failed attempts per connection above which password guessing is not slowed down (CIS).
MAX_AUTH_TRIES = 6


def _settings(nodes: Nodes, node: str) -> dict[str, str]:
    """The node's effective sshd settings; ``TargetError`` when the ones a check reads are
    missing (nothing could be learnt about them)."""
    settings = nodes.sshd_settings(node)
    missing = [key for key in ("passwordauthentication", "permitemptypasswords",
                               "permitrootlogin") if key not in settings]
    if missing:
        raise TargetError(f"the sshd settings of {node} lack {', '.join(missing)}")
    return settings


def _max_auth_tries(settings: dict[str, str], node: str) -> int:
    try:
        return int(settings.get("maxauthtries", "6"))
    except ValueError:
        raise TargetError(f"{node}: MaxAuthTries is not a number: "
                          f"{settings.get('maxauthtries')!r}") from None


def _ssh_findings(nodes: Nodes, node: str) -> list[str]:
    """What is weak in a node's SSH access: settings and what the server offers."""
    settings = _settings(nodes, node)
    findings = []
    if settings["passwordauthentication"] != "no":
        findings.append("password authentication enabled")
    if settings["permitemptypasswords"] != "no":
        findings.append("empty passwords permitted")
    if settings.get("x11forwarding", "no") != "no":
        findings.append("X11 forwarding enabled")
    if _max_auth_tries(settings, node) > MAX_AUTH_TRIES:
        findings.append(f"MaxAuthTries {settings['maxauthtries']} > {MAX_AUTH_TRIES}")
    if settings.get("protocol", "2") != "2":
        findings.append(f"SSH protocol {settings['protocol']}")
    offered = nodes.auth_methods(node, "root")
    if "password" in offered or "keyboard-interactive" in offered:
        findings.append(f"the server offers {'/'.join(offered)} logins")
    return findings


def _listed(sca: CheckContext, nodes: Nodes) -> list[str]:
    """The nodes to inspect; none listed leaves nothing to check (never a pass)."""
    listed = nodes.nodes()
    if not listed:
        sca.not_assessed("the target lists no SSH node: add them to adapters.ssh.nodes")
    return listed


def _short(name: str) -> str:
    return name.split(".", 1)[0]


def _unlisted(sca: CheckContext, request: pytest.FixtureRequest, nodes: Nodes,
              listed: list[str]) -> list[str]:
    """Inventory nodes the target file's SSH section should cover and does not: every node the
    platform's inventory gives SSH access for, or does not mark simulated, whose id or
    hostname (or its first label) is neither an SSH node's name nor the name that node's own
    ``hostname`` prints. Without a ``compute`` inventory there is nothing to compare."""
    try:
        compute: Compute = request.getfixturevalue("compute")
    except NotAssessed:
        return []
    known = {name for name in listed} | {_short(name) for name in listed}
    for node in listed:
        status, out, _ = nodes.run(node, "hostname", timeout=15)
        if status == 0 and out.strip():
            known |= {out.strip(), _short(out.strip())}
    due = [n for n in compute.list_nodes() if n.get("ssh") or n.get("simulated") is not True]
    missing = [str(n.get("id")) for n in due
               if not {str(v) for v in (n.get("id"), n.get("hostname"),
                                        _short(str(n.get("hostname") or ""))) if v} & known]
    sca.evidence("inventory nodes the SSH section does not list", missing or "none")
    return missing


def _require_covered(item: str, missing: list[str]) -> None:
    """Nodes the check could not reach leave the item undecided: ``error`` naming them."""
    if missing:
        raise TargetError(
            f"[{item}] the inventory lists node(s) {missing[:10]} reachable over SSH (or not "
            f"simulated) that adapters.ssh.nodes does not list: their SSH access is not "
            f"checked; add them to the target file")


@pytest.mark.clause("10.2.a")
def test_node_ssh_access_is_hardened(sca: CheckContext, nodes: Nodes,
                                     request: pytest.FixtureRequest) -> None:
    """Automatable part (host and account layers): every node's SSH server is key-only, refuses
    empty passwords and X11 forwarding and limits authentication attempts; every node of the
    platform's inventory reachable over SSH is among those checked (else ``error`` naming
    the ones that are not)."""
    listed = _listed(sca, nodes)
    weak = {node: found for node in listed if (found := _ssh_findings(nodes, node))}
    sca.evidence("ssh hardening findings per node", weak or "none")
    assert not weak, "[10.2.a] weak SSH access: " + "; ".join(
        f"{node}: {', '.join(found)}" for node, found in weak.items())
    _require_covered("10.2.a", _unlisted(sca, request, nodes, listed))


@pytest.mark.clause("10.2.e")
def test_nodes_meet_the_security_baseline(sca: CheckContext, nodes: Nodes,
                                          request: pytest.FixtureRequest) -> None:
    """Every node: root cannot log in with a password, empty passwords are refused, and no file
    or non-sticky directory under the system paths is world-writable; every node of the
    platform's inventory reachable over SSH is among those checked (else ``error`` naming
    the ones that are not)."""
    problems: dict[str, list[str]] = {}
    listed = _listed(sca, nodes)
    for node in listed:
        settings = _settings(nodes, node)
        found = []
        root_login = settings["permitrootlogin"]
        passwords = settings["passwordauthentication"] != "no" or (
            "password" in nodes.auth_methods(node, "root"))
        if root_login not in ROOT_WITHOUT_PASSWORD and passwords:
            found.append(f"root password login allowed (PermitRootLogin {root_login})")
        if settings["permitemptypasswords"] != "no":
            found.append("empty passwords permitted")
        writable = nodes.world_writable(node)
        if writable:
            found.append(f"world-writable system paths: {', '.join(writable[:10])}")
        if found:
            problems[node] = found
    sca.evidence("baseline findings per node", problems or "none")
    assert not problems, "[10.2.e] security baseline not met: " + "; ".join(
        f"{node}: {', '.join(found)}" for node, found in problems.items())
    _require_covered("10.2.e", _unlisted(sca, request, nodes, listed))
