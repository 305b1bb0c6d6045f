"""The OpenAI-compatible inference adapter: capability ``inference`` over any server that
speaks OpenAI's HTTP API (``/v1/models``, chat and text completions, SSE streaming).

Plain requests, no vendor SDK: what a check sees is what the server sent. A 4xx
answer raises :class:`~pytest_sca.capabilities.Refused` (its ``code`` is the
error body's ``code``, else its ``type``); a 5xx, a timeout or a body that is
not OpenAI's shape raises :class:`~pytest_sca.capabilities.TargetError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.http import VerifyingSession
from pytest_sca.capabilities import (
    Completion,
    Message,
    Refused,
    ServedModel,
    StreamResult,
    TargetError,
)

#: The longest a streamed answer may take, in seconds, whatever the per-read timeout.
STREAM_DEADLINE = 120.0


class OpenAIAdapter(Adapter):
    """Speaks OpenAI's HTTP API to ``base_url`` (which ends in ``/v1``)."""

    transport: ClassVar[str] = "openai"
    config_model: ClassVar[type[OpenAIConfig]] = OpenAIConfig

    def __init__(self, config: OpenAIConfig, context: AdapterContext, *,
                 base_url: str | None = None, api_key: str | None = None) -> None:
        super().__init__(config, context)
        self.base_url = (base_url or config.base_url).rstrip("/")
        self._key = api_key if api_key is not None else config.api_key
        self.session = VerifyingSession()
        self.session.verify = config.verify
        if self._key:
            self.session.headers["Authorization"] = f"Bearer {self._key}"
            context.redact.add([self._key])
        self._children: list[OpenAIAdapter] = []

    # principals and endpoints ------------------------------------------------------------

    def at(self, base_url: str) -> OpenAIAdapter:
        """The same client against another OpenAI-compatible endpoint."""
        child = OpenAIAdapter(self.config, self.context, base_url=base_url, api_key=self._key)
        self._children.append(child)
        return child

    def acting_as(self, credential: str) -> OpenAIAdapter:
        """The same endpoint with another API key."""
        child = OpenAIAdapter(self.config, self.context, base_url=self.base_url,
                              api_key=credential)
        self._children.append(child)
        return child

    def close(self) -> None:
        for child in self._children:
            child.close()
        self.session.close()

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``GET /models`` answers with the key, and lists the models the target
        file names."""
        path = "/models"
        try:
            response = self.session.get(self.base_url + path, timeout=timeout)
        except requests.RequestException as exc:
            return [Finding("reachable", "fail", f"GET {self.base_url}{path}: "
                            f"{type(exc).__name__}")]
        if response.status_code in (401, 403):
            return [Finding("credentials", "fail", f"GET {path}: refused "
                            f"{response.status_code}: the api_key is not accepted")]
        if response.status_code >= 300:
            return [Finding("api", "fail", f"GET {path} answered {response.status_code}")]
        try:
            served = [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return [Finding("api", "fail", f"GET {path}: not an OpenAI model list")]
        findings = [Finding("credentials", "ok" if self._key else "warn",
                            "api key accepted" if self._key else "no api_key: anonymous"),
                    Finding("offers", "ok" if served else "fail",
                            f"{len(served)} model(s): {', '.join(served[:8])}"
                            + (" …" if len(served) > 8 else ""))]
        missing = [m for m in self.config.models if m not in served]
        if missing:
            findings.append(Finding("offers", "fail", f"models the target file names are not "
                                    f"served: {', '.join(missing)}"))
        return findings

    # plumbing --------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request; :class:`Refused` (4xx) or :class:`TargetError` otherwise."""
        try:
            response = self.session.request(method, self.base_url + path, json=body,
                                             timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise TargetError(self.scrub(f"{method} {self.base_url}{path}: cannot reach the "
                                          f"target ({type(exc).__name__})")) from None
        self.raise_for(response, method, path)
        try:
            return response.json()
        except ValueError:
            raise TargetError(f"{method} {self.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None

    def raise_for(self, response: requests.Response, method: str, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if 400 <= status < 500:
            code, message = _error_fields(response)
            raise Refused(f"{method} {path}", status, code, self.scrub(message))
        raise TargetError(self.scrub(f"{method} {self.base_url}{path} answered {status}: "
                                      f"{' '.join(response.text.split())[:160]}"))

    def checked(self, answer: Any, key: str) -> Completion:
        """``answer`` if it is an object with a ``key`` list; TargetError otherwise."""
        if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
            raise TargetError(f"{self.base_url}: the answer has no {key!r} list")
        return cast(Completion, answer)

    def scrub(self, text: str) -> str:
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


class OpenAIInference(Facade[OpenAIAdapter]):
    """:class:`~pytest_sca.capabilities.Inference` over an OpenAI-compatible API."""

    def list_models(self) -> list[ServedModel]:
        answer = self.subject.request("GET", "/models")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise TargetError(f"GET {self.subject.base_url}/models: no 'data' list in the answer")
        return data

    def model_ids(self) -> list[str]:
        if self.subject.config.models:
            return list(self.subject.config.models)
        return [str(m.get("id")) for m in self.list_models() if m.get("id")]

    def _model(self, model: str | None) -> str:
        if model:
            return model
        ids = self.model_ids()
        if not ids:
            raise TargetError(f"{self.subject.base_url}: no model to call (the endpoint lists "
                              "none and the target file's adapters.openai.models is empty)")
        return ids[0]

    def chat(self, messages: Sequence[Message], *, model: str | None = None,
             **params: Any) -> Completion:
        body = {"model": self._model(model), "messages": list(messages), **params}
        answer = self.subject.request("POST", "/chat/completions", body)
        return self.subject.checked(answer, "choices")

    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> Completion:
        body = {"model": self._model(model), "prompt": prompt, **params}
        return self.subject.checked(self.subject.request("POST", "/completions", body), "choices")

    def stream_chat(self, messages: Sequence[Message], *, model: str | None = None,
                    **params: Any) -> StreamResult:
        body = {"model": self._model(model), "messages": list(messages), **params,
                "stream": True}
        path = "/chat/completions"
        base = self.subject.base_url
        result = StreamResult()
        deadline = time.monotonic() + STREAM_DEADLINE
        try:
            with self.subject.session.post(self.subject.base_url + path, json=body, stream=True,
                                    timeout=self.subject.config.timeout) as response:
                self.subject.raise_for(response, "POST", path)
                for raw in response.iter_lines(decode_unicode=True):
                    if time.monotonic() > deadline:
                        raise TargetError(f"POST {base}{path}: the stream went on for "
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
                        raise TargetError(f"POST {base}{path}: a stream event is not "
                                          f"JSON: {data[:120]!r}") from None
        except requests.RequestException as exc:
            raise TargetError(self.subject.scrub(f"POST {base}{path}: {type(exc).__name__}")
                              ) from None
        return result

    def at(self, base_url: str) -> OpenAIInference:
        return OpenAIInference(self.subject.at(base_url))


#: The OpenAI adapter's capability (set here: its implementation needs the class).
OpenAIAdapter.implementations = {"inference": OpenAIInference}
