"""Point a target file's HTTP endpoints at the mutating proxies.

Every ``url``, ``base_url`` and ``endpoint`` of an adapter section (at any depth) that is an
http(s) URL is an endpoint; its section's ``verify`` says how to trust the upstream. The
rewritten file names the proxy instead, and an https endpoint's ``verify`` becomes the
harness's CA (the proxy speaks TLS to the adapter with a certificate of that CA).
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

URL_KEYS = ("url", "base_url", "endpoint")


@dataclass(frozen=True)
class Upstream:
    """One origin the target file names, and how its adapter trusts it."""

    origin: str
    verify: bool | str

    @property
    def tls(self) -> bool:
        return self.origin.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext | bool:
        """How the proxy verifies the upstream: exactly as the adapter would."""
        if not self.tls:
            return False
        if self.verify is False:
            return False
        if isinstance(self.verify, str):
            return ssl.create_default_context(cafile=self.verify)
        return ssl.create_default_context()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _sections(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _sections(value)
    elif isinstance(node, list):
        for value in node:
            yield from _sections(value)


def _endpoints(section: dict[str, Any]) -> Iterator[str]:
    for key in URL_KEYS:
        value = section.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            yield key


def upstreams(document: dict[str, Any]) -> list[Upstream]:
    """The distinct (origin, verify) pairs of the document's adapter endpoints."""
    found: dict[str, Upstream] = {}
    for section in _sections(document.get("adapters") or {}):
        verify = section.get("verify", True)
        for key in _endpoints(section):
            origin = origin_of(section[key])
            found.setdefault(origin, Upstream(origin, verify))
    return list(found.values())


def rewrite(document: dict[str, Any], proxies: dict[str, str], ca_path: str) -> dict[str, Any]:
    """A copy of ``document`` with each upstream origin replaced by its proxy's origin."""
    rewritten = copy.deepcopy(document)
    for section in _sections(rewritten.get("adapters") or {}):
        keys = list(_endpoints(section))
        for key in keys:
            url = section[key]
            origin = origin_of(url)
            if origin in proxies:
                section[key] = proxies[origin] + url[len(origin):]
        if keys and any(section[key].startswith("https://") for key in keys) \
                and section.get("verify", True) is not False:
            section["verify"] = ca_path
    return rewritten
