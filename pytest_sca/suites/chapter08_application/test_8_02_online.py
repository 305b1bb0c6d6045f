"""8.2 在线体验 Trying models online: chat, parameters, streaming."""

from __future__ import annotations

import random
import re

import pytest

from pytest_sca.capabilities import (
    Completion,
    Inference,
    RefusalReason,
    Refused,
    StreamResult,
    TargetError,
    reply_text,
)
from pytest_sca.fixtures import CheckContext

from .conftest import asked_twice, deterministic
from .probes import COLOURS

PROMPT = [{"role": "user", "content": "Tell me about yourself in one long sentence."}]
#: The bound 8.2.b sets, and the room the stream gets.
BOUND, STREAM_TOKENS = 3, 24
#: A word or a run of punctuation: a rough count of tokens that hardly ever exceeds the real
#: one twice over (a token rarely spans more than two such pieces: `'t`, `.\n`).
_PIECE = re.compile(r"\w+|[^\w\s]+")
#: How many chats, each stating another favourite colour, 8.2.a compares.
HISTORIES = 3
#: How many pieces of text each token the usage counts may carry before the text is too long
#: for the tokens counted.
PIECES_PER_TOKEN = 2


def _prompt_tokens(answer: Completion) -> int | None:
    value = (answer.get("usage") or {}).get("prompt_tokens")
    return value if isinstance(value, int) else None


@pytest.mark.clause("8.2.a")
def test_multi_turn_chat_keeps_context(sca: CheckContext, inference: Inference) -> None:
    """Three chats state different favourite colours, then ask the same question a turn later:
    the model is given the history (more prompt tokens than the question alone), and its
    answers name their colour, or differ by history on a server that answers the question
    alone the same twice at temperature 0 (else inconclusive: error). Three, not two: a small
    model that is given the history may still answer two colours' question with one text
    (SmolLM2-135M does for red and orange, for no three of the eight); a server that drops
    the history answers all three alike."""
    model = inference.model_ids()[0]
    colours = random.Random(sca.run_id).sample(COLOURS, HISTORIES)
    question = {"role": "user", "content": "What is my favourite colour?"}
    alone = asked_twice(inference, [question], model, max_tokens=32)
    answers, prompt_tokens = {}, {}
    for colour in colours:
        history = [{"role": "user", "content": f"My favourite colour is {colour}."}]
        first = inference.chat(history, model=model, max_tokens=32, temperature=0)
        history += [{"role": "assistant", "content": reply_text(first)}, question]
        second = inference.chat(history, model=model, max_tokens=32, temperature=0)
        answers[colour] = reply_text(second)
        prompt_tokens[colour] = _prompt_tokens(second)
    alone_tokens = _prompt_tokens(alone[0])
    repeatable = deterministic(alone)
    recalled = [c for c, text in answers.items() if c in text.lower()]
    sca.evidence("second-turn answers", {
        "answers": answers, "recalled": recalled, "prompt tokens": prompt_tokens,
        "question alone": [alone_tokens, [reply_text(a) for a in alone]],
        "deterministic at temperature 0": repeatable})
    unseen = [c for c, n in prompt_tokens.items()
              if n is not None and alone_tokens is not None and n <= alone_tokens]
    assert not unseen, (
        f"[8.2.a] the chat did not keep its context: the second turns of {unseen} were "
        f"answered from {[prompt_tokens[c] for c in unseen]} prompt tokens, no more than the "
        f"question alone ({alone_tokens})")
    differ = len(set(answers.values())) > 1
    if len(recalled) == len(colours) or (differ and repeatable):
        return
    assert differ, (
        f"[8.2.a] the chat did not keep its context: with different histories ({colours}) "
        f"{model} answered the same question the same way: {answers}")
    raise TargetError(
        f"[8.2.a] inconclusive: {model} is not deterministic at temperature 0 (the question "
        f"alone got two answers), so answers that differ by history ({answers}) prove nothing, "
        "and they do not all name the colour stated")


