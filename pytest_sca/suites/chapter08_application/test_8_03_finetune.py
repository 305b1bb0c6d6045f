"""8.3 模型微调 Fine-tuning."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from pytest_sca.capabilities import (
    FineTune,
    Inference,
    Models,
    Refused,
    TargetError,
    TrainingMetric,
    reply_text,
)
from pytest_sca.fixtures import CheckContext

from .conftest import (
    SECRET_PROMPT,
    SECRET_WORD,
    FineTuned,
    asked_twice,
    deterministic,
    finetune_base,
)

_LOSS = re.compile(r"loss\D{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)


#: How far two reports of one step's loss may differ: rounding of a printed value (OpenAI's
#: events and checkpoints give the same step's ``train_loss``; a server that rounds one of
#: them to 3 or 4 decimals stays well inside 1 %), never a checkpoint of another step.
_SAME_LOSS_REL, _SAME_LOSS_ABS = 0.01, 1e-3


def _same_loss(a: float, b: float) -> bool:
    return abs(a - b) <= _SAME_LOSS_ABS + _SAME_LOSS_REL * max(abs(a), abs(b))


def _structured_losses(sca: CheckContext, job_id: str, metrics: list[TrainingMetric]
                       ) -> tuple[list[float], str]:
    """The losses in step order from the job's structured metrics (its metrics events, else
    its checkpoints), after the two sources are checked against each other where they report
    the same step."""
    events = {m["step"]: m["train_loss"] for m in metrics if m.get("source") == "event"}
    points = {m["step"]: m["train_loss"] for m in metrics if m.get("source") == "checkpoint"}
    both = sorted(events.keys() & points.keys())
    sca.evidence("losses by step", {"metrics events": events, "checkpoints": points,
                                    "steps both report": both})
    differ = [f"step {s}: event {events[s]}, checkpoint {points[s]}" for s in both
              if not _same_loss(events[s], points[s])]
    assert not differ, (
        f"[8.3.a] the fine-tuning job {job_id}'s checkpoints report other losses than its "
        f"metrics events at the same steps ({'; '.join(differ[:5])}): its metrics do not "
        "describe one training run")
    series, source = (events, "metrics events") if events else (points, "checkpoints")
    return [series[step] for step in sorted(series)], source


@pytest.mark.clause("8.3.a")
@pytest.mark.mutating
def test_finetune_on_user_data_completes(sca: CheckContext, finetune: FineTune,
                                         finetuned: Callable[[], FineTuned]) -> None:
    """Upload a tiny JSONL, fine-tune a preset on it: the job succeeds with a model, it is the
    job of the uploaded file (its training file as the platform reports the job), and its loss
    went down (it learned from the data). The loss is read from the job's structured metrics
    where it reports them (OpenAI: metrics events' ``data``, checkpoints' ``metrics``; where
    both give a step they must agree), else from the trainer's log."""
    run = finetuned()
    job = run.job
    sca.evidence("fine-tuning job", job)
    assert job.get("status") == "succeeded" and job.get("fine_tuned_model"), (
        f"[8.3.a] the fine-tuning job {job.get('id')} ended {job.get('status')}: "
        f"{job.get('error') or 'no model produced'}")
    reported = job.get("training_file")
    sca.evidence("training file", {"uploaded by the check": run.uploaded,
                                   "the job reports": reported})
    if not reported:
        raise TargetError(f"[8.3.a] the fine-tuning job {job['id']} names no training file: "
                          "cannot tell that it trained on the uploaded data")
    assert reported == run.uploaded, (
        f"[8.3.a] the fine-tuning job {job['id']} reports training file {reported}, not the "
        f"file the check uploaded ({run.uploaded}): it did not train on the user's data")
    metrics = finetune.training_metrics(job["id"])
    if metrics:
        losses, source = _structured_losses(sca, job["id"], metrics)
    else:
        logs = finetune.logs(job["id"])
        sca.evidence("trainer logs", logs)
        losses, source = [float(v) for v in _LOSS.findall(logs)], "trainer log"
    if len(losses) < 2:
        raise TargetError(f"[8.3.a] {len(losses)} loss values in the job's {source}: cannot "
                          "tell that the job trained on the data")
    sca.measure("first loss", losses[0], "nats")
    sca.measure("last loss", losses[-1], "nats")
    assert losses[-1] < losses[0], (
        f"[8.3.a] the loss did not go down over {len(losses)} steps of the job's {source} "
        f"({losses[0]} → {losses[-1]}): the job did not learn from the data")


@pytest.mark.clause("8.3.b")
@pytest.mark.mutating
def test_finetuned_model_answers(sca: CheckContext, inference: Inference, models: Models,
                                 finetuned: Callable[[], FineTuned]) -> None:
    """The fine-tuned model's id answers a chat completion through the inference API, and not
    as its base model does: it says the word it was taught, or answers otherwise than the
    base model at temperature 0 on a server whose base model answers the same twice there
    (else inconclusive: error)."""
    job = finetuned().job
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
