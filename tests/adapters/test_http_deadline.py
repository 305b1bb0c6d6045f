"""One deadline per request, a body cap and a breaker per endpoint (issue 16.3)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_sca.adapters.deadline import Breaker, breaker_for
from pytest_sca.adapters.http import HttpClient, VerifyingSession
from pytest_sca.capabilities import TargetError


def _serve_once(answer: bytes, trickle_s: float = 0.0) -> Iterator[int]:
    """A raw HTTP server on loopback that sends ``answer`` (headers included), one byte
    every ``trickle_s`` seconds after the headers when asked to."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.recv(65536)
                head, _, body = answer.partition(b"\r\n\r\n")
                try:
                    connection.sendall(head + b"\r\n\r\n")
                    for index in range(len(body)):
                        if stop.is_set():
                            break
                        connection.sendall(body[index:index + 1])
                        time.sleep(trickle_s)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture
def trickling() -> Iterator[int]:
    body = b'{"items": [' + b"1, " * 200 + b"1]}"
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n" % len(body))
    yield from _serve_once(head + b"Connection: close\r\n\r\n" + body, trickle_s=0.05)


@pytest.fixture
def huge() -> Iterator[int]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
    yield from _serve_once(head + b"Connection: close\r\n\r\n" + b" " * 5000)


def test_a_trickling_answer_ends_at_the_total_deadline(trickling: int) -> None:
    # Every byte comes well inside a read timeout; the whole answer takes 30 s.
    http = HttpClient(f"http://127.0.0.1:{trickling}", timeout=1.0, retries=0)
    began = time.monotonic()
    with pytest.raises(TargetError, match=r"no complete answer within 1 s"):
        http.request("GET", "/items")
    assert time.monotonic() - began < 3


def test_an_answer_over_the_cap_is_not_read(huge: int) -> None:
    session = VerifyingSession()
    session.max_body = 1000
    http = HttpClient(f"http://127.0.0.1:{huge}", retries=0, session=session)
    with pytest.raises(TargetError, match="declares 5000 bytes, over the 1000 cap"):
        http.request("GET", "/big")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_breaker_stops_sending_to_a_dead_endpoint_and_tries_again_later() -> None:
    now = [0.0]
    port = _closed_port()
    breaker = breaker_for(f"http://127.0.0.1:{port}")
    breaker.threshold, breaker.cool_down_s = 3, 30
    breaker._clock = lambda: now[0]  # noqa: SLF001 - the test moves time
    http = HttpClient(f"http://127.0.0.1:{port}", retries=0)
    for _ in range(3):
        with pytest.raises(TargetError, match="Connection refused"):
            http.request("GET", "/x")
    with pytest.raises(TargetError, match="not tried: the last 3 requests .* got no answer"):
        http.request("GET", "/x")
    now[0] = 31.0  # after the cool-down one request goes again; failing, it reopens
    with pytest.raises(TargetError, match="Connection refused"):
        http.request("GET", "/x")
    with pytest.raises(TargetError, match="not tried"):
        http.request("GET", "/x")


def test_an_answer_of_any_status_closes_the_breaker() -> None:
    breaker = Breaker(threshold=2)
    breaker.failed("Connection refused")
    breaker.answered()
    breaker.failed("Connection refused")
    assert breaker.refusal() is None
    breaker.failed("Connection refused")
    assert breaker.refusal() is not None


def test_clients_of_one_endpoint_share_its_breaker() -> None:
    port = _closed_port()
    first = HttpClient(f"http://127.0.0.1:{port}/api", retries=0)
    second = HttpClient(f"http://user:pw@127.0.0.1:{port}/other", retries=0)
    for _ in range(5):
        with pytest.raises(TargetError, match="Connection refused"):
            first.request("GET", "/x")
    with pytest.raises(TargetError, match="not tried"):
        second.request("GET", "/y")
