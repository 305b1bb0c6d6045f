"""The OpenAI-compatible inference adapter: capability ``inference`` over any server that
speaks OpenAI's HTTP API (``/v1/models``, chat and text completions, SSE streaming).

Plain requests, no vendor SDK: what a check sees is what the server sent. A 4xx
answer raises :class:`~pytest_sca.adapters.http.ApiError` (its ``code`` is the
error body's ``code``, else its ``type``); a 5xx, a timeout or a body that is
not OpenAI's shape raises :class:`~pytest_sca.adapters.base.TargetError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, TargetError
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.http import ApiError, VerifyingSession

Record = dict[str, Any]
Message = Mapping[str, Any]

#: The longest a streamed answer may take, in seconds, whatever the per-read timeout.
STREAM_DEADLINE = 120.0


@dataclass
class StreamResult:
    """What a streamed completion sent: its chunks, whether ``data: [DONE]`` ended it."""

    chunks: list[Record] = field(default_factory=list)
    done: bool = False
    #: Every non-empty line of the event stream, in order (for evidence).
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The concatenated content of every chunk."""
        parts = []
        for chunk in self.chunks:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                parts.append(delta.get("content") or choice.get("text") or "")
        return "".join(parts)

    @property
    def usage(self) -> Record | None:
        """The ``usage`` of the last chunk that carried one."""
        found = [c["usage"] for c in self.chunks if c.get("usage")]
        return found[-1] if found else None

    @property
    def finish_reason(self) -> str | None:
        reasons = [choice.get("finish_reason") for c in self.chunks
                   for choice in c.get("choices") or [] if choice.get("finish_reason")]
        return reasons[-1] if reasons else None


@runtime_checkable
class Inference(Protocol):
    """Model inference through an OpenAI-compatible API."""

    def list_models(self) -> list[Record]:
        """``GET /models``: ``{id, object, owned_by, …}`` of each model served."""
        ...

    def model_ids(self) -> list[str]:
        """The ids of the models to check: the target's ``models``, else every listed one."""
        ...

    def chat(self, messages: Sequence[Message], *, model: str | None = None,
             **params: Any) -> Record:
        """``POST /chat/completions``; the whole answer (``choices``, ``usage``…)."""
        ...

    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> Record:
        """``POST /completions``; the whole answer."""
        ...

    def stream_chat(self, messages: Sequence[Message], *, model: str | None = None,
                    **params: Any) -> StreamResult:
        """``POST /chat/completions`` with ``stream: true``: the chunks, and how it ended."""
        ...

    def at(self, base_url: str) -> Inference:
        """The same client against another OpenAI-compatible endpoint (a deployed service)."""
        ...

    def acting_as(self, credential: str) -> Inference:
        """The same endpoint with another API key."""
        ...


def reply_text(answer: Mapping[str, Any]) -> str:
    """The text of the first choice of a chat or text completion ("" if none)."""
    choices = answer.get("choices") or []
    if not choices:
        return ""
    first = choices[0]
    message = first.get("message") or {}
    return str(message.get("content") or first.get("text") or "")


