"""The OpenAI-compatible inference endpoint: ``/v1`` for the platform's models, and
``/deployments/{id}/v1`` for each self-deployed service.

Same bearer keys as the platform API. Answers follow OpenAI's shapes (the
project's tests check them with the official ``openai`` client): chat and text
completions, SSE streaming ending in ``data: [DONE]``, ``usage``, and error
bodies ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from pytest_sca.sandbox import lm
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import Caller
from pytest_sca.sandbox.errors import ApiError
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.modelhub import ModelHub, model_not_found

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "invalid_request_error",
                503: "service_unavailable"}


class ChatMessage(BaseModel):
    """One message of a chat."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1, max_length=200)]
    max_tokens: Annotated[int | None, Field(ge=1, le=4096)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=4096)] = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    seed: int | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class ChatRequest(_Sampling):
    """POST /v1/chat/completions."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=256)]


class CompletionRequest(_Sampling):
    """POST /v1/completions."""

    prompt: Annotated[str, Field(max_length=20000)]


def openai_error(exc: ApiError) -> JSONResponse:
    """An OpenAI-shaped error body."""
    kind = _ERROR_TYPES.get(exc.status, "invalid_request_error")
    return JSONResponse({"error": {"message": exc.message, "type": kind, "param": None,
                                   "code": exc.code}}, status_code=exc.status)


def _text_of(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return " ".join(str(part.get("text", "")) for part in message.content)
    return message.content or ""


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


class _Inference:
    """The handlers, shared by the platform endpoint and every deployment's endpoint."""

    def __init__(self, hub: ModelHub, faults: Faults) -> None:
        self.hub = hub
        self.faults = faults

    def models(self, who: Any) -> dict[str, Any]:
        created = int(time.time())
        return {"object": "list", "data": [
            # vLLM's field for the context the server allows (prompt and completion).
            {"id": model_id, "object": "model", "created": created, "owned_by": "sca-sandbox",
             "max_model_len": lm.CONTEXT_LENGTH}
            for model_id in self.hub.servable_ids(who)]}

    def run(self, who: Any, body: _Sampling, prompt: list[str], chat: bool,
            deployment: str | None, replica: int | None = None
            ) -> JSONResponse | StreamingResponse:
        """The completion; a deployment's answer names the replica that served it."""
        tokens, finish, usage = self.hub.complete(
            who, body.model, prompt, max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature, seed=body.seed,
            endpoint="chat.completions" if chat else "completions", deployment_id=deployment)
        text = lm.detokenize(tokens)
        ident = ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)
        created = int(time.time())
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(ident, created, body.model, tokens, finish, usage, chat,
                             include_usage), media_type="text/event-stream")
        if chat:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None,
                                      "message": {"role": "assistant", "content": text}}
        else:
            choice = {"index": 0, "finish_reason": finish, "logprobs": None, "text": text}
        answer = {"id": ident, "object": "chat.completion" if chat else "text_completion",
                  "created": created, "model": body.model,
                  "system_fingerprint": "sca-sandbox", "choices": [choice], "usage": usage}
        if replica is not None:
            answer["replica"] = replica
        return JSONResponse(answer)

    def _stream(self, ident: str, created: int, model: str, tokens: list[str], finish: str,
                usage: dict[str, int], chat: bool, include_usage: bool) -> Iterator[str]:
        kind = "chat.completion.chunk" if chat else "text_completion"
        base = {"id": ident, "object": kind, "created": created, "model": model,
                "system_fingerprint": "sca-sandbox"}

        def chunk(piece: str | None, reason: str | None, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {} if piece is None else {"content": piece}
                if first:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason,
                                          "logprobs": None}
            else:
                choice = {"index": 0, "text": piece or "", "finish_reason": reason,
                          "logprobs": None}
            return {**base, "choices": [choice]}

        yield _sse(chunk("", None, first=True))
        shown = ""
        for count in range(1, len(tokens) + 1):
            text = lm.detokenize(tokens[:count])
            yield _sse(chunk(text[len(shown):], None))
            shown = text
        yield _sse(chunk(None, finish))
        if include_usage:
            if Fault.STREAM_USAGE_WRONG in self.faults:
                usage = {**usage, "completion_tokens": 0, "total_tokens": usage["prompt_tokens"]}
            yield _sse({**base, "choices": [], "usage": usage})
        if Fault.STREAM_NOT_TERMINATED not in self.faults:
            yield "data: [DONE]\n\n"

    def chat(self, who: Any, body: ChatRequest, deployment: str | None,
             replica: int | None = None) -> JSONResponse | StreamingResponse:
        messages = [{"role": m.role, "content": _text_of(m)} for m in body.messages]
        history = Fault.CHAT_HISTORY_DROPPED not in self.faults
        return self.run(who, body, lm.chat_tokens(messages, history=history), True, deployment,
                        replica)

    def completion(self, who: Any, body: CompletionRequest, deployment: str | None,
                   replica: int | None = None) -> JSONResponse | StreamingResponse:
        return self.run(who, body, lm.tokenize(body.prompt), False, deployment, replica)


