"""The mutating proxy over loopback: TLS both sides, JSON, streams, websockets, counting.

The upstream is a small aiohttp server made here (the sandbox is too slow to start for
each of these); the end-to-end run against the sandbox is in test_harness.py.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from aiohttp import web

from pytest_sca.loopback_tls import issue_loopback_tls
from pytest_sca.mutate import operators as ops
from pytest_sca.mutate import targetfile
from pytest_sca.mutate.proxy import OUTSIDE, Control, ControlEndpoint, Proxy, ProxyLoop

JOBS = {"items": [{"id": f"j{i}", "status": "running", "gpus": i} for i in range(4)]}


class Upstream:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/jobs", self.jobs)
        app.router.add_delete("/api/jobs/{id}", self.delete)
        app.router.add_get("/api/forbidden", self.forbidden)
        app.router.add_get("/api/stream", self.stream)
        app.router.add_get("/api/ws", self.websocket)
        app.router.add_get("/api/moved", self.moved)
        return app

    async def jobs(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path_qs, b""))
        return web.json_response({**JOBS, "host": request.headers["Host"]})

    async def delete(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, await request.read()))
        return web.json_response({"deleted": request.match_info["id"]})

    async def forbidden(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "FORBIDDEN"}}, status=403)

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"https://{request.host}/api/jobs")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(4):
            await response.write(b'data: {"n": %d}\n\n' % i)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str("echo:" + message.data)
        return ws


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("mutate-proxy")
    tls = issue_loopback_tls(folder / "tls", "test CA", timedelta(days=1))
    serving = tls.server_context()
    loop = ProxyLoop()
    upstream = Upstream()
    runner = web.AppRunner(upstream.app())

    async def start_upstream() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=serving)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    port = loop.call(start_upstream())
    control = Control()
    endpoint = ControlEndpoint(control)
    loop.call(endpoint.start())
    proxy = Proxy(control, f"https://127.0.0.1:{port}",
                  ssl.create_default_context(cafile=str(tls.ca)), serving)
    loop.call(proxy.start())
    try:
        yield {"proxy": proxy, "control": control, "upstream": upstream, "ca": str(tls.ca),
               "endpoint": endpoint, "port": port}
    finally:
        loop.call(proxy.stop())
        loop.call(endpoint.stop())
        loop.call(runner.cleanup())
        loop.close()


def get(setup: dict[str, Any], path: str, method: str = "GET", **kwargs: Any
        ) -> requests.Response:
    return requests.request(method, setup["proxy"].origin + path, verify=setup["ca"],
                            timeout=10, allow_redirects=False, **kwargs)


def test_unchanged_through_the_proxy_over_tls(setup: dict[str, Any]) -> None:
    setup["control"].reset(ops.parse("none"))
    answer = get(setup, "/api/jobs?x=1")
    assert answer.status_code == 200
    assert answer.json() == {**JOBS, "host": f"127.0.0.1:{setup['proxy'].port}"}
    assert ("GET", "/api/jobs?x=1", b"") in setup["upstream"].seen
    moved = get(setup, "/api/moved")
    assert moved.headers["Location"] == setup["proxy"].origin + "/api/jobs"


def test_changes_are_counted_against_the_running_check(setup: dict[str, Any]) -> None:
    control: Control = setup["control"]
    control.reset(ops.parse("truncate_lists"))
    requests.post(setup["endpoint"].url + "/start", json={"nodeid": "t.py::a"}, timeout=5)
    assert len(get(setup, "/api/jobs").json()["items"]) == 2
    requests.post(setup["endpoint"].url + "/finish", json={"nodeid": "t.py::a"}, timeout=5)
    get(setup, "/api/jobs")
    assert control.fired["t.py::a"] == {"truncate_lists": 1}
    assert control.fired[OUTSIDE] == {"truncate_lists": 1}
    assert control.finished == {"t.py::a"}


def test_streams_pass_through_or_are_cut(setup: dict[str, Any]) -> None:
    setup["control"].reset(ops.parse("none"))
    whole = get(setup, "/api/stream").content
    assert whole.count(b"data:") == 5
    setup["control"].reset(ops.parse("truncate_lists"))
    cut = get(setup, "/api/stream").content
    assert cut == b'data: {"n": 0}\n\ndata: {"n": 1}\n\ndata: [DONE]\n\n'


def test_no_action_does_not_forward_and_refusals_turn_into_success(
        setup: dict[str, Any]) -> None:
    setup["control"].reset(ops.parse("no_action+refusal_to_success"))
    before = len(setup["upstream"].seen)
    assert get(setup, "/api/jobs/j1", method="DELETE").status_code == 204
    assert len(setup["upstream"].seen) == before
    forbidden = get(setup, "/api/forbidden")
    assert forbidden.status_code == 200 and forbidden.json() == {}


def test_websockets_pass_through(setup: dict[str, Any]) -> None:
    import websocket

    setup["control"].reset(ops.parse("none"))
    ws = websocket.create_connection(
        f"wss://127.0.0.1:{setup['proxy'].port}/api/ws", sslopt={"ca_certs": setup["ca"]},
        timeout=10)
    try:
        ws.send("hi")
        assert ws.recv() == "echo:hi"
    finally:
        ws.close()


def test_target_file_endpoints_are_rewritten(tmp_path: Path) -> None:
    document = yaml.safe_load("""
        name: x
        adapters:
          platform: {url: "https://127.0.0.1:8443/", verify: /ca.pem, token: t}
          openai: {base_url: "https://127.0.0.1:8443/v1", api_key: k}
          s3: {endpoint: "http://127.0.0.1:9000", access_key: a, secret_key: s}
          ssh: {nodes: [{name: n, host: 127.0.0.1}]}
    """)
    found = {u.origin: u.verify for u in targetfile.upstreams(document)}
    assert found == {"https://127.0.0.1:8443": "/ca.pem", "http://127.0.0.1:9000": True}
    proxies = {"https://127.0.0.1:8443": "https://127.0.0.1:1111",
               "http://127.0.0.1:9000": "http://127.0.0.1:2222"}
    rewritten = targetfile.rewrite(document, proxies, "/mine.pem")
    adapters = rewritten["adapters"]
    assert adapters["platform"] == {"url": "https://127.0.0.1:1111/", "verify": "/mine.pem",
                                    "token": "t"}
    assert adapters["openai"]["base_url"] == "https://127.0.0.1:1111/v1"
    assert adapters["openai"]["verify"] == "/mine.pem"
    assert adapters["s3"]["endpoint"] == "http://127.0.0.1:2222" and "verify" not in adapters["s3"]
    assert adapters["ssh"] == document["adapters"]["ssh"]
    assert json.dumps(document).count("8443") == 2   # the original is left as it was
