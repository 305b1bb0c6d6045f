"""8.1 预置模型 Preset models."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.capabilities import reply_text
from pytest_sca.fixtures import CheckContext

#: What "basic information" of a preset model must say (reference field names).
INFO_FIELDS = ("parameters", "context_length", "license")


@pytest.mark.clause("8.1.a")
def test_preset_models_answer_through_the_api(sca: CheckContext, inference: Any) -> None:
    """GET /models lists at least one model, and a chat completion with it returns text."""
    listed = inference.list_models()
    sca.evidence("GET /models", listed)
    assert listed, "[8.1.a] the inference API lists no model: GET /models answered no data"
    model = inference.model_ids()[0]
    answer = inference.chat([{"role": "user", "content": "Say hello."}], model=model,
                            max_tokens=32, temperature=0)
    sca.evidence("chat completion", answer)
    assert reply_text(answer).strip(), (
        f"[8.1.a] model {model} answered an empty completion: {answer.get('choices')}")


@pytest.mark.clause("8.1.b")
def test_preset_models_have_basic_information(sca: CheckContext, models: Any) -> None:
    """Every preset model states its parameter count, context length and licence."""
    presets = [m for m in models.list_models() if m.get("preset")]
    sca.evidence("preset models", presets)
    assert presets, "[8.1.b] the platform lists no preset model"
    missing = {str(m.get("id")): [f for f in INFO_FIELDS if m.get(f) in (None, "", 0)]
               for m in presets}
    missing = {model: fields for model, fields in missing.items() if fields}
    assert not missing, f"[8.1.b] preset models lack basic information: {missing}"
