"""A tiny scripted HTTP server on 127.0.0.1:0 for the client's error-mapping tests.

A test double on purpose: no real platform answers 500 or HTML on demand.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: (status, content type, body) returned for a request; given the handler.
Route = Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]


def json_route(status: int, body: object) -> Route:
    """A route that always answers ``status`` with ``body`` as JSON."""
    payload = json.dumps(body).encode()
    return lambda handler: (status, "application/json", payload)


class StubServer:
    """Routes by (method, path); counts hits so tests can see retries."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.hits: Counter[tuple[str, str]] = Counter()
        #: (method, path, body) of every request, in order.
        self.requests: list[tuple[str, str, bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                key = (self.command, self.path.split("?")[0])
                stub.hits[key] += 1
                length = int(self.headers.get("Content-Length") or 0)
                stub.requests.append((key[0], key[1], self.rfile.read(length) if length else b""))
                route = stub.routes.get(key)
                status, content_type, body = (
                    route(self) if route else (404, "application/json", b'{"detail":"Not Found"}')
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def stub_server(routes: dict[tuple[str, str], Route]) -> Iterator[StubServer]:
    """Run a :class:`StubServer` for the duration of the block."""
    server = StubServer(routes)
    server.start()
    try:
        yield server
    finally:
        server.stop()
