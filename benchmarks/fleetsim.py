"""A simulated fleet served over HTTP on 127.0.0.1: the platform reference API's inventory
routes and a stub Prometheus HTTP API, for :mod:`bench_fleet_scale`.

Not a benchmark itself (no ``bench_`` prefix). Everything is computed from the fleet's size:

- platform API (``adapters/platform/reference-api.yaml``): ``GET /api/v1/nodes`` (the whole
  node list, as the reference route answers it: no paging), ``GET /api/v1/fleet/nodes``
  (offset/limit pages) and ``GET /api/v1/fleet/metrics?cards=…`` (a batch of card series);
- Prometheus (``/api/v1/query``): the ``sca`` exporter's series of
  :data:`pytest_sca.capabilities.exporters.METRIC_NAMES` (node CPU, memory, disk, network
  per node; utilisation and memory per card), answering the queries the ``metrics``
  capability makes: ``{__name__=~"a|b"}``, ``timestamp(name)`` and a bare metric name.

Each server counts the requests it answered, by path.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pytest_sca.capabilities.exporters import METRIC_NAMES

CARDS_PER_NODE = 8
#: (vendor, model) of the cards, by node (three domestic vendors: 6.2.e passes).
MODELS = (("huawei", "Ascend910B"), ("cambricon", "MLU370"), ("hygon", "K100"))
_SCA = METRIC_NAMES["sca"]
NODE_METRICS = tuple(_SCA.names[d] for d in ("cpu", "memory", "disk", "network"))
CARD_METRICS = tuple(_SCA.names[d] for d in ("accelerator", "accelerator_memory"))
_NAMES_REGEX = re.compile(r'^\{__name__=~"([^"]*)"\}$')
_TIMESTAMP = re.compile(r"^timestamp\(([A-Za-z_:][A-Za-z0-9_:]*)\)$")
_BARE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?$")


@dataclass
class Fleet:
    """``cards`` cards, :data:`CARD_PER_NODE` per node (the last node may hold fewer)."""

    cards: int
    requests: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def node_ids(self) -> list[str]:
        return [f"node-{i:06d}" for i in range(-(-self.cards // CARDS_PER_NODE))]

    def cards_of(self, position: int) -> int:
        """How many cards the node at ``position`` holds."""
        return min(CARDS_PER_NODE, self.cards - position * CARDS_PER_NODE)

    def count(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1

    # -- platform API --------------------------------------------------------------------
    def node(self, position: int, *, full: bool = True) -> dict[str, Any]:
        """The node at ``position``: all its fields (``nodes.list``) or only its cards."""
        vendor, model = MODELS[position % len(MODELS)]
        node_id = f"node-{position:06d}"
        cards = [{"index": i, "vendor": vendor, "model": model, "memory_gib": 64.0}
                 for i in range(self.cards_of(position))]
        if not full:
            return {"id": node_id, "accelerators": cards}
        return {"id": node_id, "hostname": node_id, "cluster_id": "fleet", "kind": "baremetal",
                "cpu": 64, "memory_gib": 512.0, "accelerators": cards, "health": "healthy",
                "labels": {}, "simulated": True}

    def nodes(self) -> dict[str, Any]:
        return {"items": [self.node(p) for p in range(len(self.node_ids))]}

    def fleet_page(self, offset: int, limit: int) -> dict[str, Any]:
        total = len(self.node_ids)
        return {"items": [self.node(p, full=False)
                          for p in range(offset, min(total, offset + limit))],
                "total": total, "offset": offset, "simulated": True}

    def card_series(self, cards: list[str]) -> dict[str, Any]:
        now = time.time()
        known = set(self.node_ids)
        items = []
        for card in cards:
            node_id, _, index = card.partition("/")
            found = node_id in known and index.isdigit() and int(index) < self.cards_of(
                int(node_id.rsplit("-", 1)[1]))
            samples = [[now - 15.0 * k, 0.5] for k in range(3, -1, -1)] if found else []
            items.append({"card": card, "found": found, "metric": CARD_METRICS[0],
                          "samples": samples, "last_sample_at": now if found else None})
        return {"items": items}

    # -- Prometheus ----------------------------------------------------------------------
    def series_labels(self, metric: str) -> Iterator[str]:
        """The label sets (as JSON object members) of every series of ``metric``."""
        if metric in NODE_METRICS:
            for node_id in self.node_ids:
                yield f'"node":"{node_id}"'
        elif metric in CARD_METRICS:
            for position, node_id in enumerate(self.node_ids):
                for index in range(self.cards_of(position)):
                    yield f'"node":"{node_id}","index":"{index}"'

    def vector(self, metrics: list[str], *, timestamps: bool = False) -> str:
        """A ``vector`` answer with every series of ``metrics``; the value moves every
        second (or is the sample's time, for ``timestamp()``)."""
        now = time.time()
        sampled = now - 1.0
        parts = []
        for metric in metrics:
            # Shares stay on their metric's scale (a ``_ratio`` within 0..1), as 6.4.a checks.
            moving = int(now) % 100
            value = (f"{sampled:.3f}" if timestamps
                     else f"{moving / 100:g}" if metric.endswith("_ratio") else f"{moving}")
            head = f'{{"metric":{{"__name__":"{metric}",' if not timestamps else '{"metric":{'
            tail = f'}},"value":[{now:.3f},"{value}"]}}'
            parts.extend(f"{head}{labels}{tail}" for labels in self.series_labels(metric))
        return ('{"status":"success","data":{"resultType":"vector","result":['
                + ",".join(parts) + "]}}")

    def query(self, promql: str) -> str:
        """The answer to the instant queries the ``metrics`` capability makes."""
        known = set(NODE_METRICS + CARD_METRICS)
        if match := _NAMES_REGEX.match(promql):
            return self.vector([m for m in match.group(1).split("|") if m in known])
        if match := _TIMESTAMP.match(promql):
            return self.vector([match.group(1)] if match.group(1) in known else [],
                               timestamps=True)
        if (match := _BARE.match(promql)) and match.group(1) in known:
            return self.vector([match.group(1)])
        return self.vector([])


def _handler(fleet: Fleet, kind: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib's name
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fleet.count(f"{kind} {url.path}")
            body: str | None = None
            if kind == "prometheus" and url.path == "/api/v1/query":
                body = fleet.query(query.get("query", ""))
            elif kind == "platform" and url.path == "/api/v1/nodes":
                body = json.dumps(fleet.nodes())
            elif kind == "platform" and url.path == "/api/v1/fleet/nodes":
                body = json.dumps(fleet.fleet_page(int(query.get("offset", 0)),
                                                   int(query.get("limit", 100))))
            elif kind == "platform" and url.path == "/api/v1/fleet/metrics":
                body = json.dumps(fleet.card_series(
                    [c for c in query.get("cards", "").split(",") if c]))
            data = (body or '{"error":{"code":"not_found","message":"no such route"}}').encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serve(fleet: Fleet) -> Iterator[dict[str, str]]:
    """Serve ``fleet`` on two ports of 127.0.0.1; yields ``{"platform": url, "prometheus":
    url}`` and stops both servers on exit."""
    servers = {kind: ThreadingHTTPServer(("127.0.0.1", 0), _handler(fleet, kind))
               for kind in ("platform", "prometheus")}
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for thread in threads:
        thread.start()
    try:
        yield {kind: f"http://127.0.0.1:{s.server_address[1]}/" for kind, s in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def target_yaml(urls: dict[str, str], cards: int) -> str:
    """A target file over the simulated fleet: Prometheus first (``metrics`` from it), the
    platform API for the inventory; 9.4.2.d must see every card."""
    return (f"name: fleet-{cards}\n"
            "adapters:\n"
            f"  prometheus:\n    url: {urls['prometheus']}\n"
            f"  platform:\n    url: {urls['platform']}\n"
            "capabilities:\n"
            f"  perf:\n    monitoring:\n      min_cards: {cards}\n")
