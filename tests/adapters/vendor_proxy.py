"""A reverse proxy that dresses the sandbox up as "Acme Cloud API v2", a vendor API.

Routes, field names, envelopes, status words and the error body all differ
from the reference API, so that a mapping written against it (acme_target.yaml
beside this file) proves the adapter can evaluate a platform without Python.
Every answer comes from the real sandbox behind it.

Acme is demanding the way real APIs are: its workload list comes in pages behind a
cursor (``pageSize``/``pageToken``), its metering in numbered pages with a ``Link``
header; halting a workload answers 202 with an operation to poll; a running workload
cannot be deleted (409); and it authenticates in one of several ways (``auth``):
a bearer token, HTTP basic, an API key in a header or the query, OAuth2 client
credentials (``POST /oauth2/token``), or AWS SigV4 signatures it verifies with botocore.
``fail_deletes`` makes the next deletes answer 500, as a vendor's sometimes do.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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


#: Credentials of the non-bearer auth modes (what the target file is given).
BASIC_USER = "acme-admin"
API_KEY = "acme-key-0123456789"
CLIENT_ID, CLIENT_SECRET = "sca-client", "acme-client-secret-42"
ACCESS_KEY, SECRET_KEY = "AKIAACMEEXAMPLE", "acme/sigv4+secret/KEY"
REGION, SERVICE = "acme-east-1", "workloads"
TERMINAL = {"COMPLETED", "ERROR", "HALTED"}


class VendorProxy:
    """Serves the Acme routes on 127.0.0.1:0 by translating to and from the sandbox.

    ``auth`` is how callers authenticate: ``bearer`` (the sandbox's tokens, forwarded),
    or ``basic``, ``api_key_header``, ``api_key_query``, ``oauth2``, ``sigv4``, each of
    which stands for ``upstream_token`` (the sandbox admin's token) once verified.
    """

    def __init__(self, upstream: str, auth: str = "bearer",
                 upstream_token: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.auth = auth
        self.upstream_token = upstream_token
        self.calls: list[str] = []
        self.rejected: list[str] = []
        self.fail_deletes = 0
        self.oauth_tokens: dict[str, float] = {}
        self.token_requests = 0
        self.operations: dict[str, str] = {}
        self._lock = threading.Lock()
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

    def revoke_tokens(self) -> None:
        """Forget every OAuth2 token issued (the next request with one is a 401)."""
        with self._lock:
            self.oauth_tokens.clear()

    def _authorization(self, handler: BaseHTTPRequestHandler, raw: bytes) -> str | None:
        """The Authorization header to forward upstream, or ``None`` if the caller is not
        authenticated the way this Acme instance wants."""
        header = handler.headers.get("Authorization", "")
        bearer = f"Bearer {self.upstream_token}"
        if self.auth == "bearer":
            return header or None
        if self.auth == "basic":
            expected = base64.b64encode(f"{BASIC_USER}:{self.upstream_token}".encode()).decode()
            return bearer if hmac.compare_digest(header, f"Basic {expected}") else None
        if self.auth == "api_key_header":
            return bearer if handler.headers.get("X-Acme-Key") == API_KEY else None
        if self.auth == "api_key_query":
            query = parse_qs(urlsplit(handler.path).query)
            return bearer if query.get("api_key") == [API_KEY] else None
        if self.auth == "oauth2":
            token = header.removeprefix("Bearer ")
            with self._lock:
                expires = self.oauth_tokens.get(token)
            return bearer if expires is not None and time.monotonic() < expires else None
        if self.auth == "sigv4":
            return bearer if self._signature_valid(handler, raw) else None
        raise AssertionError(f"unknown auth mode {self.auth}")

    def _signature_valid(self, handler: BaseHTTPRequestHandler, raw: bytes) -> bool:
        """Recompute the signature with botocore from what arrived, at the request's time."""
        header = handler.headers.get("Authorization", "")
        match = re.search(r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)", header)
        stamp = handler.headers.get("X-Amz-Date", "")
        if not match or not stamp:
            return False
        signed = match.group(1).split(";")
        headers = {name: handler.headers[name] for name in signed if name in handler.headers}
        url = f"http://{handler.headers['Host']}{handler.path}"
        request = AWSRequest(method=handler.command, url=url, headers=headers, data=raw)
        moment = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        if abs((now - moment).total_seconds()) > 300:
            return False
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), SERVICE, REGION).add_auth(request)
        expected = str(request.headers["Authorization"])
        return hmac.compare_digest(expected, header)

    def _token_endpoint(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        self.token_requests += 1
        form = parse_qs(raw.decode())
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if (form.get("grant_type") != ["client_credentials"]
                or handler.headers.get("Authorization") != f"Basic {expected}"):
            self._reply(handler, 401, {"error": "invalid_client"})
            return
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.oauth_tokens[token] = time.monotonic() + 60
        self._reply(handler, 200, {"access_token": token, "token_type": "Bearer",
                                   "expires_in": 60})

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        self.calls.append(f"{handler.command} {split.path}")
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if (handler.command, split.path) == ("POST", "/oauth2/token"):
            self._token_endpoint(handler, raw)
            return
        authorization = self._authorization(handler, raw)
        if authorization is None:
            self.rejected.append(f"{handler.command} {split.path}")
            self._reply(handler, 401, {"fault": {"reason": "UNAUTHENTICATED",
                                                 "detail": f"{self.auth} required"}})
            return
        if handler.command == "GET" and split.path.startswith("/v2/operations/"):
            self._operation(handler, split.path.rsplit("/", 1)[1], authorization)
            return
        if handler.command == "DELETE" and split.path.startswith("/v2/workloads/"):
            with self._lock:
                failing, self.fail_deletes = self.fail_deletes > 0, max(0, self.fail_deletes - 1)
            if failing:
                self._reply_raw(handler, 500, "text/html", b"<h1>Internal Server Error</h1>")
                return
            state = self._state(split.path.rsplit("/", 1)[1], authorization)
            if state is not None and state not in TERMINAL:
                self._reply(handler, 409, {"fault": {"reason": "STILL_RUNNING",
                                                     "detail": "halt the workload first"}})
                return
        for route in ROUTES:
            match = route.regex.match(split.path)
            if route.method == handler.command and match:
                break
        else:
            self._reply(handler, 404, {"fault": {"reason": "NO_ROUTE", "detail": split.path}})
            return
        params = {}
        query = parse_qs(split.query)
        for name, values in query.items():
            if name in route.query:
                reference, translate = route.query[name]
                params[reference] = translate(values[0])
        body = route.body(json.loads(raw)) if route.body and raw else None
        headers = {"Authorization": authorization}
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
        elif route.target.endswith("/stop"):
            operation = f"op-{secrets.token_hex(4)}"
            with self._lock:
                self.operations[operation] = match.group("job_id")
            self._reply(handler, 202, {"data": {"operationId": operation}})
        else:
            answer = route.answer(upstream.json())
            self._paged(handler, split.path, query, answer)

    def _paged(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]],
               answer: Any) -> None:
        """Workloads behind a cursor, metering in numbered pages with a Link header."""
        data = answer.get("data") if isinstance(answer, dict) else None
        link = None
        if path == "/v2/workloads" and "pageSize" in query and isinstance(data, dict):
            size = int(query["pageSize"][0])
            start = int(query.get("pageToken", ["0"])[0])
            every = data["workloads"]
            data["workloads"] = every[start:start + size]
            if start + size < len(every):
                data["nextPageToken"] = str(start + size)
        elif path == "/v2/metering" and "per_page" in query and isinstance(data, dict):
            size, page = int(query["per_page"][0]), int(query.get("page", ["1"])[0])
            every = data["records"]
            data["records"] = every[(page - 1) * size:page * size]
            if page * size < len(every):
                rest = {k: v[0] for k, v in query.items() if k != "page"}
                link = f'<{self.url.rstrip("/")}{path}?{urlencode({**rest, "page": page + 1})}>'
                link += '; rel="next"'
        self._reply(handler, 200, answer, link)

    def _state(self, job_id: str, authorization: str) -> str | None:
        upstream = self._session.get(f"{self.upstream}/api/v1/jobs/{job_id}",
                                     headers={"Authorization": authorization}, timeout=30)
        if upstream.status_code != 200:
            return None
        status = str(upstream.json()["status"])
        return STATES.get(status, status.upper())

    def _operation(self, handler: BaseHTTPRequestHandler, operation: str,
                   authorization: str) -> None:
        with self._lock:
            job_id = self.operations.get(operation)
        if job_id is None:
            self._reply(handler, 404, {"fault": {"reason": "NOT_FOUND", "detail": operation}})
            return
        state = self._state(job_id, authorization)
        self._reply(handler, 200, {"data": {"operationId": operation, "workloadId": job_id,
                                            "done": state in TERMINAL}})

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: Any,
               link: str | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self._reply_raw(handler, status, "application/json", payload, link)

    @staticmethod
    def _reply_raw(
        handler: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes,
        link: str | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        if link:
            handler.send_header("Link", link)
        handler.end_headers()
        handler.wfile.write(payload)
