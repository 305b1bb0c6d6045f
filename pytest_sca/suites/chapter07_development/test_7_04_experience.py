"""7.4 用户体验 User experience."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_sca.capabilities import DevTools, TargetError, WebAnswer
from pytest_sca.fixtures import CheckContext

#: Signs of an answer written for a developer's debugger, not for an API client.
_LEAKS = re.compile(r"Traceback \(most recent call last\)|<html|<!doctype|\bat [\w.$]+\("
                    r"[\w.]+:\d+\)|File \"[^\"]+\", line \d+", re.IGNORECASE)
#: Internals an error message must not name: server file paths and source files, exception
#: class names, SQL, internal host:port.
_INTERNALS = re.compile(
    r"(?<![\w/])/(?:usr|home|opt|var|srv|app|root|tmp|etc|work|workspace)/[\w./-]+"
    r"|\b[A-Za-z]:\\[\w\\.-]+"
    r"|\b[\w-]+\.(?:py|java|go|rb|php|js|ts|cs|cpp)\b"
    r"|\b(?:[A-Z][a-z0-9]+)+(?:Error|Exception)\b"
    r"|\b(?:SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[^\n]{0,80}\b(?:FROM|WHERE|SET|VALUES)\b"
    r"|\b(?:\d{1,3}\.){3}\d{1,3}:\d{2,5}\b|\blocalhost:\d{2,5}\b")
_BOGUS_ID = "sca-no-such-id"
_MAX_PROBES = 300
_WRITES = ("post", "put", "patch")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _probes(document: Mapping[str, object]) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of malformed requests, at most two per documented operation.

    Writes get a body that is not JSON and one of the wrong type; every operation
    with path parameters gets an id that does not exist. A write with neither a
    body nor a path parameter is left alone: a request to it could act.
    """
    probes: list[tuple[str, str, bytes | None]] = []
    paths = document.get("paths")
    for template, operations in sorted(paths.items() if isinstance(paths, Mapping) else ()):
        path = re.sub(r"\{[^}]+\}", _BOGUS_ID, str(template))
        has_params = path != template
        if not isinstance(operations, Mapping):
            continue
        for method, operation in sorted(operations.items()):
            if not isinstance(operation, dict):
                continue
            takes_body = "requestBody" in operation
            if method in _WRITES and takes_body:
                probes += [(method.upper(), path, b"{not json"), (method.upper(), path, b"[1]")]
            elif method in _WRITES and has_params:
                probes.append((method.upper(), path, b"{}"))
            elif method == "get" and has_params:
                probes.append(("GET", path, None))
    return probes[:_MAX_PROBES]


def _what_is_wrong(devtools: DevTools, answer: WebAnswer, malformed_body: bool) -> str | None:
    """What is wrong with the answer to a malformed request, or None."""
    if answer.status >= 500:
        return "a 5xx"
    if _LEAKS.search(answer.text):
        return "a stack trace or an HTML page"
    if answer.status < 400:
        return "malformed body accepted" if malformed_body else None
    envelope = devtools.error_envelope(answer)
    if envelope is None:
        return "no documented error code and message"
    # The code is the platform's own vocabulary (it may read like a class name); the rest not.
    leaked = _INTERNALS.search(answer.text.replace(envelope["code"], ""))
    return f"names internals: {leaked.group(0)!r}" if leaked else None


def _route(path: str) -> str:
    """A route template with its parameters unnamed and no trailing slash."""
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/") or "/"


