"""The TLS/HTTP probe against local TLS servers offering 1.2–1.3 only, or 1.0–1.3."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_sca.probes.tls import probe_endpoint
from pytest_sca.sandbox.security import ensure_tls_material, server_ssl_context

ANSWER = (b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=60\r\n"
          b"Content-Length: 0\r\nConnection: close\r\n\r\n")


@contextmanager
def tls_server(context: ssl.SSLContext) -> Iterator[int]:
    """A TLS server on 127.0.0.1 answering every request with 200 and HSTS; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer(raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            with context.wrap_socket(raw, server_side=True) as tls:
                if tls.recv(4096):
                    tls.sendall(ANSWER)
        except OSError:
            raw.close()

    stop = threading.Event()
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=answer, args=(raw,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_modern_server_passes_and_legacy_versions_are_seen(tmp_path: Path) -> None:
    files = ensure_tls_material(tmp_path)
    with tls_server(server_ssl_context(files, frozenset())) as port:
        modern = probe_endpoint(f"https://127.0.0.1:{port}/", str(files.ca))
        untrusted = probe_endpoint(f"https://127.0.0.1:{port}/", True)
    assert modern.versions == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True,
                               "TLSv1.3": True}
    assert modern.plain_http == "refused"
    assert modern.hsts == "max-age=60"
    assert modern.problems() == [], modern
    assert untrusted.certificate_problem and "certificate" in " ".join(untrusted.problems())
    with tls_server(server_ssl_context(files, frozenset({"tls_legacy_enabled"}))) as port:
        legacy = probe_endpoint(f"https://127.0.0.1:{port}/", str(files.ca))
    assert legacy.versions == dict.fromkeys(legacy.versions, True)
    assert legacy.problems() == ["TLSv1 accepted", "TLSv1.1 accepted"]


def test_plain_http_endpoint_is_reported() -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        report = probe_endpoint(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert report.problems() == ["served over plain HTTP"]
    assert (report.plain_http, report.plain_http_detail) == ("open", "HTTP 200")
