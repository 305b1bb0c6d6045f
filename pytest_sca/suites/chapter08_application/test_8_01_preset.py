"""8.1 预置模型 Preset models."""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import Inference, Model, Models, Refused, TargetError, reply_text
from pytest_sca.fixtures import CheckContext

#: Licence texts that name no licence.
NO_LICENCE = frozenset({"", "unknown", "none", "n/a", "na", "null", "-", "other"})


@pytest.mark.clause("8.1.a")
def test_preset_models_answer_through_the_api(sca: CheckContext, inference: Inference) -> None:
    """GET /models lists at least one model, and a chat completion with it returns text."""
    listed = inference.list_models()
    sca.evidence("GET /models", listed)
    assert listed, "[8.1.a] the inference API lists no model: GET /models answered no data"
    model = inference.model_ids()[0]
    try:
        answer = inference.chat([{"role": "user", "content": "Say hello."}], model=model,
                                max_tokens=32, temperature=0)
    except Refused as refusal:
        if refusal.is_authorization:
            raise TargetError(f"[8.1.a] the evaluator's key is refused: {refusal}") from None
        pytest.fail(f"[8.1.a] model {model} refused a plain chat request: {refusal}")
    sca.evidence("chat completion", answer)
    assert reply_text(answer).strip(), (
        f"[8.1.a] model {model} answered an empty completion: {answer.get('choices')}")


def _missing_information(model: Model) -> list[str]:
    """What a preset model's basic information lacks: a positive parameter count and context
    length, and a licence that names one."""
    missing = []
    for field in ("parameters", "context_length"):
        value = model.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            missing.append(f"{field}={value!r}")
    licence = model.get("license")
    if not isinstance(licence, str) or licence.strip().lower() in NO_LICENCE:
        missing.append(f"license={licence!r}")
    return missing


@pytest.mark.clause("8.1.b")
def test_preset_models_have_basic_information(sca: CheckContext, models: Models) -> None:
    """Every preset model states a positive parameter count and context length, and a licence
    that names one (not ``unknown``)."""
    presets = [m for m in models.list_models() if m.get("preset")]
    sca.evidence("preset models", presets)
    assert presets, "[8.1.b] the platform lists no preset model"
    missing = {str(m.get("id")): _missing_information(m) for m in presets}
    missing = {model: fields for model, fields in missing.items() if fields}
    assert not missing, f"[8.1.b] preset models lack basic information: {missing}"