def _described(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, route) of every documented operation, below the servers' base (OpenAPI 3
    ``servers[].url``, Swagger 2 ``basePath``) and as written."""
    bases = {""}
    for server in document.get("servers") or []:
        if isinstance(server, Mapping) and isinstance(server.get("url"), str):
            bases.add(urlsplit(server["url"]).path.rstrip("/"))
    if isinstance(document.get("basePath"), str):
        bases.add(document["basePath"].rstrip("/"))
    paths = document.get("paths")
    return {(method.upper(), _route(base + str(template)))
            for template, operations in (paths.items() if isinstance(paths, Mapping) else ())
            if isinstance(operations, Mapping)
            for method in operations if method.lower() in _METHODS
            for base in bases}


def _served_undescribed(sca: CheckContext, devtools: DevTools,
                        document: Mapping[str, Any]) -> list[str]:
    """The operations the adapter calls that the document lacks and the platform is seen to
    serve. Lacking operations are listed in the evidence; one counts as served when it is a
    read without path parameters (sent once, raw) answered 2xx. Any other lacking operation
    is evidence only: its route may be one the platform does not serve at all (a reference
    route a partial platform never implemented), which the document rightly omits."""
    operations = devtools.api_operations()
    if not operations:
        sca.evidence("operations compared with the description",
                     "none: the adapter names no operations of the described API")
        return []
    described = _described(document)
    lacking = [op for op in operations
               if (op["method"].upper(), _route(op["route"])) not in described
               and (op["method"].upper(), _route(op["path"])) not in described]
    served = []
    for op in lacking:
        if op["method"].upper() == "GET" and "{" not in op["path"]:
            answer = devtools.raw("GET", op["path"])
            if 200 <= answer.status < 300:
                served.append(f"GET {op['route']} ({op['name']}, answered {answer.status})")
    sca.evidence("operations compared with the description", {
        "operations the adapter calls": len(operations),
        "lacking from the description": [f"{op['method']} {op['route']} ({op['name']})"
                                         for op in lacking],
        "of those, seen served": served})
    return served


@pytest.mark.clause("7.4.a")
def test_console_and_api_description(sca: CheckContext, devtools: DevTools) -> None:
    """The console URL serves an HTML page and a valid OpenAPI document is published, which
    describes the operations the adapter calls for the target (its operation table): one it
    lacks that the platform is seen to serve fails; the others it lacks are evidence."""
    page = devtools.console_page()
    sca.evidence("console page", {"status": page.status, "content_type": page.content_type,
                                  "start": page.text[:300]})
    if page.status >= 500:
        raise TargetError(f"[7.4.a] the web console URL answered {page.status}: could not see "
                          f"whether it serves a page")
    assert page.status == 200 and "html" in page.content_type.lower() \
        and "<html" in page.text.lower(), (
            f"[7.4.a] the web console URL answered {page.status} {page.content_type}, "
            "not an HTML page")
    document = devtools.api_description()
    version = str(document.get("openapi") or document.get("swagger") or "")
    paths = document.get("paths") or {}
    sca.evidence("API description", {"version": version, "title": (document.get("info") or {})
                                     .get("title"), "paths": len(paths)})
    assert version.startswith(("3.", "2.")) and (document.get("info") or {}).get("title"), (
        f"[7.4.a] the API description is not an OpenAPI document (version {version!r})")
    assert paths and all(isinstance(ops, dict) and ops for ops in paths.values()), (
        "[7.4.a] the OpenAPI document describes no operation")
    served = _served_undescribed(sca, devtools, document)
    assert not served, (
        f"[7.4.a] the API description lacks {len(served)} operation(s) the platform serves "
        f"and the adapter calls: {', '.join(served[:8])}")


@pytest.mark.clause("7.4.b")
def test_errors_are_consistent_and_machine_readable(sca: CheckContext,
                                                    devtools: DevTools) -> None:
    """Malformed requests to every documented operation (sent once each, never retried) get a
    4xx in the platform's documented error envelope naming no internals (paths, source files,
    exception classes, SQL, host:port); never a 5xx or a trace."""
    probes = _probes(devtools.api_description())
    assert probes, "[7.4.b] the API description names no operation to probe"
    bad: list[str] = []
    statuses: dict[int, int] = {}
    for method, path, body in probes:
        answer = devtools.raw(method, path, body)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        wrong = _what_is_wrong(devtools, answer, body is not None and body != b"{}")
        if wrong is not None:
            bad.append(f"{method} {path} → {answer.status} "
                       f"{answer.content_type.split(';')[0]} ({wrong})")
    sca.evidence("error probes", {"requests": len(probes), "statuses": statuses,
                                  "violations": bad[:40]})
    sca.measure("malformed requests answered badly", len(bad), "requests", threshold=0,
                comparison="<=")
    assert not bad, (
        f"[7.4.b] malformed requests got a 5xx, a stack trace or a non-conforming error: "
        f"{len(bad)} of {len(probes)}, e.g. {bad[0]}")
