"""The OpenAI adapter against the sandbox's OpenAI-compatible endpoint, and the official
``openai`` client against the same answers (every shape the sandbox sends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.openai import OpenAIAdapter, OpenAIInference
from pytest_sca.capabilities import Refused, reply_text
from pytest_sca.sandbox.launcher import SandboxProcess

from .helpers import expand_env


@pytest.fixture(scope="module")
def openai_section(sandbox: SandboxProcess) -> dict[str, Any]:
    target = yaml.safe_load(sandbox.target_path.read_text())
    return expand_env(target["adapters"]["openai"], sandbox.env)  # type: ignore[no-any-return]


@pytest.fixture
def adapter(openai_section: dict[str, Any]) -> Iterator[OpenAIInference]:
    context = AdapterContext(target_name="test", target_path=None, run_id=uuid.uuid4().hex[:8])
    built = OpenAIAdapter(OpenAIConfig.model_validate(openai_section), context)
    yield OpenAIInference(built.client)
    built.close()


@pytest.fixture
def client(openai_section: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=openai_section["base_url"], api_key=openai_section["api_key"],
                         max_retries=0, timeout=30)


def test_models_chat_and_completion(adapter: OpenAIInference) -> None:
    ids = adapter.model_ids()
    assert "sca-tinychat" in ids
    answer = adapter.chat([{"role": "user", "content": "hello"}], max_tokens=20, temperature=0)
    assert answer["object"] == "chat.completion" and reply_text(answer).startswith("hello")
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    text = adapter.complete("user : hello <eos> assistant :", max_tokens=4, temperature=0)
    assert text["object"] == "text_completion" and text["usage"]["completion_tokens"] <= 4


def test_max_tokens_bounds_and_finish_reason(adapter: OpenAIInference) -> None:
    answer = adapter.chat([{"role": "user", "content": "hello"}], max_tokens=2, temperature=0)
    assert answer["usage"]["completion_tokens"] == 2
    assert answer["choices"][0]["finish_reason"] == "length"


def test_streaming_ends_with_done_and_carries_usage(adapter: OpenAIInference) -> None:
    stream = adapter.stream_chat([{"role": "user", "content": "hello"}], temperature=0,
                                 max_tokens=20, stream_options={"include_usage": True})
    whole = adapter.chat([{"role": "user", "content": "hello"}], temperature=0, max_tokens=20)
    assert stream.done and stream.lines[-1] == "data: [DONE]"
    assert stream.text == reply_text(whole)
    assert stream.usage == whole["usage"] and stream.finish_reason == "stop"


def test_refusals_are_api_errors_with_openai_codes(adapter: OpenAIInference) -> None:
    with pytest.raises(Refused) as unknown:
        adapter.chat([{"role": "user", "content": "x"}], model="no-such-model")
    assert unknown.value.status == 404 and unknown.value.code == "model_not_found"
    with pytest.raises(Refused) as stranger:
        adapter.acting_as("sk-wrong-key").list_models()
    assert stranger.value.status == 401


def test_at_reaches_another_endpoint(adapter: OpenAIInference) -> None:
    other = adapter.at(adapter.subject.base_url.removesuffix("/v1") + "/deployments/deploy-none/v1")
    with pytest.raises(Refused) as missing:
        other.chat([{"role": "user", "content": "x"}], model="sca-tinychat")
    assert missing.value.status == 404


def test_the_official_client_accepts_every_answer(client: openai.OpenAI) -> None:
    """models, chat, text completion, a stream with usage, and the error bodies."""
    assert {m.id for m in client.models.list()} >= {"sca-tinychat", "sca-tinychat-mini"}
    assert client.models.retrieve("sca-tinychat").id == "sca-tinychat"
    chat = client.chat.completions.create(
        model="sca-tinychat", messages=[{"role": "user", "content": "hello"}], temperature=0,
        max_tokens=20, seed=1)
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content
    assert chat.usage is not None and chat.usage.completion_tokens > 0
    text = client.completions.create(model="sca-tinychat-mini", prompt="hello", max_tokens=3)
    assert text.choices[0].finish_reason in ("stop", "length") and text.usage is not None
    chunks = list(client.chat.completions.create(
        model="sca-tinychat", messages=[{"role": "user", "content": "hello"}], temperature=0,
        stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == chat.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    legacy = list(client.completions.create(model="sca-tinychat", prompt="hello",
                                            max_tokens=3, stream=True))
    assert legacy and all(c.object == "text_completion" for c in legacy)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        client.with_options(api_key="sk-wrong").models.list()
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="sca-tinychat", messages=[])