class OpenAIAdapter(Adapter):
    """Speaks OpenAI's HTTP API to ``base_url`` (which ends in ``/v1``)."""

    transport: ClassVar[str] = "openai"
    provides: ClassVar[frozenset[str]] = frozenset({"inference"})
    config_model: ClassVar[type[OpenAIConfig]] = OpenAIConfig

    def __init__(self, config: OpenAIConfig, context: AdapterContext, *,
                 base_url: str | None = None, api_key: str | None = None) -> None:
        super().__init__(config, context)
        self.base_url = (base_url or config.base_url).rstrip("/")
        self._key = api_key if api_key is not None else config.api_key
        self._session = VerifyingSession()
        self._session.verify = config.verify
        if self._key:
            self._session.headers["Authorization"] = f"Bearer {self._key}"
            context.redact.add([self._key])
        self._children: list[OpenAIAdapter] = []

    # capability ------------------------------------------------------------------------

    def capability(self, name: str) -> Any:
        return self

    def at(self, base_url: str) -> OpenAIAdapter:
        child = OpenAIAdapter(self.config, self.context, base_url=base_url, api_key=self._key)
        self._children.append(child)
        return child

    def acting_as(self, credential: str) -> OpenAIAdapter:
        child = OpenAIAdapter(self.config, self.context, base_url=self.base_url,
                              api_key=credential)
        self._children.append(child)
        return child

    def close(self) -> None:
        for child in self._children:
            child.close()
        self._session.close()

    # operations --------------------------------------------------------------------------

    def list_models(self) -> list[Record]:
        answer = self._request("GET", "/models")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise TargetError(f"GET {self.base_url}/models: no 'data' list in the answer")
        return data

    def model_ids(self) -> list[str]:
        if self.config.models:
            return list(self.config.models)
        return [str(m.get("id")) for m in self.list_models() if m.get("id")]

    def _model(self, model: str | None) -> str:
        if model:
            return model
        ids = self.model_ids()
        if not ids:
            raise TargetError(f"{self.base_url}: no model to call (the endpoint lists none and "
                              "the target file's adapters.openai.models is empty)")
        return ids[0]

    def chat(self, messages: Sequence[Message], *, model: str | None = None,
             **params: Any) -> Record:
        body = {"model": self._model(model), "messages": list(messages), **params}
        return self._checked(self._request("POST", "/chat/completions", body), "choices")

    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> Record:
        body = {"model": self._model(model), "prompt": prompt, **params}
        return self._checked(self._request("POST", "/completions", body), "choices")

    def stream_chat(self, messages: Sequence[Message], *, model: str | None = None,
                    **params: Any) -> StreamResult:
        body = {"model": self._model(model), "messages": list(messages), **params,
                "stream": True}
        path = "/chat/completions"
        result = StreamResult()
        deadline = time.monotonic() + STREAM_DEADLINE
        try:
            with self._session.post(self.base_url + path, json=body, stream=True,
                                    timeout=self.config.timeout) as response:
                self._raise_for(response, "POST", path)
                for raw in response.iter_lines(decode_unicode=True):
                    if time.monotonic() > deadline:
                        raise TargetError(f"POST {self.base_url}{path}: the stream went on for "
                                          f"more than {STREAM_DEADLINE:g} s")
                    if not raw:
                        continue
                    result.lines.append(raw)
                    if not raw.startswith("data:"):
                        continue
                    data = raw[5:].strip()
                    if data == "[DONE]":
                        result.done = True
                        break
                    try:
                        result.chunks.append(json.loads(data))
                    except ValueError:
                        raise TargetError(f"POST {self.base_url}{path}: a stream event is not "
                                          f"JSON: {data[:120]!r}") from None
        except requests.RequestException as exc:
            raise TargetError(self._scrub(f"POST {self.base_url}{path}: {type(exc).__name__}")
                              ) from None
        return result

    # plumbing --------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._session.request(method, self.base_url + path, json=body,
                                             timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise TargetError(self._scrub(f"{method} {self.base_url}{path}: cannot reach the "
                                          f"target ({type(exc).__name__})")) from None
        self._raise_for(response, method, path)
        try:
            return response.json()
        except ValueError:
            raise TargetError(f"{method} {self.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None

    def _raise_for(self, response: requests.Response, method: str, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if 400 <= status < 500:
            code, message = _error_fields(response)
            raise ApiError(method, path, status, code, self._scrub(message))
        raise TargetError(self._scrub(f"{method} {self.base_url}{path} answered {status}: "
                                      f"{' '.join(response.text.split())[:160]}"))

    def _checked(self, answer: Any, key: str) -> Record:
        if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
            raise TargetError(f"{self.base_url}: the answer has no {key!r} list")
        return answer

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return self.context.redact(text)


def _error_fields(response: requests.Response) -> tuple[str | None, str]:
    """OpenAI's error body ``{"error": {"message", "type", "code"}}``, or what there is."""
    try:
        body = response.json()
    except ValueError:
        return None, " ".join(response.text.split())[:160] or response.reason or ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return (str(code) if code else None), str(error.get("message", ""))[:300]
    if isinstance(error, str):
        return None, error[:300]
    return None, json.dumps(body)[:300]
