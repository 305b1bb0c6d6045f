"""Bounded exchanges: one total deadline per request, a cap on the body, a circuit breaker.

A read timeout bounds each gap between bytes, not the whole answer: a server that trickles
one byte every few seconds holds a check forever. :func:`read_bounded` reads a streamed
answer against one deadline (connect and every read) and a size cap, whatever the server
does. :class:`Breaker` stops an adapter from waiting on an endpoint that has already
failed to answer several times in a row, so that an evaluation of a dead platform ends in
minutes with every item ``error``, instead of each check waiting out its own timeouts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

#: The largest answer an adapter reads (64 MiB): more is a broken or hostile server.
MAX_BODY_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


class DeadlineExceeded(requests.Timeout):
    """The answer did not arrive in full before the request's total deadline."""


class BodyTooLarge(requests.RequestException):
    """The answer's body is larger than the cap."""


class EndpointDown(requests.ConnectionError):
    """Not sent: the endpoint's breaker is open."""


def read_bounded(response: requests.Response, deadline: float, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
    """Read a streamed ``response`` body in full into ``response.content``.

    Raises :class:`DeadlineExceeded` when ``clock()`` passes ``deadline`` before the last
    byte, and :class:`BodyTooLarge` beyond ``max_bytes``; the connection is closed then.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise BodyTooLarge(f"the answer declares {declared} bytes, over the {max_bytes} cap")
    parts: list[bytes] = []
    size = 0
    try:
        raw = response.raw
        while True:
            # read1 returns what one socket read brings: a trickle cannot hold a read.
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(f"the answer is over the {max_bytes}-byte cap")
            if clock() > deadline:
                raise DeadlineExceeded("the answer was still arriving at the deadline")
            parts.append(chunk)
    except (BodyTooLarge, DeadlineExceeded):
        response.close()
        raise
    # requests' own attributes: the body is read, later .text/.json() use it.
    response._content = b"".join(parts)  # noqa: SLF001
    response._content_consumed = True  # type: ignore[attr-defined]  # noqa: SLF001


_BREAKERS: dict[str, Breaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(url: str) -> Breaker:
    """The one breaker of the endpoint (``scheme://host:port``) of ``url``, shared by every
    session in this process: each user's client of a dead API learns from the others."""
    parts = urlsplit(url)
    endpoint = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(endpoint, Breaker())


class Breaker:
    """Opens after ``threshold`` consecutive transport failures of one endpoint.

    While open, :meth:`refusal` says why no request is sent; after ``cool_down_s`` one
    request is let through again (half-open), and a success closes the breaker. HTTP
    answers of any status are successes here: the endpoint answered.
    """

    def __init__(self, threshold: int = 5, cool_down_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cool_down_s = cool_down_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._last = ""

    def refusal(self) -> str | None:
        """Why the next request must not be sent, or None when it may go."""
        with self._lock:
            if self._opened_at is None:
                return None
            if self._clock() - self._opened_at >= self.cool_down_s:
                # Half-open: one request goes; one more failure opens the breaker again.
                self._opened_at = None
                self._failures = self.threshold - 1
                return None
            return (f"not tried: the last {self._failures} requests to this endpoint got no "
                    f"answer ({self._last})")

    def failed(self, reason: str) -> None:
        """Record a request that got no answer."""
        with self._lock:
            self._failures += 1
            self._last = reason
            if self._failures >= self.threshold:
                self._opened_at = self._clock()

    def answered(self) -> None:
        """Record a request that got an answer (of any status)."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
