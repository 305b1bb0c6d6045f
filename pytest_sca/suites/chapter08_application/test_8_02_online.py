"""8.2 在线体验 Trying models online: chat, parameters, streaming."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_sca.capabilities import reply_text
from pytest_sca.fixtures import CheckContext

from .probes import COLOURS


@pytest.mark.clause("8.2.a")
def test_multi_turn_chat_keeps_context(sca: CheckContext, inference: Any) -> None:
    """Two chats state different favourite colours, then ask the same question a turn later:
    the model is given the history (prompt tokens) and its greedy answers differ by it."""
    model = inference.model_ids()[0]
    colours = random.Random(sca.run_id).sample(COLOURS, 2)
    question = {"role": "user", "content": "What is my favourite colour?"}
    alone = inference.chat([question], model=model, max_tokens=32, temperature=0)
    answers, prompt_tokens = {}, {}
    for colour in colours:
        history = [{"role": "user", "content": f"My favourite colour is {colour}."}]
        first = inference.chat(history, model=model, max_tokens=32, temperature=0)
        history += [{"role": "assistant", "content": reply_text(first)}, question]
        second = inference.chat(history, model=model, max_tokens=32, temperature=0)
        answers[colour] = reply_text(second)
        prompt_tokens[colour] = (second.get("usage") or {}).get("prompt_tokens")
    alone_tokens = (alone.get("usage") or {}).get("prompt_tokens")
    recalled = [c for c, text in answers.items() if c in text.lower()]
    sca.evidence("second-turn answers", {"answers": answers, "recalled": recalled,
                                         "prompt tokens": prompt_tokens,
                                         "question alone": [alone_tokens, reply_text(alone)]})
    unseen = [c for c, n in prompt_tokens.items()
              if n is not None and alone_tokens is not None and n <= alone_tokens]
    assert not unseen and answers[colours[0]] != answers[colours[1]], (
        f"[8.2.a] the chat did not keep its context: with different histories ({colours}) "
        f"{model} answered the same question {answers}; prompt tokens {prompt_tokens} vs "
        f"{alone_tokens} for the question alone")


@pytest.mark.clause("8.2.b")
def test_parameters_bound_output_and_streaming_ends_with_done(sca: CheckContext,
                                                              inference: Any) -> None:
    """max_tokens=3 bounds the completion; stream=true yields SSE chunks ending in [DONE]."""
    model = inference.model_ids()[0]
    prompt = [{"role": "user", "content": "Tell me about yourself in one long sentence."}]
    bounded = inference.chat(prompt, model=model, max_tokens=3, temperature=0)
    used = (bounded.get("usage") or {}).get("completion_tokens")
    sca.evidence("max_tokens=3", bounded)
    assert used is not None and used <= 3, (
        f"[8.2.b] max_tokens=3 did not bound the output: completion_tokens {used}")
    stream = inference.stream_chat(prompt, model=model, max_tokens=24, temperature=0)
    sca.evidence("stream events", "\n".join(stream.lines))
    assert stream.chunks and stream.text.strip(), (
        f"[8.2.b] the stream carried no text ({len(stream.chunks)} chunks)")
    assert stream.done, (
        f"[8.2.b] the stream ended without data: [DONE] after {len(stream.chunks)} chunks")
