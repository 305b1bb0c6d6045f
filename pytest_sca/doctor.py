"""Can this target be evaluated? A preflight of every configured adapter, in seconds.

For each adapter of a target file, in parallel and changing nothing on the target:

1. every endpoint in its configuration (``url``, ``base_url``, ``endpoint``, SSH nodes) is
   reachable over TCP, and an ``https`` one completes a TLS handshake verified the way
   the adapter verifies it (the certificate's expiry is reported);
2. the adapter's own :meth:`~pytest_sca.adapters.base.Adapter.probe`: credentials
   accepted, the API groups, versions or operations offered;
3. the capabilities it will serve in this target (the first configured adapter that
   provides a capability serves it, as in the run).

``python -m pytest_sca doctor TARGET`` prints it; the plugin runs the same preflight when a
run starts and ends the run with exit 6 when no adapter is usable. Every request is
bounded by ``timeout`` and the whole preflight by ``deadline``: a dead target is known
in seconds, never after a run's worth of timeouts.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from .adapters import registry
from .adapters.base import AdapterContext, Finding
from .capabilities import CAPABILITIES
from .target import Target

#: Seconds one request of the preflight may take.
TIMEOUT = 5.0
#: Seconds the whole preflight may take, whatever hangs.
DEADLINE = 20.0
#: Exit statuses of ``doctor`` (and of a run whose preflight failed: :data:`UNUSABLE`).
USABLE, SOME_UNUSABLE, UNUSABLE = 0, 1, 6
#: A certificate that expires sooner than this is a warning.
_EXPIRY_WARNING_DAYS = 14


@dataclass
class AdapterCheck:
    """What the preflight found about one adapter."""

    transport: str
    findings: list[Finding] = field(default_factory=list)
    serves: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def usable(self) -> bool:
        """No finding failed."""
        return not any(f.status == "fail" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"transport": self.transport, "usable": self.usable,
                "seconds": round(self.seconds, 3), "serves": list(self.serves),
                "findings": [{"check": f.check, "status": f.status, "detail": f.detail}
                             for f in self.findings]}


@dataclass
class Diagnosis:
    """The preflight of a whole target."""

    target: str
    fingerprint: str
    adapters: list[AdapterCheck]
    seconds: float

    @property
    def usable(self) -> bool:
        """The target can be evaluated: some adapter is usable, or it configures none (an
        evaluation of evidence only)."""
        return not self.adapters or any(a.usable for a in self.adapters)

    @property
    def exit_status(self) -> int:
        """0 every adapter usable, 1 some are not, 6 none is."""
        if not self.usable:
            return UNUSABLE
        return USABLE if all(a.usable for a in self.adapters) else SOME_UNUSABLE

    def summary(self) -> str:
        """``8 of 8 adapters usable (1.4 s)``."""
        usable = sum(1 for a in self.adapters if a.usable)
        return f"{usable} of {len(self.adapters)} adapters usable ({self.seconds:.1f} s)"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "fingerprint": self.fingerprint,
                "usable": self.usable, "seconds": round(self.seconds, 3),
                "adapters": [a.to_dict() for a in self.adapters]}


def assignments(adapters: Mapping[str, Any]) -> dict[str, str]:
    """Capability → the transport that serves it: the first adapter of the target file
    (transport → its configuration) that provides it and is configured to serve it (the
    rule :meth:`pytest_sca.runstate.ScaRun.adapter_for` follows)."""
    serving: dict[str, str] = {}
    for capability in CAPABILITIES:
        for transport, config in adapters.items():
            try:
                cls = registry.load_adapter_class(transport)
            except (KeyError, ImportError, TypeError):
                continue
            if capability in cls.provides and cls.unconfigured(config, capability) is None:
                serving[capability] = transport
                break
    return serving


# -- endpoints: reachability and TLS -------------------------------------------------------


def _endpoints(config: BaseModel) -> list[tuple[str, int, str | None, bool | str]]:
    """(host, port, scheme or None for plain TCP, verify) of every endpoint in a config."""
    found: list[tuple[str, int, str | None, bool | str]] = []
    verify = getattr(config, "verify", True)
    for name in ("url", "base_url", "endpoint"):
        value = getattr(config, name, None)
        if not isinstance(value, str):
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found.append((parts.hostname, port, parts.scheme, verify))
    jump = getattr(config, "jump_host", None)
    nodes = [jump] if jump is not None else list(getattr(config, "nodes", None) or [])
    for node in nodes:
        host, node_port = getattr(node, "host", None), getattr(node, "port", None)
        if isinstance(host, str) and isinstance(node_port, int):
            found.append((host, node_port, None, False))
    return found


def _ca_file(verify: bool | str) -> str | None:
    """The CA bundle requests would use for ``verify``."""
    if isinstance(verify, str):
        return verify
    env = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if env:
        return env
    try:
        import certifi

        return str(certifi.where())
    except ImportError:
        return None


def _tls(host: str, port: int, verify: bool | str, timeout: float) -> Finding:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cafile=_ca_file(verify))
        except (OSError, ssl.SSLError) as exc:
            return Finding("tls", "fail", f"cannot read the CA bundle {verify}: {exc}")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock, \
                context.wrap_socket(sock, server_hostname=host) as tls:
            certificate = tls.getpeercert()
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return Finding("tls", "fail", f"{host}:{port}: certificate not trusted "
                       f"({exc.verify_message}): set `verify` to the CA bundle that signed it")
    except (OSError, ssl.SSLError) as exc:
        return Finding("tls", "fail", f"{host}:{port}: TLS handshake failed "
                       f"({type(exc).__name__}: {exc})")
    if verify is False:
        return Finding("tls", "warn", f"{host}:{port}: {version}, certificate NOT verified "
                       "(verify: false): acceptable on a lab network only")
    expires = certificate.get("notAfter") if certificate else None
    detail = f"{host}:{port}: {version}, certificate verified"
    if isinstance(verify, str):
        detail += f" against {verify}"
    if isinstance(expires, str):
        until = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(expires), dt.timezone.utc)
        days = (until - dt.datetime.now(dt.timezone.utc)).days
        detail += f", valid until {until:%Y-%m-%d} ({days} days)"
        if days < _EXPIRY_WARNING_DAYS:
            return Finding("tls", "warn", detail + ": renew it before the evaluation")
    return Finding("tls", "ok", detail)


def endpoint_findings(config: BaseModel, timeout: float) -> list[Finding]:
    """Reachability (TCP) of every endpoint, and TLS of the ``https`` ones."""
    import requests

    findings: list[Finding] = []
    for host, port, scheme, verify in _endpoints(config):
        if scheme is not None:
            proxies = requests.utils.get_environ_proxies(f"{scheme}://{host}:{port}/")
            if proxies.get(scheme):
                findings.append(Finding("reachable", "info",
                                        f"{host}:{port} is reached through a proxy"))
                continue
        started = time.monotonic()
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {timeout:g} s"
            findings.append(Finding("reachable", "fail", f"{host}:{port}: {reason}"))
            continue
        findings.append(Finding("reachable", "ok", f"{host}:{port} in "
                                f"{(time.monotonic() - started) * 1000:.0f} ms"))
        if scheme == "https":
            findings.append(_tls(host, port, verify, timeout))
    return findings


# -- the preflight ---------------------------------------------------------------------------


def _check_adapter(target: Target, transport: str, run_id: str, timeout: float
                   ) -> AdapterCheck:
    check = AdapterCheck(transport)
    started = time.monotonic()
    try:
        config = target.adapters[transport]
        check.findings += endpoint_findings(config, timeout)
        if any(f.status == "fail" and f.check == "reachable" for f in check.findings):
            return check  # the adapter's own probe would only repeat it
        try:
            adapter_class = registry.load_adapter_class(transport)
        except (KeyError, ImportError, TypeError) as exc:
            check.findings.append(Finding("adapter", "fail", f"cannot load the adapter: {exc}"))
            return check
        context = AdapterContext(target.name, target.path, run_id, target.redact)
        adapter = adapter_class(config, context)
        try:
            check.findings += adapter.probe(timeout)
        finally:
            adapter.close()
    except Exception as exc:  # noqa: BLE001 - a probe's bug is a finding, never a crash
        check.findings.append(Finding("probe", "fail", f"{type(exc).__name__}: {exc}"))
    finally:
        check.seconds = time.monotonic() - started
        check.findings = [Finding(f.check, f.status, target.redact(f.detail))
                          for f in check.findings]
    return check


def diagnose(target: Target, run_id: str = "doctor", *, timeout: float = TIMEOUT,
             deadline: float = DEADLINE,
             check: Callable[[Target, str, str, float], AdapterCheck] = _check_adapter
             ) -> Diagnosis:
    """Probe every configured adapter in parallel; an adapter still probing at ``deadline``
    is reported unusable (its thread is left behind, a daemon)."""
    started = time.monotonic()
    transports = list(target.adapters)
    results: dict[str, AdapterCheck] = {}
    lock = threading.Lock()

    def work(transport: str) -> None:
        outcome = check(target, transport, run_id, timeout)
        with lock:
            results[transport] = outcome

    threads = [threading.Thread(target=work, args=(t,), daemon=True,
                                name=f"sca-doctor-{t}") for t in transports]
    for thread in threads:
        thread.start()
    end = started + deadline
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    serving = assignments({t: target.adapters[t] for t in transports})
    checks = []
    with lock:
        for transport in transports:
            found = results.get(transport)
            if found is None:
                found = AdapterCheck(transport, [Finding(
                    "probe", "fail", f"no answer within the preflight's {deadline:g} s")],
                    seconds=deadline)
            found.serves = sorted(c for c, t in serving.items() if t == transport)
            checks.append(found)
    return Diagnosis(target.name, target.fingerprint, checks, time.monotonic() - started)


def render(diagnosis: Diagnosis) -> list[str]:
    """The doctor's report, one line per finding."""
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}
    lines = [f"pytest-sca doctor: {diagnosis.target} (fingerprint {diagnosis.fingerprint})"]
    if not diagnosis.adapters:
        lines.append("no adapters configured: every automated check will be not_assessed; "
                     "only the target file's evidence can be evaluated")
    for adapter in diagnosis.adapters:
        state = "usable" if adapter.usable else "UNUSABLE"
        lines.append(f"{adapter.transport}: {state} ({adapter.seconds:.2f} s)")
        for finding in adapter.findings:
            lines.append(f"  {marks[finding.status]}  {finding.check:<12} {finding.detail}")
        served = ", ".join(adapter.serves) if adapter.serves else "nothing (earlier adapters "\
            "serve what it provides)"
        lines.append(f"  serves {len(adapter.serves)}: {served}")
    verdict = {USABLE: "the target can be evaluated",
               SOME_UNUSABLE: "the target can be evaluated in part: checks needing the "
                              "unusable adapters will end in error",
               UNUSABLE: "the target cannot be evaluated: no adapter is usable"}
    lines.append(f"{diagnosis.summary()}: {verdict[diagnosis.exit_status]}")
    return lines


def unusable_message(diagnosis: Diagnosis, origin: str) -> str:
    """The one line a run ends with when no adapter is usable."""
    causes = []
    for adapter in diagnosis.adapters:
        failed = next((f for f in adapter.findings if f.status == "fail"), None)
        if failed is not None:
            causes.append(f"{adapter.transport}: {failed.check}: {failed.detail}")
    return (f"sca: {origin}: the target cannot be evaluated, no adapter is usable "
            f"({'; '.join(causes)}): fix the network or the target file "
            f"(`python -m pytest_sca doctor {origin}` details each adapter)")
