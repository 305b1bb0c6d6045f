"""The shared HTTP client maps answers to results, Refused or TargetError, and hides the token."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from pytest_sca.adapters.http import ErrorShape, Exchange, HttpClient
from pytest_sca.capabilities import Refused, TargetError

from .stub_server import Route, StubServer, json_route, stub_server

TOKEN = "sk-test-0123456789abcdef"


def _echo_auth_header(status: int) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        header = handler.headers.get("Authorization", "")
        body = f'{{"error": {{"code": "leaky", "message": "you sent {header}"}}}}'
        return status, "application/json", body.encode()

    return route


def _slow(handler: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
    time.sleep(1.0)  # the server is slow on purpose: the client's timeout is what is tested
    return 200, "application/json", b"{}"


@pytest.fixture
def server() -> Iterator[StubServer]:
    routes: dict[tuple[str, str], Route] = {
        ("GET", "/ok"): json_route(200, {"items": [1, 2]}),
        ("GET", "/text"): lambda h: (200, "text/plain", b"line 1\nline 2\n"),
        ("DELETE", "/gone"): lambda h: (204, "application/json", b""),
        ("GET", "/boom"): json_route(500, {"oops": True}),
        ("POST", "/boom"): json_route(500, {"oops": True}),
        ("GET", "/forbidden"): json_route(
            403, {"error": {"code": "forbidden", "message": "not your tenant"}}
        ),
        ("GET", "/html"): lambda h: (200, "text/html", b"<html>\n<body>hi</body></html>"),
        ("GET", "/leak-500"): _echo_auth_header(500),
        ("GET", "/leak-403"): _echo_auth_header(403),
        ("GET", "/vendor-error"): json_route(409, {"fault": {"reason": "QUOTA", "detail": "full"}}),
        ("GET", "/slow"): _slow,
    }
    with stub_server(routes) as running:
        yield running


def client(url: str, **kwargs: object) -> HttpClient:
    return HttpClient(url, token=TOKEN, timeout=5.0, backoff=0.01, **kwargs)  # type: ignore[arg-type]


def test_success_bodies(server: StubServer) -> None:
    http = client(server.url)
    assert http.request("GET", "/ok") == {"items": [1, 2]}
    assert http.request("GET", "/text", expect="text") == "line 1\nline 2\n"
    assert http.request("DELETE", "/gone", expect="none") is None


def test_404_and_403_are_api_errors_with_status_and_code(server: StubServer) -> None:
    http = client(server.url)
    with pytest.raises(Refused) as forbidden:
        http.request("GET", "/forbidden")
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    assert forbidden.value.message == "not your tenant"
    with pytest.raises(Refused) as missing:
        http.request("GET", "/no-such-route")
    assert missing.value.status == 404
    assert missing.value.code is None
    assert missing.value.message == "Not Found"
    assert not isinstance(missing.value, TargetError)


def test_a_refusal_says_whether_it_came_in_the_documented_envelope(server: StubServer) -> None:
    """10.2.b checks refusals against the documented error envelope: the client says whether
    the code and the message were where the error shape documents them."""
    with pytest.raises(Refused) as documented:
        client(server.url).request("GET", "/forbidden")
    assert documented.value.enveloped is True
    with pytest.raises(Refused) as vendor:
        client(server.url).request("GET", "/vendor-error")
    assert vendor.value.enveloped is False
    with pytest.raises(Refused) as shaped:
        client(server.url, error_shape=ErrorShape("/fault/reason", "/fault/detail")).request(
            "GET", "/vendor-error")
    assert shaped.value.enveloped is True


def test_vendor_error_shape(server: StubServer) -> None:
    http = client(server.url, error_shape=ErrorShape("/fault/reason", "/fault/detail"))
    with pytest.raises(Refused) as conflict:
        http.request("GET", "/vendor-error")
    assert (conflict.value.status, conflict.value.code, conflict.value.message) == (
        409,
        "QUOTA",
        "full",
    )


def test_500_is_target_error_after_bounded_retries_for_get_only(server: StubServer) -> None:
    seen: list[Exchange] = []
    http = client(server.url, retries=2, observe=seen.append)
    with pytest.raises(TargetError, match=r"^GET http://127\.0\.0\.1:\d+/boom answered 500"):
        http.request("GET", "/boom")
    assert server.hits[("GET", "/boom")] == 3
    assert [(e.method, e.path, e.status, e.attempt) for e in seen] == [
        ("GET", "/boom", 500, 0),
        ("GET", "/boom", 500, 1),
        ("GET", "/boom", 500, 2),
    ]
    with pytest.raises(TargetError, match="answered 500"):
        http.request("POST", "/boom", json_body={"a": 1})
    assert server.hits[("POST", "/boom")] == 1


def test_body_that_is_not_json_is_target_error(server: StubServer) -> None:
    with pytest.raises(TargetError) as caught:
        client(server.url).request("GET", "/html")
    message = str(caught.value)
    assert "not JSON (text/html)" in message
    assert "\n" not in message


def test_connection_refused_is_target_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: the connection is refused.
    http = HttpClient(f"http://127.0.0.1:{port}/", token=TOKEN, retries=1, backoff=0.01)
    with pytest.raises(TargetError) as caught:
        http.request("GET", "/api/v1/info")
    assert str(caught.value) == (
        f"GET http://127.0.0.1:{port}/api/v1/info: cannot reach the target (Connection refused)"
    )


def test_timeout_is_target_error(server: StubServer) -> None:
    http = HttpClient(server.url, token=TOKEN, timeout=0.2, retries=0)
    with pytest.raises(TargetError, match=r"no complete answer within 0\.2 s"):
        http.request("GET", "/slow")


def test_token_never_appears_in_messages(server: StubServer) -> None:
    http = client(server.url, retries=0)
    with pytest.raises(TargetError) as server_error:
        http.request("GET", "/leak-500")
    with pytest.raises(Refused) as refusal:
        http.request("GET", "/leak-403")
    for exc in (server_error.value, refusal.value):
        assert TOKEN not in str(exc)
        assert "Bearer ***" in str(exc)
    assert TOKEN not in refusal.value.message


def test_credentials_in_the_url_are_not_shown() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpClient(f"http://admin:hunter2@127.0.0.1:{port}/", retries=0)
    with pytest.raises(TargetError) as caught:
        http.request("GET", "/x")
    assert "hunter2" not in str(caught.value)
