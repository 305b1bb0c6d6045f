"""``devmachines`` and ``devtools`` over the platform API.

``devmachines``: notebook/IDE instances with an image and accelerators, commands run
inside them, ports published at a platform URL. ``devtools``: the framework
catalogue, a job's metric series, a web terminal into a worker (a websocket),
pre-flight node checks, the web console and the API description, and raw requests
for probing error answers.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.mapping import error_envelope
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import (
    ApiOperation,
    DevMachine,
    ErrorEnvelope,
    ExecResult,
    ExposedPort,
    Framework,
    JobMetrics,
    Labels,
    NodeMark,
    Preflight,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    WebAnswer,
    wait_for_status,
)

#: Operations of the table that are not the described API: the description itself, the
#: console's web page, the Prometheus exposition.
NOT_API = frozenset({"api.description", "console.page", "metrics.scrape"})


class WebsocketTerminal:
    """One web terminal session over a websocket: text in, text out."""

    def __init__(self, connection: Any) -> None:
        self._ws = connection
        #: Why the platform closed the terminal, once it did.
        self.closed: str | None = None

    def send(self, text: str) -> None:
        """Type ``text`` (include the newline)."""
        self._ws.send(text)

    def read_until(self, expected: str, timeout: float = 10.0) -> str:
        """What the terminal printed until ``expected`` appeared, it closed, or ``timeout``."""
        import websocket

        transcript = ""
        deadline = time.monotonic() + timeout
        while expected not in transcript and self.closed is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._ws.settimeout(remaining)
            try:
                opcode, data = self._ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                break
            except (websocket.WebSocketConnectionClosedException, OSError) as exc:
                self.closed = f"connection closed ({type(exc).__name__})"
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                why = data[2:].decode("utf-8", "replace")
                self.closed = f"closed by the platform (code {code}: {why})"
                break
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                transcript += data.decode("utf-8", "replace")
        return transcript

    def close(self) -> None:
        """Close the session."""
        with contextlib.suppress(Exception):
            self._ws.close()


class RawRequests:
    """Requests outside the JSON path: the caller's key, sent only to the platform's host."""

    def __init__(self, client: PlatformClient) -> None:
        self.client = client
        self.base = client.config.url.rstrip("/")

    def headers(self, url: str) -> dict[str, str]:
        token = self.client.http.token
        same_host = urlsplit(url).netloc == urlsplit(self.base).netloc
        return {"Authorization": f"Bearer {token}"} if token and same_host else {}

    def send(self, method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = None, timeout: float | None = None) -> WebAnswer:
        headers = self.headers(url)
        if content_type:
            headers["Content-Type"] = content_type
        try:
            answer = requests.request(method, url, data=body, headers=headers,
                                      timeout=timeout or self.client.config.timeout,
                                      verify=self.client.config.verify, allow_redirects=False)
        except requests.RequestException as exc:
            raise TargetError(self.client.context.redact(
                f"{method} {url}: cannot reach the target ({type(exc).__name__})")) from None
        return WebAnswer(answer.status_code, answer.headers.get("Content-Type", ""),
                         answer.text, dict(answer.headers))

    def content(self, url: str) -> bytes:
        """The bytes at ``url`` (an output image), with the caller's credentials."""
        try:
            response = requests.get(url, headers=self.headers(url),
                                    timeout=self.client.config.timeout,
                                    verify=self.client.config.verify)
        except requests.RequestException as exc:
            raise TargetError(f"GET {url}: {type(exc).__name__}") from None
        if 400 <= response.status_code < 500:
            raise Refused(f"GET {url}", response.status_code, None, response.reason or "")
        if response.status_code >= 300:
            raise TargetError(f"GET {url} answered {response.status_code}")
        return response.content


