"""A reverse proxy that dresses the sandbox up as "Acme Cloud API v2", a vendor API.

Routes, field names, envelopes, status words and the error body all differ
from the reference API, so that a mapping written against it (acme_mapping.yaml
beside this file) proves the adapter can evaluate a platform without Python.
Every answer comes from the real sandbox behind it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

STATES = {
    "pending": "PENDING",
    "running": "RUNNING",
    "succeeded": "COMPLETED",
    "failed": "ERROR",
    "stopped": "HALTED",
}
STATES_BACK = {vendor: reference for reference, vendor in STATES.items()}


def _org(tenant: dict[str, Any]) -> dict[str, Any]:
    return {
        "orgId": tenant["id"],
        "orgName": tenant["name"],
        "tags": tenant.get("labels", {}),
        "createdAt": tenant.get("created_at"),
    }


def _member(user: dict[str, Any]) -> dict[str, Any]:
    member = {
        "memberId": user["id"],
        "orgId": user.get("tenant_id"),
        "memberName": user["name"],
        "access": user["role"],
        "tags": user.get("labels", {}),
    }
    if "api_key" in user:
        member["apiKey"] = user["api_key"]
    return member


def _workload(job: dict[str, Any]) -> dict[str, Any]:
    resources = job.get("resources") or {}
    return {
        "workloadId": job["id"],
        "orgId": job.get("tenant_id"),
        "workloadName": job["name"],
        "spec": {
            "image": job.get("image"),
            "cmd": job.get("command"),
            "res": {
                "cpu": resources.get("cpu"),
                "memGiB": resources.get("memory_gib"),
                "gpus": resources.get("accelerators"),
            },
        },
        "state": STATES.get(job["status"], job["status"].upper()),
        "result": {"exitCode": job.get("exit_code")},
        "replicas": job.get("workers"),
        "timestamps": {
            "created": job.get("created_at"),
            "started": job.get("started_at"),
            "finished": job.get("finished_at"),
        },
        "tags": job.get("labels", {}),
    }


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": event["time"],
        "kind": event["type"],
        "why": event.get("reason"),
        "text": event.get("message"),
    }


def _meter(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "recordId": record["id"],
        "orgId": record.get("tenant_id"),
        "workloadId": record.get("job_id"),
        "meter": record["resource"],
        "amount": record["quantity"],
        "unit": record["unit"],
        "window": {"from": record.get("start"), "to": record.get("end")},
    }


#: What a vendor route is in reference terms.
Translate = Callable[[Any], Any]


class _Route:
    def __init__(
        self,
        method: str,
        pattern: str,
        target: str,
        body: Translate | None = None,
        answer: Translate | None = None,
        query: dict[str, tuple[str, Translate]] | None = None,
    ) -> None:
        self.method = method
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self.target = target
        self.body = body
        self.answer = answer
        self.query = query or {}


def _envelope(inner: Translate) -> Translate:
    return lambda doc: {"data": inner(doc)}


def _listing(key: str, inner: Translate) -> Translate:
    return lambda doc: {
        "data": {key: [inner(item) for item in doc["items"]], "count": len(doc["items"])}
    }


def _as_is(value: Any) -> Any:
    return value


ROUTES = [
    _Route(
        "POST",
        "/v2/orgs",
        "/api/v1/tenants",
        body=lambda b: {"name": b["orgName"], "labels": b.get("tags", {})},
        answer=_envelope(_org),
    ),
    _Route("DELETE", "/v2/orgs/{tenant_id}", "/api/v1/tenants/{tenant_id}"),
    _Route(
        "POST",
        "/v2/orgs/{tenant_id}/members",
        "/api/v1/tenants/{tenant_id}/users",
        body=lambda b: {"name": b["memberName"], "role": b["access"], "labels": b.get("tags", {})},
        answer=_envelope(_member),
    ),
    _Route(
        "DELETE",
        "/v2/orgs/{tenant_id}/members/{user_id}",
        "/api/v1/tenants/{tenant_id}/users/{user_id}",
    ),
    _Route(
        "POST",
        "/v2/workloads",
        "/api/v1/jobs",
        body=lambda b: {
            "name": b["workloadName"],
            "image": b["spec"]["image"],
            "command": b["spec"]["cmd"],
            "workers": b["spec"].get("replicas", 1),
            "resources": {
                "cpu": b["spec"]["res"]["cpu"],
                "memory_gib": b["spec"]["res"]["memGiB"],
                "accelerators": b["spec"]["res"]["gpus"],
            },
            "env": b.get("environment") or {},
            "labels": b.get("tags", {}),
        },
        answer=_envelope(_workload),
    ),
    _Route(
        "GET",
        "/v2/workloads",
        "/api/v1/jobs",
        answer=_listing("workloads", _workload),
        query={
            # Only the vendor's own words: a reference word reaching here is a mapping bug.
            "state": ("status", lambda v: STATES_BACK.get(v, f"not-a-vendor-state-{v}")),
            "selector": ("label", _as_is),
        },
    ),
    _Route("GET", "/v2/workloads/{job_id}", "/api/v1/jobs/{job_id}", answer=_envelope(_workload)),
    _Route(
        "GET",
        "/v2/workloads/{job_id}/timeline",
        "/api/v1/jobs/{job_id}/events",
        answer=_listing("entries", _entry),
    ),
    _Route(
        "GET",
        "/v2/workloads/{job_id}/output",
        "/api/v1/jobs/{job_id}/logs",
        query={"rank": ("worker", _as_is)},
    ),
    _Route(
        "POST",
        "/v2/workloads/{job_id}/halt",
        "/api/v1/jobs/{job_id}/stop",
        answer=_envelope(_workload),
    ),
    _Route(
        "POST",
        "/v2/workloads/{job_id}/rerun",
        "/api/v1/jobs/{job_id}/restart",
        answer=_envelope(_workload),
    ),
    _Route("DELETE", "/v2/workloads/{job_id}", "/api/v1/jobs/{job_id}"),
    _Route(
        "GET",
        "/v2/metering",
        "/api/v1/usage",
        answer=_listing("records", _meter),
        query={"workload": ("job_id", _as_is)},
    ),
    _Route("GET", "/v2/telemetry", "/metrics"),
]


class VendorProxy:
    """Serves the Acme routes on 127.0.0.1:0 by translating to and from the sandbox."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._session = requests.Session()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._session.close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        self.calls.append(f"{handler.command} {split.path}")
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        for route in ROUTES:
            match = route.regex.match(split.path)
            if route.method == handler.command and match:
                break
        else:
            self._reply(handler, 404, {"fault": {"reason": "NO_ROUTE", "detail": split.path}})
            return
        params = {}
        for name, values in parse_qs(split.query).items():
            if name in route.query:
                reference, translate = route.query[name]
                params[reference] = translate(values[0])
        body = route.body(json.loads(raw)) if route.body and raw else None
        headers = {}
        if handler.headers.get("Authorization"):
            headers["Authorization"] = handler.headers["Authorization"]
        upstream = self._session.request(
            route.method,
            self.upstream + route.target.format(**match.groupdict()),
            params=params,
            json=body,
            headers=headers,
            timeout=30,
        )
        if upstream.status_code >= 400:
            try:
                error = upstream.json()["error"]
                fault = {"reason": error["code"].upper(), "detail": error["message"]}
            except (ValueError, KeyError, TypeError):
                fault = {"reason": "UPSTREAM", "detail": upstream.text[:200]}
            self._reply(handler, upstream.status_code, {"fault": fault})
        elif upstream.status_code == 204:
            self._reply(handler, 204, None)
        elif route.answer is None:
            self._reply_raw(
                handler, upstream.status_code, upstream.headers["Content-Type"], upstream.content
            )
        else:
            self._reply(handler, upstream.status_code, route.answer(upstream.json()))

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self._reply_raw(handler, status, "application/json", payload)

    @staticmethod
    def _reply_raw(
        handler: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
