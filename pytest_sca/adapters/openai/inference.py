"""``inference`` over an OpenAI-compatible API: ``/models``, chat and text completions, SSE
streaming, embeddings."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import requests

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.openai.client import OpenAIClient
from pytest_sca.adapters.openai.fields import info
from pytest_sca.capabilities import (
    Completion,
    Embeddings,
    Message,
    ServedModel,
    StreamResult,
    TargetError,
)

#: The longest a streamed answer may take, in seconds, whatever the per-read timeout.
STREAM_DEADLINE = 120.0


def list_served(client: OpenAIClient) -> list[ServedModel]:
    """``GET /models``: each entry of ``data``, with ``context_length`` where the server
    states one under any of the names vendors use (vLLM's ``max_model_len``…)."""
    answer = client.call("models", "GET", "/models", collection=True)
    served: list[ServedModel] = client.checked(answer, "data", "GET /models")["data"]
    for entry in served:
        if isinstance(entry, dict) and "context_length" not in entry:
            stated = info(entry, "context_length")
            if stated is not None:
                entry["context_length"] = stated
    return served


class OpenAIInference(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.Inference` over an OpenAI-compatible API."""

    def list_models(self) -> list[ServedModel]:
        return list_served(self.subject)

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
        answer = self.subject.call("chat", "POST", "/chat/completions", json_body=body)
        return self.subject.checked(answer, "choices", "POST /chat/completions")  # type: ignore[no-any-return]

    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> Completion:
        body = {"model": self._model(model), "prompt": prompt, **params}
        answer = self.subject.call("completions", "POST", "/completions", json_body=body)
        return self.subject.checked(answer, "choices", "POST /completions")  # type: ignore[no-any-return]

    def stream_chat(self, messages: Sequence[Message], *, model: str | None = None,
                    **params: Any) -> StreamResult:
        client = self.subject
        body = {"model": self._model(model), "messages": list(messages), **params,
                "stream": True}
        path = "/chat/completions"
        base = client.base_url
        if client.discovers:
            client.discovery.require("chat", client)
        result = StreamResult()
        deadline = time.monotonic() + STREAM_DEADLINE
        try:
            with client.session.post(client.url(path), json=body, stream=True,
                                     timeout=client.config.timeout) as response:
                if client.discovers:
                    client.discovery.observe("chat", "POST", path, response)
                client.raise_for(response, "POST", path)
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
            raise TargetError(client.scrub(f"POST {base}{path}: {type(exc).__name__}")) from None
        return result

    def embed(self, inputs: Sequence[str], *, model: str | None = None,
              **params: Any) -> Embeddings:
        body = {"model": self._model(model), "input": list(inputs), **params}
        answer = self.subject.call("embeddings", "POST", "/embeddings", json_body=body)
        return self.subject.checked(answer, "data", "POST /embeddings")  # type: ignore[no-any-return]

    def at(self, base_url: str) -> OpenAIInference:
        return OpenAIInference(self.subject.at(base_url))

    @property
    def has_other_tenant(self) -> bool:
        return self.subject.has_other_tenant

    def as_other_tenant(self) -> OpenAIInference:
        return OpenAIInference(self.subject.other_tenant())
