"""8.3 模型微调 Fine-tuning."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from pytest_sca.capabilities import (
    FineTune,
    FineTuneJob,
    Inference,
    Models,
    Refused,
    TargetError,
    reply_text,
)
from pytest_sca.fixtures import CheckContext

from .conftest import SECRET_PROMPT, SECRET_WORD, asked_twice, deterministic, finetune_base

_LOSS = re.compile(r"loss\D{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)


@pytest.mark.clause("8.3.a")
@pytest.mark.mutating
def test_finetune_on_user_data_completes(sca: CheckContext, finetune: FineTune,
                                         finetuned: Callable[[], FineTuneJob]) -> None:
    """Upload a tiny JSONL, fine-tune a preset on it: the job succeeds with a model, and the
    loss its trainer logged went down (it learned from the data)."""
    job = finetuned()
    sca.evidence("fine-tuning job", job)
    assert job.get("status") == "succeeded" and job.get("fine_tuned_model"), (
        f"[8.3.a] the fine-tuning job {job.get('id')} ended {job.get('status')}: "
        f"{job.get('error') or 'no model produced'}")
    logs = finetune.logs(job["id"])
    sca.evidence("trainer logs", logs)
    losses = [float(v) for v in _LOSS.findall(logs)]
    if len(losses) < 2:
        raise TargetError(f"[8.3.a] the trainer's logs show {len(losses)} loss values: cannot "
                          "tell that the job trained on the data")
    sca.measure("first loss", losses[0], "nats")
    sca.measure("last loss", losses[-1], "nats")
    assert losses[-1] < losses[0], (
        f"[8.3.a] the loss did not go down over {len(losses)} logged steps "
        f"({losses[0]} → {losses[-1]}): the job did not learn from the data")


@pytest.mark.clause("8.3.b")
@pytest.mark.mutating
def test_finetuned_model_answers(sca: CheckContext, inference: Inference, models: Models,
                                 finetuned: Callable[[], FineTuneJob]) -> None:
    """The fine-tuned model's id answers a chat completion through the inference API, and not
    as its base model does: it says the word it was taught, or answers otherwise than the
    base model at temperature 0 on a server whose base model answers the same twice there
    (else inconclusive: error)."""
    job = finetuned()
    model = job.get("fine_tuned_model")
    if job.get("status") != "succeeded" or not model:
        pytest.fail(f"[8.3.b] no fine-tuned model to call: the job ended {job.get('status')}")
    question = [{"role": "user", "content": SECRET_PROMPT}]
    try:
        answer = inference.chat(question, model=model, max_tokens=24, temperature=0)
    except Refused as refusal:
        pytest.fail(f"[8.3.b] the fine-tuned model {model} does not answer: {refusal}")
    base = finetune_base(sca, models)
    before = asked_twice(inference, question, base, max_tokens=24)
    said, was = reply_text(answer), reply_text(before[0])
    sca.evidence("answers", {"fine-tuned model": [model, said],
                             "base model, asked twice": [base, [was, reply_text(before[1])]]})
    assert said.strip(), f"[8.3.b] the fine-tuned model {model} answered nothing"
    if SECRET_WORD in said.lower():
        return
    assert said != was, (
        f"[8.3.b] the fine-tuned model {model} answers as its base model {base} does "
        f"({said!r}): it is not the model the job trained")
    if not deterministic(before):
        raise TargetError(
            f"[8.3.b] inconclusive: the base model {base} is not deterministic at temperature 0 "
            f"(asked twice: {was!r}, {reply_text(before[1])!r}), so the fine-tuned model's "
            f"other answer ({said!r}) does not show it is not the base model")
