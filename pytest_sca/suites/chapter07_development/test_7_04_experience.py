"""7.4 用户体验 User experience."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pytest_sca.fixtures import CheckContext

#: Signs of an answer written for a developer's debugger, not for an API client.
_LEAKS = re.compile(r"Traceback \(most recent call last\)|<html|<!doctype|\bat [\w.$]+\("
                    r"[\w.]+:\d+\)|File \"[^\"]+\", line \d+", re.IGNORECASE)
_BOGUS_ID = "sca-no-such-id"
_MAX_PROBES = 300
_WRITES = ("post", "put", "patch")


def _probes(document: dict[str, Any]) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of malformed requests, at most two per documented operation.

    Writes get a body that is not JSON and one of the wrong type; every operation
    with path parameters gets an id that does not exist. A write with neither a
    body nor a path parameter is left alone: a request to it could act.
    """
    probes: list[tuple[str, str, bytes | None]] = []
    for template, operations in sorted((document.get("paths") or {}).items()):
        path = re.sub(r"\{[^}]+\}", _BOGUS_ID, template)
        has_params = path != template
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


def _machine_readable(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body)


@pytest.mark.clause("7.4.a")
def test_console_and_api_description(sca: CheckContext, devtools: Any) -> None:
    """The console URL serves an HTML page and a valid OpenAPI document is published."""
    page = devtools.console_page()
    sca.evidence("console page", {"status": page.status, "content_type": page.content_type,
                                  "start": page.text[:300]})
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


@pytest.mark.clause("7.4.b")
def test_errors_are_consistent_and_machine_readable(sca: CheckContext, devtools: Any) -> None:
    """Malformed requests to every documented operation get 4xx JSON, never 5xx or a trace."""
    probes = _probes(devtools.api_description())
    assert probes, "[7.4.b] the API description names no operation to probe"
    bad: list[str] = []
    statuses: dict[int, int] = {}
    for method, path, body in probes:
        answer = devtools.raw(method, path, body)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        where = f"{method} {path} → {answer.status} {answer.content_type.split(';')[0]}"
        malformed_body = body is not None and body != b"{}"
        if answer.status >= 500 or _LEAKS.search(answer.text):
            bad.append(where)
        elif 400 <= answer.status < 500 and not _machine_readable(answer.text):
            bad.append(where + " (error body is not JSON)")
        elif answer.status < 400 and malformed_body:
            bad.append(where + " (malformed body accepted)")
    sca.evidence("error probes", {"requests": len(probes), "statuses": statuses,
                                  "violations": bad[:40]})
    sca.measure("malformed requests answered badly", len(bad), "requests", threshold=0,
                comparison="<=")
    assert not bad, (
        f"[7.4.b] malformed requests got a 5xx, a stack trace or a non-JSON error: "
        f"{len(bad)} of {len(probes)}, e.g. {bad[0]}")