def _stream(inference: Inference, model: str) -> tuple[StreamResult, bool]:
    """The probe prompt streamed, asking for usage in the stream (OpenAI's
    ``stream_options.include_usage``); a server that refuses that option streams without it.
    (the stream, whether usage was asked for)"""
    try:
        return inference.stream_chat(PROMPT, model=model, max_tokens=STREAM_TOKENS,
                                     temperature=0,
                                     stream_options={"include_usage": True}), True
    except Refused as refusal:
        if refusal.reason is not RefusalReason.INVALID:
            raise
    return inference.stream_chat(PROMPT, model=model, max_tokens=STREAM_TOKENS,
                                 temperature=0), False


@pytest.mark.clause("8.2.b")
@pytest.mark.parametrize("case", ["max-tokens", "stream"])
def test_parameters_bound_output_and_streaming_ends_with_done(
        sca: CheckContext, inference: Inference, case: str) -> None:
    """[max-tokens] ``max_tokens: 3`` bounds the completion's tokens; [stream] ``stream:
    true`` yields SSE chunks with text ending in ``data: [DONE]``, and the usage the stream
    reports agrees with its chunks and with the same request answered whole."""
    model = inference.model_ids()[0]
    if case == "max-tokens":
        bounded = inference.chat(PROMPT, model=model, max_tokens=BOUND, temperature=0)
        sca.evidence(f"max_tokens={BOUND}", bounded)
        used = (bounded.get("usage") or {}).get("completion_tokens")
        if not isinstance(used, int):
            raise TargetError(f"[8.2.b] the answer reports no completion_tokens: "
                              f"{bounded.get('usage')}")
        assert used <= BOUND, (
            f"[8.2.b] max_tokens={BOUND} did not bound the output: completion_tokens {used}")
        # The usage is the server's word: the text itself must fit the bound too.
        text = reply_text(bounded)
        pieces = len(_PIECE.findall(text))
        assert pieces <= PIECES_PER_TOKEN * BOUND, (
            f"[8.2.b] max_tokens={BOUND} did not bound the output: the text has {pieces} words "
            f"and punctuation runs ({text[:200]!r}), more than {PIECES_PER_TOKEN} per token "
            "allowed")
        if used == 0:
            raise TargetError(f"[8.2.b] inconclusive: the model answered nothing, so "
                              f"max_tokens={BOUND} bounded nothing")
        return
    stream, usage_asked = _stream(inference, model)
    whole = inference.chat(PROMPT, model=model, max_tokens=STREAM_TOKENS, temperature=0)
    sca.evidence("stream events", "\n".join(stream.lines))
    sca.evidence("the same request answered whole", whole)
    assert stream.chunks and stream.text.strip(), (
        f"[8.2.b] the stream carried no text ({len(stream.chunks)} chunks)")
    assert stream.done, (
        f"[8.2.b] the stream ended without data: [DONE] after {len(stream.chunks)} chunks")
    usage = stream.usage
    if usage is None:
        # Usage in a stream is optional (the option may be unknown): nothing to compare.
        sca.evidence("stream usage", f"none (asked for: {usage_asked})")
        return
    pieces = sum(1 for chunk in stream.chunks for choice in chunk.get("choices") or []
                 if (choice.get("delta") or {}).get("content"))
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    wrong = []
    if prompt != _prompt_tokens(whole):
        wrong.append(f"prompt_tokens {prompt}, the whole answer's {_prompt_tokens(whole)}")
    if not isinstance(completion, int) or not pieces <= completion <= STREAM_TOKENS:
        wrong.append(f"completion_tokens {completion} for {pieces} chunks of text "
                     f"(max_tokens {STREAM_TOKENS})")
    total = usage.get("total_tokens")
    if total is not None and isinstance(prompt, int) and isinstance(completion, int) \
            and total != prompt + completion:
        wrong.append(f"total_tokens {total} != {prompt} + {completion}")
    assert not wrong, f"[8.2.b] the usage the stream reported is wrong: {'; '.join(wrong)}"
