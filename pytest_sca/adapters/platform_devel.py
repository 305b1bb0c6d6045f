"""The ``devmachines`` and ``devtools`` capabilities over the platform API.

``devmachines``: notebook/IDE instances with an image and accelerators, commands
run inside them, ports published at a platform URL. ``devtools``: what a
developer uses around training jobs: the framework catalogue, a job's metric
series, a web terminal into a worker (a websocket), pre-flight node checks,
the web console and the API description, and raw requests for probing errors.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from pytest_sca.adapters.base import TargetError
from pytest_sca.adapters.capabilities import ActsAs, Record, wait_for
from pytest_sca.adapters.platform import Facade


@dataclass(frozen=True)
class WebAnswer:
    """A plain HTTP answer, whatever its status: what a browser or a script would see."""

    status: int
    content_type: str
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class DevMachines(ActsAs, Protocol):
    """Dev machines (notebook / IDE / SSH instances) with a chosen image and accelerators."""

    def create(self, name: str, image: str, resources: Mapping[str, Any], *,
               labels: Mapping[str, str] | None = None) -> Record:
        """Create one (removed at the end of the run): ``{id, status, image, accelerators…}``."""
        ...

    def get(self, devmachine_id: str) -> Record:
        """One dev machine."""
        ...

    def delete(self, devmachine_id: str) -> None:
        """Delete a dev machine."""
        ...

    def wait(self, devmachine_id: str, until: Collection[str] = ("running",),
             timeout: float = 120.0) -> Record:
        """Poll until its status is in ``until``; :class:`WaitTimeout` if not."""
        ...

    def exec(self, devmachine_id: str, command: Sequence[str], *, timeout: float = 60.0,
             background: bool = False) -> Record:
        """Run a command inside: ``{exit_code, output}`` (``{pid}`` in the background)."""
        ...

    def expose(self, devmachine_id: str, port: int | None = None) -> Record:
        """Publish a port (the platform picks it when ``None``): ``{port, url}``."""
        ...

    def open_url(self, url: str, timeout: float = 10.0) -> WebAnswer:
        """GET an exposed URL as the caller (its key is sent only to the platform's host)."""
        ...


@runtime_checkable
class DevTools(ActsAs, Protocol):
    """Tools around training jobs, the console and the API description."""

    def frameworks(self) -> list[Record]:
        """Distributed frameworks jobs can use: ``{name, versions, distributed, …}``."""
        ...

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> Record:
        """``{series: [{name, unit, worker, points: [{time, value}]}]}`` of one job."""
        ...

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> Terminal:
        """A web terminal (websocket) into a running worker of a job."""
        ...

    def preflight(self, node_ids: Sequence[str] | None = None) -> Record:
        """Pre-flight node checks: ``{items: [{node_id, healthy, checks}], eligible}``."""
        ...

    def mark_faulty(self, node_id: str, reason: str) -> Record:
        """Mark a node faulty (an operator's action); undo with :meth:`unmark`."""
        ...

    def unmark(self, node_id: str) -> Record:
        """Mark a node healthy again."""
        ...

    def console_page(self) -> WebAnswer:
        """The web console's page as a browser gets it."""
        ...

    def api_description(self) -> Record:
        """The published API description (OpenAPI document)."""
        ...

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        """One request as sent, never retried or interpreted (for probing error answers)."""
        ...


class TerminalClosed(Exception):
    """The terminal's websocket was refused or closed; the message says how."""


class Terminal:
    """One web terminal session: text in, text out."""

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
        import contextlib

        with contextlib.suppress(Exception):
            self._ws.close()


class _Raw:
    """Requests outside the JSON path: the caller's key, only to the platform's own host."""

    def __init__(self, facade: Facade) -> None:
        self.adapter = facade.adapter
        self.base = self.adapter.config.url.rstrip("/")

    def headers(self, url: str) -> dict[str, str]:
        token = self.adapter.http.token
        same_host = urlsplit(url).netloc == urlsplit(self.base).netloc
        return {"Authorization": f"Bearer {token}"} if token and same_host else {}

    def send(self, method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = None, timeout: float | None = None) -> WebAnswer:
        headers = self.headers(url)
        if content_type:
            headers["Content-Type"] = content_type
        try:
            answer = requests.request(method, url, data=body, headers=headers,
                                      timeout=timeout or self.adapter.config.timeout,
                                      verify=self.adapter.config.verify, allow_redirects=False)
        except requests.RequestException as exc:
            raise TargetError(self.adapter.context.redact(
                f"{method} {url}: cannot reach the target ({type(exc).__name__})")) from None
        return WebAnswer(answer.status_code, answer.headers.get("Content-Type", ""),
                         answer.text, dict(answer.headers))


class PlatformDevMachines(Facade):
    """Dev machines over the platform API (see :class:`DevMachines`)."""

    def create(self, name: str, image: str, resources: Mapping[str, Any], *,
               labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create(
            "devmachines.create", "devmachines.delete", {"devmachine_id": "id"},
            name=name, image=image, resources=dict(resources),
            labels=dict(labels) if labels else None)

    def get(self, devmachine_id: str) -> Record:
        return self.adapter.call("devmachines.get", devmachine_id=devmachine_id)

    def list(self) -> list[Record]:
        return self.adapter.call("devmachines.list")

    def delete(self, devmachine_id: str) -> None:
        self.adapter.remove("devmachines.delete", devmachine_id=devmachine_id)

    def wait(self, devmachine_id: str, until: Collection[str] = ("running",),
             timeout: float = 120.0) -> Record:
        return wait_for(
            lambda: self.get(devmachine_id), lambda found: found.get("status") in until,
            timeout, lambda found: f"dev machine {devmachine_id} still {found.get('status')!r}")

    def exec(self, devmachine_id: str, command: Sequence[str], *, timeout: float = 60.0,
             background: bool = False) -> Record:
        return self.adapter.call("devmachines.exec", devmachine_id=devmachine_id,
                                 command=list(command), timeout=timeout, background=background)

    def expose(self, devmachine_id: str, port: int | None = None) -> Record:
        return self.adapter.call("devmachines.expose", devmachine_id=devmachine_id, port=port)

    def open_url(self, url: str, timeout: float = 10.0) -> WebAnswer:
        return _Raw(self).send("GET", url, timeout=timeout)


class PlatformDevTools(Facade):
    """Development tools over the platform API (see :class:`DevTools`)."""

    def frameworks(self) -> list[Record]:
        return self.adapter.call("frameworks.list")

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> Record:
        return self.adapter.call("jobs.metrics", job_id=job_id, since=since, until=until)

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> Terminal:
        import websocket

        raw = _Raw(self)
        path = self.adapter.table.render("jobs.terminal", {"job_id": job_id, "worker": worker})
        url = raw.base + path.path
        ws_url = "wss" + url[5:] if url.startswith("https") else "ws" + url[4:]
        verify = self.adapter.config.verify
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
            raise TerminalClosed(f"the platform refused the terminal: HTTP {exc.status_code}"
                                 ) from None
        except (websocket.WebSocketException, OSError) as exc:
            raise TargetError(f"terminal {path.path}: cannot connect ({type(exc).__name__})"
                              ) from None
        return Terminal(connection)

    def preflight(self, node_ids: Sequence[str] | None = None) -> Record:
        return self.adapter.call("preflight.run", node_ids=list(node_ids) if node_ids else None)

    def mark_faulty(self, node_id: str, reason: str) -> Record:
        return self.adapter.call("preflight.mark_faulty", node_id=node_id, reason=reason)

    def unmark(self, node_id: str) -> Record:
        return self.adapter.call("preflight.unmark", node_id=node_id)

    def console_page(self) -> WebAnswer:
        raw = _Raw(self)
        path = self.adapter.table.render("console.page", {}).path
        return raw.send("GET", raw.base + path)

    def api_description(self) -> Record:
        return self.adapter.call("api.description")

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        raw = _Raw(self)
        return raw.send(method, raw.base + path, body=body, content_type=content_type)


FACADES: dict[str, type[Any]] = {
    "devmachines": PlatformDevMachines,
    "devtools": PlatformDevTools,
}
