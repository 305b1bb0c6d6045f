"""The HTTP client every REST adapter shares: session, bearer auth, TLS, timeouts, retries.

What a check sees of an answer:

- 2xx: the parsed body (JSON, text, or ``None``);
- 4xx: :class:`~pytest_sca.capabilities.Refused` carrying the status, the platform's error
  code and the refusal's class, because checks assert on refusals (403 for a foreign
  tenant, 409 for a quota);
- 5xx, a connection failure, a timeout or a body that is not what was asked for:
  :class:`~pytest_sca.capabilities.TargetError`, reported as ``error``.

Messages are one line and never contain the token, whatever the server echoes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests

from pytest_sca.adapters.mapping import resolve_pointer
from pytest_sca.capabilities import Refused, TargetError

#: Methods that are retried after a connection failure or a 5xx: they change nothing.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Statuses worth retrying for an idempotent request.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: What a request expects back.
Expect = Literal["json", "text", "none"]

_SNIPPET_CHARS = 160
_KNOWN_REASONS = (
    "Connection refused",
    "Connection reset",
    "Name or service not known",
    "No route to host",
    "Network is unreachable",
    "CERTIFICATE_VERIFY_FAILED",
    "timed out",
)


class VerifyingSession(requests.Session):
    """A session whose own ``verify`` (a CA bundle path, or False) is honoured.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's
    ``verify`` (psf/requests#3829): a target file's CA would be ignored wherever
    those are set. A session left at ``verify=True`` still takes them.
    """

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


@dataclass(frozen=True)
class ErrorShape:
    """Where a platform's 4xx body keeps the error code and message (JSON pointers)."""

    code: str = "/error/code"
    message: str = "/error/message"


@dataclass(frozen=True)
class Exchange:
    """One request and what came of it, for evidence: never a header, a query or a body."""

    method: str
    path: str
    #: The HTTP status, or ``None`` when no answer came.
    status: int | None
    elapsed_s: float
    attempt: int


class HttpClient:
    """A bearer-authenticated JSON client of one base URL.

    ``redact`` scrubs any other secret the caller knows of; the client's own
    token is always scrubbed. Construction opens no connection.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.2,
        error_shape: ErrorShape | None = None,
        redact: Callable[[str], str] | None = None,
        observe: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.error_shape = error_shape or ErrorShape()
        self._token = token
        self._redact_extra = redact or (lambda text: text)
        self._observe = observe or (lambda exchange: None)
        self._session = VerifyingSession()
        self._session.verify = verify
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    @property
    def token(self) -> str | None:
        """The bearer credential, for a protocol this client does not speak (websockets)."""
        return self._token

    @property
    def display_url(self) -> str:
        """The base URL without any user:password part, fit for messages."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        expect: Expect = "json",
    ) -> Any:
        """Send one request and return the parsed 2xx body.

        Raises :class:`Refused` for a 4xx answer and :class:`TargetError` for
        everything that stops the exchange. Idempotent methods are retried a
        bounded number of times, with backoff, after a connection failure or a 5xx.
        """
        method = method.upper()
        attempts = 1 + (self.retries if method in IDEMPOTENT_METHODS else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    params=_clean_params(params),
                    json=json_body,
                    timeout=self.timeout,
                    # Per request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
                    verify=self._session.verify,
                )
            except requests.RequestException as exc:
                self._observe(Exchange(method, path, None, time.monotonic() - started, attempt))
                if last:
                    message = self._scrub(self._transport_message(method, path, exc))
                    raise TargetError(message) from None
                self._pause(attempt)
                continue
            elapsed = time.monotonic() - started
            self._observe(Exchange(method, path, response.status_code, elapsed, attempt))
            if response.status_code in RETRY_STATUSES and not last:
                self._pause(attempt)
                continue
            return self._interpret(method, path, response, expect)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _interpret(
        self, method: str, path: str, response: requests.Response, expect: Expect
    ) -> Any:
        status = response.status_code
        if 400 <= status < 500:
            code, message = self._error_fields(response)
            raise Refused(f"{method} {path}", status, code, self._scrub(message))
        if status >= 300:
            raise TargetError(
                self._scrub(
                    f"{method} {self.display_url}{path} answered {status}: "
                    f"{_snippet(response.text)}"
                )
            )
        if expect == "none" or status == 204:
            return None
        if expect == "text":
            return response.text
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "?")
            raise TargetError(
                self._scrub(
                    f"{method} {self.display_url}{path} answered {status} with a body that is "
                    f"not JSON ({content_type}): {_snippet(response.text)}"
                )
            ) from None

    def _error_fields(self, response: requests.Response) -> tuple[str | None, str]:
        try:
            body = response.json()
        except ValueError:
            return None, _snippet(response.text) or response.reason or ""
        code = resolve_pointer(body, self.error_shape.code, default=None)
        message = resolve_pointer(body, self.error_shape.message, default=None)
        if message is None and isinstance(body, dict) and "detail" in body:
            message = body["detail"]
        if message is None:
            message = json.dumps(body)
        return (str(code) if code is not None else None), _snippet(str(message))

    def _transport_message(self, method: str, path: str, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.Timeout):
            reason = f"no answer within {self.timeout:g} s"
        else:
            text = str(exc)
            reason = next((r for r in _KNOWN_REASONS if r in text), type(exc).__name__)
        return f"{method} {self.display_url}{path}: cannot reach the target ({reason})"

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt))

    def _scrub(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "***")
        return self._redact_extra(text)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {key: value for key, value in params.items() if value is not None}


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 1] + "…"
