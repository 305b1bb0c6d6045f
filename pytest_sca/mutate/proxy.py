"""A mutating reverse proxy (aiohttp) in front of one HTTP(S) origin.

It forwards every request to the upstream origin (TLS verified as the target file says),
lets the current operator intercept or change the exchange, and serves the answer over
TLS when the adapter spoke TLS (a certificate of the harness's own CA, which the rewritten
target file trusts) or plain HTTP. WebSockets pass through unchanged. Which check is
running is told by the pytest side (:mod:`.recorder`) through :class:`Control`, so that
every change an operator makes is counted against the check that saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import Counter, defaultdict
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from .exchange import Context, Request, Response
from .operators import STREAMS, Composite, Operator

#: Headers that belong to one connection, never forwarded (the body is re-framed). A
#: request's other headers pass exactly as sent: they may be signed (AWS SigV4 signs
#: Content-Encoding: aws-chunked, for one).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
                        "content-length", "expect"})
#: Also dropped from answers: the proxy reads them decoded (and may change them).
ANSWER_DROPPED = HOP_BY_HOP | {"content-encoding"}
#: The bucket changes go to while no check runs (collection, session set-up).
OUTSIDE = "<outside checks>"
_MAX_BODY = 1 << 30


class Control:
    """The state every proxy shares: the operator, the run's context, the running check."""

    def __init__(self) -> None:
        self.operator: Operator = Composite([])
        self.context = Context()
        self.current = OUTSIDE
        self.started: list[str] = []
        self.finished: set[str] = set()
        self.limited: set[str] = set()
        self.fired: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    def reset(self, operator: Operator, seed: int = 0) -> None:
        """Start a run: a new operator, a fresh context, no checks seen."""
        with self.lock:
            self.operator = operator
            self.context = Context(seed)
            self.current = OUTSIDE
            self.started, self.finished, self.limited = [], set(), set()
            self.fired = defaultdict(Counter)
            self.requests = Counter()

    def note(self, before: Counter[str]) -> None:
        """Count what fired since ``before`` against the running check."""
        for name, count in self.context.fired.items():
            delta = count - before.get(name, 0)
            if delta > 0:
                self.fired[self.current][name] += delta


class Proxy:
    """One listening port in front of one upstream origin."""

    def __init__(self, control: Control, upstream: str, upstream_ssl: ssl.SSLContext | bool,
                 serve_ssl: ssl.SSLContext | None) -> None:
        self.control = control
        self.upstream = URL(upstream).origin()
        self.upstream_ssl = upstream_ssl
        self.serve_ssl = serve_ssl
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def origin(self) -> str:
        scheme = "https" if self.serve_ssl is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.serve_ssl)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        self.port = server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession(
            auto_decompress=True,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=900),
            connector=aiohttp.TCPConnector(ssl=self.upstream_ssl, limit=64))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _headers(self, incoming: Any) -> dict[str, str]:
        return {k: v for k, v in incoming.items() if k.lower() not in HOP_BY_HOP}

    def _rewrite_location(self, value: str) -> str:
        upstream = str(self.upstream)
        return self.origin + value[len(upstream):] if value.startswith(upstream) else value

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        body = await request.read()
        exchange = Request(request.method, request.path, request.query_string,
                           {k.lower(): v for k, v in request.headers.items()}, body)
        control = self.control
        with control.lock:
            operator, context = control.operator, control.context
            before = Counter(context.fired)
            control.requests[control.current] += 1
            held = operator.delay(exchange, context)
            answer = operator.intercept(exchange, context)
            control.note(before)
        if answer is None:
            url = self.upstream.join(URL(request.raw_path, encoded=True))
            assert self._session is not None
            upstream = await self._session.request(
                request.method, url, headers=self._headers(request.headers),
                data=body if body or request.method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False)
            async with upstream:
                content_type = upstream.headers.get("Content-Type", "").split(";")[0].strip()
                headers = {k.lower(): v for k, v in upstream.headers.items()
                           if k.lower() not in ANSWER_DROPPED}
                if "location" in headers:
                    headers["location"] = self._rewrite_location(headers["location"])
                if content_type in STREAMS and not operator.buffers_streams:
                    return await self._stream(request, upstream, headers, held)
                answer = Response(upstream.status, headers, await upstream.read())
            with control.lock:
                before = Counter(context.fired)
                mutated = operator.mutate(exchange, answer, context)
                control.note(before)
            answer = mutated or answer
        if held:
            await asyncio.sleep(held)
        headers = {k: v for k, v in answer.headers.items() if k not in ANSWER_DROPPED}
        return web.Response(status=answer.status, headers=headers, body=answer.body)

    async def _stream(self, request: web.Request, upstream: aiohttp.ClientResponse,
                      headers: dict[str, str], held: float) -> web.StreamResponse:
        if held:
            await asyncio.sleep(held)
        response = web.StreamResponse(status=upstream.status, headers=headers)
        await response.prepare(request)
        # A client may stop reading a stream early (it saw enough): not the proxy's error.
        with contextlib.suppress(ConnectionResetError):
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        url = self.upstream.join(URL(request.raw_path, encoded=True))
        url = url.with_scheme("wss" if url.scheme == "https" else "ws")
        forwarded = {k: v for k, v in request.headers.items()
                     if k.lower() not in HOP_BY_HOP and not k.lower().startswith("sec-websocket")}
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                     if p.strip()]
        async with self._session.ws_connect(url, headers=forwarded, protocols=protocols) as remote:
            local = web.WebSocketResponse(protocols=protocols)
            await local.prepare(request)

            async def pump(source: Any, sink: Any) -> None:
                async for message in source:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    elif message.type == aiohttp.WSMsgType.BINARY:
                        await sink.send_bytes(message.data)
                    else:
                        break
                await sink.close()

            tasks = [asyncio.ensure_future(pump(local, remote)),
                     asyncio.ensure_future(pump(remote, local))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            return local


class ProxyLoop:
    """An asyncio loop in a thread that runs the proxies and the control endpoint."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sca-mutate-proxy",
                                        daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class ControlEndpoint:
    """``POST /start``, ``/finish`` and ``/limit`` (JSON ``{"nodeid": …}``) from the pytest
    side (:mod:`.recorder`): a check begins, ends, ran past its time limit."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/start", self._start)
        app.router.add_post("/finish", self._finish)
        app.router.add_post("/limit", self._limit)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _start(self, request: web.Request) -> web.Response:
        nodeid = (await request.json())["nodeid"]
        with self.control.lock:
            self.control.current = nodeid
            self.control.started.append(nodeid)
        return web.json_response({})

    async def _finish(self, request: web.Request) -> web.Response:
        nodeid = (await request.json())["nodeid"]
        with self.control.lock:
            self.control.finished.add(nodeid)
            self.control.current = OUTSIDE
        return web.json_response({})

    async def _limit(self, request: web.Request) -> web.Response:
        nodeid = (await request.json())["nodeid"]
        with self.control.lock:
            self.control.limited.add(nodeid)
        return web.json_response({})
