"""One HTTP exchange as operators see it, and the run's deterministic context."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_ID_SEGMENT = re.compile(r"^(?!v\d+$)(?=.*\d).+$|^[0-9a-f]{8,}$|^[0-9a-f-]{32,36}$", re.I)
_NO_JSON = object()


def is_id_segment(segment: str) -> bool:
    """A path segment that names one resource (has a digit, or is hex), not a collection."""
    return bool(_ID_SEGMENT.match(segment))


def endpoint_of(method: str, path: str) -> str:
    """``GET /jobs/{}/logs``: the route an answer belongs to, ids folded."""
    parts = [("{}" if is_id_segment(part) else part) for part in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def _parse_json(body: bytes) -> Any:
    if not body:
        return _NO_JSON
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _NO_JSON


@dataclass
class Request:
    """What the client sent (the body read whole)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.method, self.path)

    @property
    def mutating(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is empty or not JSON."""
        doc = _parse_json(self.body)
        return None if doc is _NO_JSON else doc

    def echo(self) -> dict[str, Any]:
        """A JSON object made of what the request said: its body, else its query and path id."""
        doc = self.json()
        if isinstance(doc, dict):
            return dict(doc)
        echoed: dict[str, Any] = dict(parse_qsl(self.query))
        last = self.path.rstrip("/").rsplit("/", 1)[-1]
        if last and is_id_segment(last):
            echoed.setdefault("id", last)
        return echoed


@dataclass
class Response:
    """An answer: status, headers (lower-case names) and the body read whole."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type and _parse_json(self.body) is not _NO_JSON

    def json(self) -> Any:
        doc = _parse_json(self.body)
        if doc is _NO_JSON:
            raise ValueError("not a JSON answer")
        return doc

    def with_json(self, doc: Any, status: int | None = None) -> Response:
        headers = {k: v for k, v in self.headers.items() if k != "content-length"}
        headers["content-type"] = "application/json"
        return Response(self.status if status is None else status, headers,
                        json.dumps(doc, ensure_ascii=False).encode())

    @classmethod
    def of_json(cls, status: int, doc: Any) -> Response:
        return cls(status, {"content-type": "application/json"},
                   json.dumps(doc, ensure_ascii=False).encode())


class Context:
    """What operators share during one run: the seed, memory, and which operators fired.

    Every random choice is drawn from a generator seeded by (seed, operator, endpoint[, how
    many times that endpoint was seen]), so a run is reproducible whatever the order of
    unrelated requests.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.memory: dict[Any, Any] = {}
        self.fired: Counter[str] = Counter()
        self._seen: Counter[tuple[str, str]] = Counter()

    def _digest(self, *parts: object) -> int:
        text = "\x1f".join(str(part) for part in (self.seed, *parts))
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    def endpoint_random(self, operator: str, request: Request) -> random.Random:
        """The same generator for every answer of one endpoint: consistent defects."""
        return random.Random(self._digest(operator, request.endpoint))

    def request_random(self, operator: str, request: Request) -> random.Random:
        """A generator for this request: the n-th request of an endpoint draws the n-th."""
        key = (operator, request.endpoint)
        self._seen[key] += 1
        return random.Random(self._digest(operator, request.endpoint, self._seen[key]))

    def rank(self, operator: str, request: Request, item: object) -> int:
        """A stable rank of ``item`` for this endpoint: the lowest present is chosen."""
        return self._digest(operator, request.endpoint, item)

    def fire(self, operator: str) -> None:
        """Note that ``operator`` changed an exchange."""
        self.fired[operator] += 1
