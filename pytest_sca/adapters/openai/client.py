"""The OpenAI adapter's HTTP client: one principal (an API key) at one endpoint, and the
discovery of which of OpenAI's endpoints the server has.

Plain requests, no vendor SDK: what a check sees is what the server sent. A 4xx answer
raises :class:`~pytest_sca.capabilities.Refused` (its ``code`` is the error body's
``code``, else its ``type``); a 5xx, a timeout or a body that is not OpenAI's shape
raises :class:`~pytest_sca.capabilities.TargetError`; an endpoint the server does not
have raises :class:`~pytest_sca.capabilities.Unsupported` (the check is
``not_assessed``, never ``error``).

Discovery: each family of endpoints (files, fine-tuning, usage…) is probed once, with a
request that changes nothing, the first time a check needs it; families whose only
requests change something (embeddings, deleting a model) are discovered by their first
call. The answer is cached for the run, shared by every principal at the same endpoint.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.http import VerifyingSession
from pytest_sca.capabilities import RefusalReason, Refused, TargetError, Unsupported, classify

#: Statuses that say the server has no such endpoint, whatever the body.
ABSENT_STATUSES = frozenset({405, 501})

#: Error texts with which servers say "no such endpoint" (not "no such resource"), and who
#: answers so. A 404 whose error names a resource (``model_not_found``, "No such File
#: object") is a refusal a check may assert on; these are not.
NOT_IMPLEMENTED_TEXTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Not Found$", re.IGNORECASE), "FastAPI / Starlette (vLLM, llama-cpp-python, "
                                               "LiteLLM, SGLang)"),
    (re.compile(r"^Invalid URL \("), "OpenAI"),
    (re.compile(r"^File Not Found$"), "llama.cpp server"),
    (re.compile(r"not_supported_error|does not support (embeddings|this)", re.IGNORECASE),
     "llama.cpp server"),
    (re.compile(r"must be created with embedding=True", re.IGNORECASE),
     "llama-cpp-python started without --embedding"),
)


def _error_texts(body: Any) -> list[str]:
    """The message-like strings of an error body: ``detail``, ``error``, ``error.message``,
    ``error.type``, ``message``."""
    if not isinstance(body, dict):
        return []
    texts = [body.get("detail"), body.get("message")]
    error = body.get("error")
    if isinstance(error, dict):
        texts += [error.get("message"), error.get("type")]
    else:
        texts.append(error)
    return [str(text).strip() for text in texts if isinstance(text, str)]


def absence(response: requests.Response, *, collection: bool = False) -> str | None:
    """Why ``response`` says the endpoint is not there (``"404 Not Found (OpenAI)"``), or None.

    ``collection``: the request named no resource (``GET /files``), so any 404 is an
    absent endpoint.
    """
    status = response.status_code
    if status in ABSENT_STATUSES:
        return f"{status} {response.reason or ''}".strip()
    if status not in (404, 500):
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    texts = _error_texts(body) if body is not None else [" ".join(response.text.split())]
    for text in texts:
        for pattern, who in NOT_IMPLEMENTED_TEXTS:
            if pattern.search(text):
                return f"{status} {text[:80]} ({who})"
    if status == 404 and (collection or body is None):
        return f"404 {' '.join(response.text.split())[:80] or response.reason}"
    return None


@dataclass(frozen=True)
class Probe:
    """How a family of endpoints is discovered without changing anything."""

    #: What the family serves, for the not-assessed reason ("fine-tuning jobs").
    what: str
    method: str
    path: str
    #: Query parameters (computed when the probe runs: times are relative to now).
    params: Callable[[], dict[str, Any]] = field(default=lambda: {})
    #: Probe as the admin principal (OpenAI's organisation endpoints need an admin key).
    admin: bool = False


#: family → its probe. Families missing here are discovered by their first call.
PROBES: dict[str, Probe] = {
    "files": Probe("files (upload, read, delete)", "GET", "/files", lambda: {"limit": 1}),
    "fine_tuning": Probe("fine-tuning jobs", "GET", "/fine_tuning/jobs", lambda: {"limit": 1}),
    "usage": Probe("usage statistics (/organization/usage/completions)", "GET",
                   "/organization/usage/completions",
                   lambda: {"start_time": int(time.time()) - 3600, "limit": 1}, admin=True),
}

#: family → what it serves, for families discovered by their first call.
ON_CALL: dict[str, str] = {
    "models": "a model list",
    "models.retrieve": "model retrieval (GET /models/{model})",
    "models.delete": "model deletion (DELETE /models/{model})",
    "files.delete": "file deletion (DELETE /files/{file_id})",
    "chat": "chat completions",
    "completions": "text completions",
    "embeddings": "embeddings",
    "fine_tuning.events": "fine-tuning job events",
    "fine_tuning.checkpoints": "fine-tuning checkpoints",
    "fine_tuning.cancel": "fine-tuning cancellation",
    "openapi": "an OpenAPI document at /openapi.json",
}


class Discovery:
    """Which endpoint families one server has: probed once, cached for the run."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        #: family → None (present) or why it is absent.
        self.known: dict[str, str | None] = {}
        #: Models that fine-tuning jobs of this run produced here (not presets).
        self.produced: set[str] = set()

    def what(self, family: str) -> str:
        probe = PROBES.get(family)
        return probe.what if probe else ON_CALL.get(family, family)

    def unsupported(self, family: str) -> Unsupported:
        return Unsupported(f"the OpenAI-compatible endpoint {self.base_url} serves no "
                           f"{self.what(family)}: {self.known[family]}")

    def require(self, family: str, client: OpenAIClient) -> None:
        """Probe ``family`` unless known; :class:`Unsupported` when the server lacks it."""
        if family not in self.known and family in PROBES:
            probe = PROBES[family]
            prober = client.admin() if probe.admin else client
            response = prober.send(probe.method, probe.path, params=probe.params())
            reason = absence(response, collection=True)
            if reason is None and probe.admin and response.status_code in (401, 403) \
                    and not client.config.admin_key:
                reason = (f"{response.status_code} for the target's key, which may not read "
                          "the organisation's usage: set adapters.openai.admin_key")
                self.known[family] = f"{probe.method} {probe.path} answered {reason}"
                raise self.unsupported(family)
            if reason is None and response.status_code >= 500:
                raise TargetError(client.scrub(
                    f"{probe.method} {client.base_url}{probe.path} answered "
                    f"{response.status_code} while the suite probed for {probe.what}"))
            self.known[family] = (None if reason is None
                                  else f"{probe.method} {probe.path} answered {reason}")
        if self.known.get(family) is not None:
            raise self.unsupported(family)

    def observe(self, family: str, method: str, path: str, response: requests.Response,
                *, collection: bool = False) -> None:
        """Learn from a real call: an absent endpoint's answer marks the family absent and
        raises :class:`Unsupported`; any other answer marks it present."""
        reason = absence(response, collection=collection)
        if reason is None:
            self.known.setdefault(family, None)
            return
        self.known[family] = f"{method} {path} answered {reason}"
        raise self.unsupported(family)


