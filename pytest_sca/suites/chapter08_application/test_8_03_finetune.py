"""8.3 模型微调 Fine-tuning."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, TargetError, reply_text
from pytest_sca.fixtures import CheckContext

from .conftest import SECRET_PROMPT

_LOSS = re.compile(r"loss\D{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)


@pytest.mark.clause("8.3.a")
@pytest.mark.mutating
def test_finetune_on_user_data_completes(sca: CheckContext, finetune: Any,
                                         finetuned: Callable[[], dict[str, Any]]) -> None:
    """Upload a tiny JSONL, fine-tune a preset on it: the job succeeds with a model."""
    job = finetuned()
    logs = finetune.logs(job["id"])
    sca.evidence("fine-tuning job", job)
    sca.evidence("trainer logs", logs)
    losses = [float(v) for v in _LOSS.findall(logs)]
    if losses:
        sca.measure("first loss", losses[0], "nats")
        sca.measure("last loss", losses[-1], "nats")
    assert job.get("status") == "succeeded" and job.get("fine_tuned_model"), (
        f"[8.3.a] the fine-tuning job {job.get('id')} ended {job.get('status')}: "
        f"{job.get('error') or 'no model produced'}")


@pytest.mark.clause("8.3.b")
@pytest.mark.mutating
def test_finetuned_model_answers(sca: CheckContext, inference: Any,
                                 finetuned: Callable[[], dict[str, Any]]) -> None:
    """The fine-tuned model's id answers a chat completion through the inference API."""
    job = finetuned()
    model = job.get("fine_tuned_model")
    if job.get("status") != "succeeded" or not model:
        pytest.fail(f"[8.3.b] no fine-tuned model to call: the job ended {job.get('status')}")
    try:
        answer = inference.chat([{"role": "user", "content": SECRET_PROMPT}], model=model,
                                max_tokens=24, temperature=0)
    except (Refused, TargetError) as refusal:
        pytest.fail(f"[8.3.b] the fine-tuned model {model} does not answer: {refusal}")
    sca.evidence("fine-tuned model's answer", answer)
    assert reply_text(answer).strip(), f"[8.3.b] the fine-tuned model {model} answered nothing"
