"""8.1 预置模型 Preset models."""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import Inference, Model, Models, Refused, TargetError, reply_text
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

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


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _contradicted_by_inference(sca: CheckContext, request: pytest.FixtureRequest,
                               listed: list[Model]) -> list[str]:
    """Where the target also serves ``inference``: the models its ``GET /models`` lists too,
    whose context length it states otherwise than the catalogue does. A model only one of
    them lists (ids of another form, a preset not deployed, a served model not catalogued)
    is evidence, not a contradiction: neither states a value the other denies."""
    try:
        inference: Inference = request.getfixturevalue("inference")
    except NotAssessed as why:
        sca.evidence("inference /models not compared", f"the target serves no inference: {why}")
        return []
    served = {str(m["id"]): m for m in inference.list_models() if m.get("id")}
    catalogue = {str(m["id"]): m for m in listed if m.get("id")}
    both = sorted(catalogue.keys() & served.keys())
    stated = {model: (catalogue[model].get("context_length"), served[model].get("context_length"))
              for model in both}
    sca.evidence("catalogue and inference GET /models", {
        "listed by both (context length: catalogue, inference)": stated,
        "presets the inference API does not list": sorted(
            m for m, entry in catalogue.items() if entry.get("preset") and m not in served),
        "served models the catalogue does not list": sorted(served.keys() - catalogue.keys())})
    # Both state the model's context (prompt and completion) in tokens. A runtime that allows
    # less than the catalogue promises does not serve what the catalogue says: a fail. One
    # that allows more (a catalogue stating a conservative figure) misleads no caller into a
    # refused request: evidence above, not a fail.
    return [f"{model}: catalogue {ours}, inference {theirs}"
            for model, (ours, theirs) in stated.items()
            if (a := _number(ours)) is not None and (b := _number(theirs)) is not None
            and a > b]


@pytest.mark.clause("8.1.b")
def test_preset_models_have_basic_information(sca: CheckContext, models: Models,
                                              request: pytest.FixtureRequest) -> None:
    """Every preset model states a positive parameter count and context length, and a licence
    that names one (not ``unknown``); where the target also serves inference, a model its
    ``GET /models`` lists too serves at least the context length the catalogue states, where
    both state one (a model listed by one of them only is evidence)."""
    listed = models.list_models()
    presets = [m for m in listed if m.get("preset")]
    sca.evidence("preset models", presets)
    assert presets, "[8.1.b] the platform lists no preset model"
    missing = {str(m.get("id")): _missing_information(m) for m in presets}
    missing = {model: fields for model, fields in missing.items() if fields}
    assert not missing, f"[8.1.b] preset models lack basic information: {missing}"
    contradicted = _contradicted_by_inference(sca, request, listed)
    assert not contradicted, (
        "[8.1.b] the inference API serves shorter contexts than the model catalogue states "
        f"for the same models ({'; '.join(contradicted[:5])}): the basic information is "
        "not what is served")