def router(platform: SandboxPlatform) -> APIRouter:
    """The OpenAI-compatible routes over ``platform``."""
    routes = APIRouter(tags=["openai"], include_in_schema=False)
    hub = platform.modelhub
    api = _Inference(hub, platform.faults)

    def guarded(call: Any) -> Any:
        try:
            return call()
        except ApiError as exc:
            return openai_error(exc)
        except TimeoutError as exc:
            return openai_error(ApiError(503, "model_loading", str(exc)))

    @routes.get("/v1/models", name="openai.models")
    def list_models(who: Caller) -> Any:
        return api.models(who)

    @routes.get("/v1/models/{model_id}", name="openai.model")
    def get_model(model_id: str, who: Caller) -> Any:
        if model_id not in hub.servable_ids(who):
            return openai_error(model_not_found(model_id))
        return {"id": model_id, "object": "model", "created": int(time.time()),
                "owned_by": "sca-sandbox"}

    @routes.post("/v1/chat/completions", name="openai.chat")
    def chat(body: ChatRequest, who: Caller) -> Any:
        return guarded(lambda: api.chat(who, body, None))

    @routes.post("/v1/completions", name="openai.completion")
    def completion(body: CompletionRequest, who: Caller) -> Any:
        return guarded(lambda: api.completion(who, body, None))

    def deployed(deployment_id: str, who: Any, body: _Sampling) -> int:
        """Check the request fits the deployment; the replica that serves it."""
        served = hub.serving(who, deployment_id)
        if body.model not in (served["model"], served["name"], deployment_id):
            raise ApiError(404, "model_not_found", f"deployment {deployment_id} serves "
                           f"{served['model']}, not {body.model}")
        body.model = served["model"]
        return hub.route(served)

    @routes.get("/deployments/{deployment_id}/v1/models", name="deployment.models")
    def deployment_models(deployment_id: str, who: Caller) -> Any:
        def answer() -> Any:
            served = hub.serving(who, deployment_id)
            return {"object": "list", "data": [{"id": served["model"], "object": "model",
                                                "created": int(time.time()),
                                                "owned_by": "sca-sandbox"}]}
        return guarded(answer)

    @routes.post("/deployments/{deployment_id}/v1/chat/completions", name="deployment.chat")
    def deployment_chat(deployment_id: str, body: ChatRequest, who: Caller) -> Any:
        def answer() -> Any:
            replica = deployed(deployment_id, who, body)
            return api.chat(who, body, deployment_id, replica)
        return guarded(answer)

    @routes.post("/deployments/{deployment_id}/v1/completions", name="deployment.completion")
    def deployment_completion(deployment_id: str, body: CompletionRequest, who: Caller) -> Any:
        def answer() -> Any:
            replica = deployed(deployment_id, who, body)
            return api.completion(who, body, deployment_id, replica)
        return guarded(answer)

    return routes


def target_adapters(api_url: str, platform: SandboxPlatform) -> dict[str, Any]:
    """The sandbox target's ``openai`` section: its own endpoint, the admin's key."""
    return {"openai": {"base_url": f"{api_url}v1", "api_key": "${SCA_SANDBOX_TOKEN}"}}