#: Methods whose request is sent once more after a connection that broke before any answer.
_RESENDABLE = frozenset({"GET", "HEAD", "OPTIONS"})


class OpenAIClient:
    """One principal at one OpenAI-compatible endpoint (``base_url`` ends in ``/v1``)."""

    def __init__(self, config: OpenAIConfig, context: AdapterContext, *,
                 base_url: str | None = None, api_key: str | None = None,
                 discovery: Discovery | None = None, principal: str = "target",
                 discovers: bool = True) -> None:
        self.config = config
        self.context = context
        self.base_url = (base_url or config.base_url).rstrip("/")
        self.key = api_key if api_key is not None else config.api_key
        #: Who this client is, for messages: ``target``, ``other``, ``admin`` or ``key``.
        self.principal = principal
        self.discovery = discovery or Discovery(self.base_url)
        #: Whether an absent endpoint's answer means :class:`Unsupported`. Not at a deployed
        #: service's endpoint (``at``): there a 404 means the service is not serving.
        self.discovers = discovers
        self.session = VerifyingSession()
        self.session.verify = config.verify
        if self.key:
            self.session.headers["Authorization"] = f"Bearer {self.key}"
            context.redact.add([self.key])
        self._children: list[OpenAIClient] = []
        self._other: OpenAIClient | None = None
        self._admin: OpenAIClient | None = None

    # principals and endpoints ------------------------------------------------------------

    def _child(self, *, base_url: str | None = None, api_key: str | None,
               principal: str) -> OpenAIClient:
        same_endpoint = base_url is None or base_url.rstrip("/") == self.base_url
        child = OpenAIClient(self.config, self.context, base_url=base_url or self.base_url,
                             api_key=api_key,
                             discovery=self.discovery if same_endpoint else None,
                             principal=principal, discovers=self.discovers and same_endpoint)
        self._children.append(child)
        return child

    def at(self, base_url: str) -> OpenAIClient:
        """The same principal at another OpenAI-compatible endpoint (a deployed service)."""
        return self._child(base_url=base_url, api_key=self.key, principal=self.principal)

    def acting_as(self, credential: str) -> OpenAIClient:
        """The same endpoint with another API key."""
        return self._child(api_key=credential, principal="key")

    @property
    def has_other_tenant(self) -> bool:
        """Whether the target file names a second principal (``other_key``)."""
        return self.config.other_key is not None

    def other_tenant(self) -> OpenAIClient:
        """The second principal of the target file; :class:`Unsupported` without one."""
        if self.config.other_key is None:
            raise Unsupported("the target file names no second principal: set "
                              "adapters.openai.other_key (another user's or project's API key)")
        if self._other is None:
            self._other = self._child(api_key=self.config.other_key, principal="other")
        return self._other

    def admin(self) -> OpenAIClient:
        """The principal that reads the organisation's usage: ``admin_key``, else this one."""
        if self.config.admin_key is None:
            return self
        if self._admin is None:
            self._admin = self._child(api_key=self.config.admin_key, principal="admin")
        return self._admin

    def close(self) -> None:
        for child in self._children:
            child.close()
        self.session.close()

    # requests ----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def send(self, method: str, path: str, *, json_body: Any = None,
             params: Mapping[str, Any] | None = None, files: Any = None,
             data: Mapping[str, Any] | None = None, stream: bool = False
             ) -> requests.Response:
        """One request as sent; :class:`TargetError` when no answer came. A read is sent
        once more only when its connection broke before any answer: servers close an idle
        kept-alive connection (uvicorn after 5 s), and the pool may hand that one out just
        as it closes. An answer, a timeout or a write is never sent again."""
        again = method.upper() in _RESENDABLE and files is None and not stream
        while True:
            try:
                return self.session.request(method, self.url(path), json=json_body,
                                            params=params, files=files, data=data,
                                            stream=stream, timeout=self.config.timeout)
            except requests.ConnectionError as exc:
                if again and not isinstance(exc, requests.Timeout):
                    again = False
                    continue
                raise TargetError(self._unreachable(method, path, exc)) from None
            except requests.RequestException as exc:
                raise TargetError(self._unreachable(method, path, exc)) from None

    def _unreachable(self, method: str, path: str, exc: Exception) -> str:
        return self.scrub(f"{method} {self.base_url}{path}: cannot reach the target "
                          f"({type(exc).__name__})")

    def call(self, family: str, method: str, path: str, *, json_body: Any = None,
             params: Mapping[str, Any] | None = None, files: Any = None,
             data: Mapping[str, Any] | None = None, collection: bool = False) -> Any:
        """A request to an endpoint of ``family``: discovered first, then sent; the JSON
        answer, :class:`Refused`, :class:`TargetError` or :class:`Unsupported`."""
        if self.discovers:
            self.discovery.require(family, self)
        response = self.send(method, path, json_body=json_body, params=params, files=files,
                             data=data)
        if self.discovers:
            self.discovery.observe(family, method, path, response, collection=collection)
        self.raise_for(response, method, path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TargetError(f"{method} {self.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None

    def raise_for(self, response: requests.Response, method: str, path: str) -> None:
        """:class:`Refused` for a 4xx, :class:`TargetError` for anything else but a 2xx."""
        status = response.status_code
        if status < 300:
            return
        if 400 <= status < 500:
            code, message, reason = error_fields(response)
            raise Refused(f"{method} {path}", status, code, self.scrub(message), reason)
        raise TargetError(self.scrub(f"{method} {self.base_url}{path} answered {status}: "
                                     f"{' '.join(response.text.split())[:160]}"))

    def checked(self, answer: Any, key: str, what: str) -> Any:
        """``answer`` if it is an object with a ``key`` list; :class:`TargetError` otherwise."""
        if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
            raise TargetError(f"{what} at {self.base_url}: the answer has no {key!r} list")
        return answer

    def scrub(self, text: str) -> str:
        """``text`` without this principal's key or any other secret of the run."""
        if self.key:
            text = text.replace(self.key, "***")
        return self.context.redact(text)

    def register(self, kind: str, description: str, undo: Callable[[], object]) -> Any:
        """Register the undo of something this principal created (kind ``openai:<what>``)."""
        return self.context.created(f"openai:{kind}", description, undo)

    def delete_quietly(self, family: str, path: str) -> None:
        """DELETE ``path``; already gone (404) is fine. For undo actions and the sweep."""
        try:
            self.call(family, "DELETE", path)
        except Refused as refusal:
            if refusal.status != 404:
                raise


def segment(value: str) -> str:
    """An id as one path segment (model ids may hold ``/``; ``:`` stays readable)."""
    return quote(value, safe=":@")


def same_host(url: str, base: str) -> bool:
    """Whether ``url`` is on ``base``'s host (the only host a key is sent to)."""
    return urlsplit(url).netloc == urlsplit(base).netloc


def error_fields(response: requests.Response) -> tuple[str | None, str, RefusalReason]:
    """OpenAI's error body ``{"error": {"message", "type", "code"}}``, or what there is: the
    code shown (else the type), the message, and the refusal's class.

    The class is the ``code``'s where it names one, else the status's. OpenAI's ``type`` is
    a broad category, not a class: a missing file is a 404 of type ``invalid_request_error``
    with ``code: null`` ("No such File object"); it counts only where the status says nothing
    (an unusual 4xx).
    """
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        return (None, " ".join(response.text.split())[:160] or response.reason or "",
                classify(status))
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, kind = error.get("code"), error.get("type")
        reason = classify(status, str(code)) if code else classify(status)
        if reason is RefusalReason.OTHER and kind:
            reason = classify(status, str(kind))
        shown = code or kind
        return (str(shown) if shown else None), str(error.get("message", ""))[:300], reason
    if isinstance(error, str):
        return None, error[:300], classify(status)
    return None, json.dumps(body)[:300], classify(status)
