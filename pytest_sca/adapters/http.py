"""The HTTP client every REST adapter shares: session, authentication, TLS, timeouts, retries.

What a check sees of an answer:

- 2xx: the parsed body (JSON, text, or ``None``);
- 4xx: :class:`~pytest_sca.capabilities.Refused` carrying the status, the platform's error
  code and the refusal's class, because checks assert on refusals (403 for a foreign
  tenant, 409 for a quota);
- 5xx, a connection failure, a timeout or a body that is not what was asked for:
  :class:`~pytest_sca.capabilities.TargetError`, reported as ``error``.

Messages are one line and never contain the token, whatever the server echoes.

Authentication is a bearer token by default; :func:`authenticators` builds the other
forms a target file may configure (``adapters.platform.auth``): header templates, HTTP
basic, an API key in a header or the query, an OAuth2 client-credentials token
exchange, and request signers (:mod:`pytest_sca.adapters.signing`). Every form is
applied to the request exactly as it will be sent, so that a signature covers what
the server receives.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from pytest_sca.adapters.deadline import (
    MAX_BODY_BYTES,
    BodyTooLarge,
    Breaker,
    EndpointDown,
    breaker_for,
    read_bounded,
)
from pytest_sca.adapters.mapping import (
    Reply,
    Template,
    TemplateFailure,
    error_envelope,
    resolve_pointer,
)
from pytest_sca.adapters.signing import SignableRequest, Signer, make_signer
from pytest_sca.capabilities import Refused, TargetError

if TYPE_CHECKING:
    from pytest_sca.adapters.config import AuthForm

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
    """The session of every HTTP adapter: bounded, and its own ``verify`` honoured.

    - A number ``timeout`` is the total deadline of the exchange (connect, headers and
      the whole body), not only of each read; a body over ``max_body`` is not read. A
      ``stream=True`` caller (SSE) reads the body itself, under per-read timeouts.
    - Each endpoint's :class:`~pytest_sca.adapters.deadline.Breaker`: after several
      requests in a row got no answer, the next raise :class:`EndpointDown` unsent.
    - requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's
      ``verify`` (psf/requests#3829): a target file's CA would be ignored wherever
      those are set. A session left at ``verify=True`` still takes them.
    """

    max_body: int = MAX_BODY_BYTES
    #: False for a measurement's session, which must send (and count) every request.
    breaker_enabled: bool = True

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        breaker = breaker_for(request.url or "") if self.breaker_enabled else Breaker()
        not_sent = breaker.refusal()
        if not_sent is not None:
            raise EndpointDown(not_sent)
        streamed = bool(kwargs.pop("stream", False))
        timeout = kwargs.get("timeout")
        started = time.monotonic()
        try:
            response = super().send(request, stream=True, **kwargs)
            if not streamed:
                deadline = started + timeout if isinstance(timeout, int | float) else float("inf")
                read_bounded(response, deadline, self.max_body)
        except requests.RequestException as exc:
            if not isinstance(exc, BodyTooLarge):
                breaker.failed(type(exc).__name__)
            raise
        breaker.answered()
        return response

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


#: An error answer (status, headers, body) → the refusal it means (status, code, message),
#: or ``None`` when it means what its status says.
Refine = Callable[[int, Mapping[str, str], Any], "tuple[int, str | None, str] | None"]


class Authenticator(Protocol):
    """One form of authentication, applied to each prepared request before it is sent."""

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add credentials (headers, query) to ``request``."""

    def secrets(self) -> list[str]:
        """Values that must never appear in output."""

    def refresh(self) -> bool:
        """After a 401: fetch fresh credentials; whether there are any (then retry once)."""


class _Static:
    """Headers (and query parameters) fixed when the client is built."""

    def __init__(self, headers: Mapping[str, str] | None = None,
                 query: Mapping[str, str] | None = None,
                 secret: Iterable[str] = ()) -> None:
        self.headers = dict(headers or {})
        self.query = dict(query or {})
        self._secrets = [value for value in secret if value]

    def apply(self, request: requests.PreparedRequest) -> None:
        request.headers.update(self.headers)
        if self.query:
            request.prepare_url(request.url, self.query)

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def refresh(self) -> bool:
        return False


def bearer(token: str) -> Authenticator:
    """``Authorization: Bearer <token>``."""
    return _Static({"Authorization": f"Bearer {token}"}, secret=[token])


def basic(username: str, password: str) -> Authenticator:
    """HTTP basic authentication (RFC 7617)."""
    pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return _Static({"Authorization": f"Basic {pair}"}, secret=[password, pair])


def api_key(name: str, value: str, where: Literal["header", "query"]) -> Authenticator:
    """An API key in a header or a query parameter."""
    if where == "query":
        return _Static(query={name: value}, secret=[value])
    return _Static({name: value}, secret=[value])


class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant (RFC 6749 §4.4): a bearer token from a token endpoint,
    reused until shortly before it expires, fetched again after a 401."""

    #: Seconds before the announced expiry at which a token is no longer used.
    MARGIN_S = 30.0

    def __init__(self, token_url: str, client_id: str, client_secret: str, *,
                 scope: str | None = None, audience: str | None = None,
                 client_auth: Literal["basic", "body"] = "basic",
                 extra: Mapping[str, str] | None = None, session: requests.Session,
                 timeout: float, verify: bool | str,
                 scrub: Callable[[str], str], learned: Callable[[str], None]) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.audience = audience
        self.client_auth = client_auth
        self.extra = dict(extra or {})
        self._session = session
        self._timeout = timeout
        self._verify = verify
        self._scrub = scrub
        self._learned = learned
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def apply(self, request: requests.PreparedRequest) -> None:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._fetch()
            request.headers["Authorization"] = f"Bearer {self._token}"

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def secrets(self) -> list[str]:
        return [value for value in (self.client_secret, self._token) if value]

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", **self.extra}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        auth: tuple[str, str] | None = None
        if self.client_auth == "basic":
            auth = (self.client_id, self.client_secret)
        else:
            form.update(client_id=self.client_id, client_secret=self.client_secret)
        where = _display(self.token_url)
        try:
            response = self._session.post(self.token_url, data=form, auth=auth,
                                          timeout=self._timeout, verify=self._verify,
                                          headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise TargetError(self._scrub(f"OAuth2 token request to {where}: cannot reach it "
                                          f"({type(exc).__name__})")) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = answer.get("error") if isinstance(answer, dict) else None
            raise TargetError(self._scrub(
                f"OAuth2 token request to {where} answered {response.status_code} "
                f"{reason or 'without an access_token'}: check client_id and client_secret "
                "in adapters.platform.auth"))
        self._learned(token)
        lifetime = answer.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, (int, float, str)) and str(
            lifetime).replace(".", "", 1).isdigit() else 3600.0
        self._token = token
        self._expires = time.monotonic() + max(lifetime - self.MARGIN_S, lifetime / 2)


class SignerAuth:
    """Signs the prepared request (its final URL, headers and body bytes) with a signer."""

    def __init__(self, signer: Signer, clock: Callable[[], datetime] | None = None) -> None:
        self.signer = signer
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    def apply(self, request: requests.PreparedRequest) -> None:
        body = request.body or b""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        signable = SignableRequest(str(request.method), str(request.url), request.headers, data)
        self.signer.sign(signable, self._clock())

    def secrets(self) -> list[str]:
        return list(self.signer.secrets)

    def refresh(self) -> bool:
        return False


def authenticators(forms: Sequence[AuthForm], *, token: str | None,
                   const: Mapping[str, Any], session: requests.Session, timeout: float,
                   verify: bool | str, scrub: Callable[[str], str],
                   learned: Callable[[str], None]) -> list[Authenticator]:
    """The authenticators of ``adapters.platform.auth``, in order (a signer signs last).

    ``token`` is the principal's credential (the target's token, or a user's API key);
    header and API-key templates read it as ``{token}``.
    """
    context = {"const": dict(const), **({"token": token} if token else {})}
    built: list[Authenticator] = []
    for form in forms:
        if form.type == "bearer":
            credential = form.token or token
            if credential:
                built.append(bearer(credential))
        elif form.type == "header":
            headers = {name: _render(value, context) for name, value in form.headers.items()}
            built.append(_Static({k: v for k, v in headers.items() if v},
                                 secret=[token] if token else []))
        elif form.type == "basic":
            built.append(basic(_render(form.username, context), _render(form.password, context)))
        elif form.type == "api_key":
            built.append(api_key(form.name, _render(form.value, context), form.in_))
        elif form.type == "oauth2":
            built.append(OAuth2ClientCredentials(
                form.token_url, form.client_id, form.client_secret, scope=form.scope,
                audience=form.audience, client_auth=form.client_auth, extra=form.extra,
                session=session, timeout=timeout, verify=verify, scrub=scrub, learned=learned))
        else:
            built.append(SignerAuth(make_signer(form.signer, form.options)))
    # A signature must cover every other form's headers and query: it goes last.
    return sorted(built, key=lambda auth: isinstance(auth, SignerAuth))


def _render(template: str, context: Mapping[str, Any]) -> str:
    try:
        value = Template(template).render(context)
    except TemplateFailure as exc:
        raise TargetError(f"adapters.platform.auth: {exc}") from None
    return "" if value is None or not isinstance(value, (str, int, float)) else str(value)


def encode_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A query string encoded per RFC 3986 (``%20``, never ``+``): repeated keys for a list,
    ``true``/``false`` for booleans, ``None`` left out, pairs in the order given."""
    pairs = params.items() if isinstance(params, Mapping) else params
    encoded: list[str] = []
    for key, value in pairs:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None:
                continue
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            encoded.append(f"{quote(str(key), safe='-_.~')}={quote(text, safe='-_.~')}")
    return "&".join(encoded)


def _canonical_path(path: str) -> str:
    """Each segment encoded once per RFC 3986 (what a signature's canonical path expects)."""
    return "/".join(quote(unquote(segment), safe="-_.~") for segment in path.split("/"))


def _display(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class HttpClient:
    """A JSON client of one base URL: bearer-authenticated, or through ``auth`` forms.

    ``redact`` scrubs any other secret the caller knows of; the client's own
    credentials are always scrubbed. Construction opens no connection.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        auth: Sequence[Authenticator] | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.2,
        error_shape: ErrorShape | None = None,
        redact: Callable[[str], str] | None = None,
        observe: Callable[[Exchange], None] | None = None,
        session: VerifyingSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.error_shape = error_shape or ErrorShape()
        self._token = token
        self._redact_extra = redact or (lambda text: text)
        self._observe = observe or (lambda exchange: None)
        self._session = session or VerifyingSession()
        self._session.verify = verify
        self._session.headers["Accept"] = "application/json"
        if auth is None:
            auth = [bearer(token)] if token else []
        self._auth = list(auth)
        self._signed = any(isinstance(form, SignerAuth) for form in self._auth)

    @property
    def token(self) -> str | None:
        """The bearer credential, for a protocol this client does not speak (websockets)."""
        return self._token

    @property
    def secrets(self) -> list[str]:
        """Every credential this client sends (for the run's redaction)."""
        found = [self._token] if self._token else []
        for form in self._auth:
            found += form.secrets()
        return found

    @property
    def display_url(self) -> str:
        """The base URL without any user:password part, fit for messages."""
        return _display(self.base_url)

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
        """Send one request and return the parsed 2xx body (see :meth:`send`)."""
        return self.send(method, path, params=params, json_body=json_body, expect=expect).body

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Expect = "json",
        accept: Iterable[int] = (),
        refine: Refine | None = None,
    ) -> Reply:
        """Send one request; the status, headers and parsed body of its answer.

        ``path`` is below the base URL (or an absolute URL under it, such as a ``Link``
        header's). Raises :class:`Refused` for a 4xx answer (unless its status is in
        ``accept``) and :class:`TargetError` for everything that stops the exchange.
        Idempotent methods are retried a bounded number of times, with backoff, after a
        connection failure or a 5xx; a 401 makes a token-fetching authentication fetch a
        fresh token once. ``refine`` may turn an error answer into the refusal it means
        (a vendor that answers 500 for an unknown id).
        """
        method = method.upper()
        url, shown = self._url(path, params)
        accepted = frozenset(accept)
        attempts = 1 + (self.retries if method in IDEMPOTENT_METHODS else 0)
        refreshed, attempt = False, 0
        while True:
            last = attempt >= attempts - 1
            started = time.monotonic()
            try:
                prepared = self._session.prepare_request(requests.Request(
                    method, url, headers=dict(headers or {}),
                    json=json_body if form is None else None, data=form))
                for authenticator in self._auth:
                    authenticator.apply(prepared)
                settings = self._session.merge_environment_settings(
                    prepared.url, {}, None, self._session.verify, None)
                response = self._session.send(prepared, timeout=self.timeout,
                                              allow_redirects=True, **settings)
            except requests.RequestException as exc:
                self._observe(Exchange(method, shown, None, time.monotonic() - started,
                                       attempt))
                # An open breaker will not let a retry through either: no pause, no retry.
                if last or isinstance(exc, EndpointDown | BodyTooLarge):
                    message = self._scrub(self._transport_message(method, shown, exc))
                    raise TargetError(message) from None
                self._pause(attempt)
                attempt += 1
                continue
            elapsed = time.monotonic() - started
            self._observe(Exchange(method, shown, response.status_code, elapsed, attempt))
            if response.status_code == 401 and not refreshed and 401 not in accepted and any(
                    [form.refresh() for form in self._auth]):
                refreshed = True
                continue
            if response.status_code in RETRY_STATUSES and not last \
                    and response.status_code not in accepted:
                self._pause(attempt)
                attempt += 1
                continue
            return self._interpret(method, shown, response, expect, accepted, refine)

    def _url(self, path: str, params: Mapping[str, Any] | None) -> tuple[str, str]:
        """The URL to send and the path shown in messages and evidence (no query)."""
        if path.startswith(("http://", "https://")):
            base, target = urlsplit(self.base_url), urlsplit(path)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                raise TargetError(self._scrub(
                    f"refusing to follow {_display(path)}: it is not on {self.display_url} "
                    "(credentials go to the target's own URL only)"))
            url = path
        else:
            url = self.base_url + path
        parts = urlsplit(url)
        route = parts.path
        if self._signed:
            # A signature covers the path as sent: send it in the canonical encoding.
            route = _canonical_path(route)
        query = parts.query
        extra = encode_query(_clean_params(params) or {})
        if extra:
            query = f"{query}&{extra}" if query else extra
        shown = route[len(urlsplit(self.base_url).path):] or "/"
        return urlunsplit((parts.scheme, parts.netloc, route, query, "")), shown

    def _interpret(
        self, method: str, path: str, response: requests.Response, expect: Expect,
        accept: frozenset[int] = frozenset(), refine: Refine | None = None,
    ) -> Reply:
        status = response.status_code
        headers = dict(response.headers)
        if status in accept:
            return Reply(status, headers, self._lenient_body(response))
        if status >= 400 and refine is not None:
            meant = refine(status, headers, self._lenient_body(response))
            if meant is not None:
                meant_status, code, message = meant
                raise Refused(f"{method} {path}", meant_status, code,
                              self._scrub(_snippet(message)))
        if 400 <= status < 500:
            code, message = self._error_fields(response)
            enveloped = error_envelope(response.text, [self.error_shape.code],
                                       [self.error_shape.message]) is not None
            raise Refused(f"{method} {path}", status, code, self._scrub(message),
                          enveloped=enveloped)
        if status >= 300:
            raise TargetError(
                self._scrub(
                    f"{method} {self.display_url}{path} answered {status}: "
                    f"{_snippet(response.text)}"
                )
            )
        if expect == "none" or status == 204:
            return Reply(status, headers, None)
        if expect == "text":
            return Reply(status, headers, response.text)
        try:
            return Reply(status, headers, response.json())
        except ValueError:
            content_type = response.headers.get("Content-Type", "?")
            raise TargetError(
                self._scrub(
                    f"{method} {self.display_url}{path} answered {status} with a body that is "
                    f"not JSON ({content_type}): {_snippet(response.text)}"
                )
            ) from None

    @staticmethod
    def _lenient_body(response: requests.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

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
        if isinstance(exc, BodyTooLarge | EndpointDown):
            reason = str(exc)
        elif isinstance(exc, requests.Timeout):
            reason = f"no complete answer within {self.timeout:g} s"
        else:
            text = str(exc)
            reason = next((r for r in _KNOWN_REASONS if r in text), type(exc).__name__)
        return f"{method} {self.display_url}{path}: cannot reach the target ({reason})"

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt))

    def _scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return self._redact_extra(text)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {key: value for key, value in params.items() if value is not None}


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 1] + "…"
