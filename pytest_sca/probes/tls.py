"""Transport-security probes of one HTTP(S) endpoint, with Python's ssl and requests only.

For an endpoint URL: which TLS versions a handshake succeeds with, whether
the certificate verifies for the host (against the CA the target file
trusts), what a plain-HTTP request to the same host and port gets, and the
HSTS header of an HTTPS answer.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

#: Versions a probe tries, oldest first; the first two must be refused.
VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LEGACY = ("TLSv1", "TLSv1.1")
_TLS_VERSION = {"TLSv1": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2",
                "TLSv1.3": "TLSv1_3"}


@dataclass
class EndpointReport:
    """What the probes saw at one endpoint."""

    url: str
    scheme: str
    #: TLS version → whether a handshake with only that version succeeded.
    versions: dict[str, bool] = field(default_factory=dict)
    #: None when the certificate verified for the host, else why not.
    certificate_problem: str | None = None
    #: ``refused`` (no HTTP answer), ``redirect`` (to https) or ``open`` (answered over HTTP).
    plain_http: str = ""
    plain_http_detail: str = ""
    hsts: str | None = None
    #: Why the endpoint could not be probed (no TCP connection, no HTTPS answer); None when it
    #: could. An unreachable endpoint shows nothing about its transport security.
    unreachable: str | None = None

    def problems(self) -> list[str]:
        """Each way the endpoint falls short of TLS ≥ 1.2 only, valid certificate, HSTS."""
        if self.scheme != "https":
            return [f"served over plain {self.scheme.upper()}"]
        found = [f"{version} accepted" for version in LEGACY if self.versions.get(version)]
        if not any(self.versions.get(v) for v in ("TLSv1.2", "TLSv1.3")):
            found.append("neither TLS 1.2 nor 1.3 offered")
        if self.certificate_problem:
            found.append(f"certificate: {self.certificate_problem}")
        if self.plain_http == "open":
            found.append(f"plain HTTP answered ({self.plain_http_detail})")
        if not self.hsts:
            found.append("no Strict-Transport-Security header")
        return found


def _context(verify: bool | str) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def handshake_version(host: str, port: int, version: str, timeout: float = 5.0
                      ) -> bool | None:
    """Whether a TLS handshake offering only ``version`` succeeds (the certificate is not
    judged here, so that a version's answer is not hidden by a certificate problem); None
    when no TCP connection could be made (nothing was learnt about the version)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pinned = getattr(ssl.TLSVersion, _TLS_VERSION[version])
        context.minimum_version = context.maximum_version = pinned
    # Old versions need old ciphers: let the server, not this client's policy, decide.
    context.set_ciphers("ALL:@SECLEVEL=0")
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    try:
        with raw, context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.version() == version
    except (ssl.SSLError, OSError):  # the server refused the version (alert, reset, close)
        return False


def certificate_problem(host: str, port: int, verify: bool | str, timeout: float = 5.0
                        ) -> str | None:
    """None when the endpoint's certificate verifies for ``host``, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                _context(verify).wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except (ssl.SSLError, OSError) as exc:
        return f"no TLS handshake ({type(exc).__name__}: {exc})"


def plain_http(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[str, str]:
    """What a plain-HTTP GET to ``host:port`` gets: refused, redirect (to https) or open."""
    try:
        answer = requests.get(f"http://{host}:{port}{path}", timeout=timeout,
                              allow_redirects=False)
    except requests.RequestException as exc:
        return "refused", type(exc).__name__
    location = answer.headers.get("location", "")
    if answer.status_code in (301, 302, 307, 308) and location.startswith("https://"):
        return "redirect", location
    if answer.status_code in (400, 426, 497):
        return "refused", f"HTTP {answer.status_code}"
    return "open", f"HTTP {answer.status_code}"


def probe_endpoint(url: str, verify: bool | str = True, timeout: float = 5.0) -> EndpointReport:
    """Run every probe on ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    report = EndpointReport(url=url, scheme=scheme)
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if scheme != "https":
        report.plain_http, report.plain_http_detail = plain_http(host, port, path, timeout)
        return report
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        report.unreachable = f"no TCP connection to {host}:{port} ({type(exc).__name__})"
        return report
    versions = {v: handshake_version(host, port, v, timeout) for v in VERSIONS}
    lost = [v for v, accepted in versions.items() if accepted is None]
    if lost:
        report.unreachable = f"no TCP connection to {host}:{port} for the {', '.join(lost)} " \
                             "handshake(s)"
    report.versions = {v: bool(accepted) for v, accepted in versions.items()}
    report.certificate_problem = certificate_problem(host, port, verify, timeout)
    report.plain_http, report.plain_http_detail = plain_http(host, port, path, timeout)
    if report.certificate_problem is None:
        try:
            answer = requests.get(url, verify=verify, timeout=timeout, allow_redirects=False)
            report.hsts = answer.headers.get("strict-transport-security")
        except requests.RequestException as exc:
            report.unreachable = f"no HTTPS answer from {url} ({type(exc).__name__})"
    return report