class PlatformDevMachines(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.DevMachines` over the platform API."""

    def create(self, name: str, image: str, resources: Resources, *,
               labels: Labels | None = None) -> DevMachine:
        return self.subject.create(
            "devmachines.create", "devmachines", "devmachines.delete",
            {"devmachine_id": "id"}, name=name, image=image, resources=dict(resources),
            labels=labels_or_none(labels))

    def get(self, devmachine_id: str) -> DevMachine:
        return self.subject.call("devmachines.get", devmachine_id=devmachine_id)

    def delete(self, devmachine_id: str) -> None:
        self.subject.remove("devmachines.delete", devmachine_id=devmachine_id)

    def wait(self, devmachine_id: str, until: Collection[str] = ("running",),
             timeout: float = 120.0) -> DevMachine:
        return wait_for_status(lambda: self.get(devmachine_id), until, timeout,
                               f"dev machine {devmachine_id}")

    def exec(self, devmachine_id: str, command: Sequence[str], *, timeout: float = 60.0,
             background: bool = False) -> ExecResult:
        return self.subject.call("devmachines.exec", devmachine_id=devmachine_id,
                                 command=list(command), timeout=timeout, background=background)

    def expose(self, devmachine_id: str, port: int | None = None) -> ExposedPort:
        return self.subject.call("devmachines.expose", devmachine_id=devmachine_id, port=port)

    def open_url(self, url: str, timeout: float = 10.0) -> WebAnswer:
        return RawRequests(self.subject).send("GET", url, timeout=timeout)


class PlatformDevTools(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.DevTools` over the platform API."""

    def frameworks(self) -> list[Framework]:
        return self.subject.call("frameworks.list")

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> JobMetrics:
        return self.subject.call("jobs.metrics", job_id=job_id, since=since, until=until)

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> WebsocketTerminal:
        import websocket

        raw = RawRequests(self.subject)
        path = self.subject.table.render("jobs.terminal", {"job_id": job_id, "worker": worker})
        url = raw.base + path.path
        ws_url = "wss" + url[5:] if url.startswith("https") else "ws" + url[4:]
        verify = self.subject.config.verify
        sslopt: dict[str, Any] = {}
        if verify is False:
            sslopt = {"cert_reqs": ssl.CERT_NONE}
        elif isinstance(verify, str):
            sslopt = {"ca_certs": verify}
        header = [f"{k}: {v}" for k, v in raw.headers(url).items()]
        try:
            connection = websocket.create_connection(ws_url, header=header, timeout=timeout,
                                                     sslopt=sslopt)
        except websocket.WebSocketBadStatusException as exc:
            raise Refused(f"terminal {path.path}", exc.status_code, None,
                          "the platform refused to open the terminal",
                          None if exc.status_code < 500 else RefusalReason.OTHER) from None
        except (websocket.WebSocketException, OSError) as exc:
            raise TargetError(f"terminal {path.path}: cannot connect ({type(exc).__name__})"
                              ) from None
        return WebsocketTerminal(connection)

    def preflight(self, node_ids: Sequence[str] | None = None) -> Preflight:
        return self.subject.call("preflight.run", node_ids=list(node_ids) if node_ids else None)

    def mark_faulty(self, node_id: str, reason: str) -> NodeMark:
        marked: NodeMark = self.subject.call("preflight.mark_faulty", node_id=node_id,
                                             reason=reason)
        # An operator's mark the run made is taken back at the end of the check.
        self.subject.context.created(
            "", f"mark node {node_id} healthy again",
            lambda: self.subject.remove_quietly("preflight.unmark", {"node_id": node_id}))
        return marked

    def unmark(self, node_id: str) -> NodeMark:
        return self.subject.call("preflight.unmark", node_id=node_id)

    def console_page(self) -> WebAnswer:
        raw = RawRequests(self.subject)
        return raw.send("GET", raw.base + self.subject.table.render("console.page", {}).path)

    def api_description(self) -> dict[str, Any]:
        return self.subject.call("api.description")

    def api_operations(self) -> list[ApiOperation]:
        base = urlsplit(self.subject.config.url).path.rstrip("/")
        return [{"name": name, "method": method, "path": path, "route": base + path}
                for name, method, path in self.subject.table.routes() if name not in NOT_API]

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        raw = RawRequests(self.subject)
        return raw.send(method, raw.base + path, body=body, content_type=content_type)

    def error_envelope(self, answer: WebAnswer) -> ErrorEnvelope | None:
        config = self.subject.config
        return error_envelope(answer.text, [config.error_code_pointer],
                              [config.error_message_pointer])
