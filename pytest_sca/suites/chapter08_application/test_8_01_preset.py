"""8.1 预置模型 Preset models."""

from __future__ import annotations

import json

import pytest

from pytest_sca.capabilities import (
    ArtefactFile,
    Inference,
    Model,
    Models,
    Refused,
    ServedModel,
    TargetError,
    Unsupported,
    reply_text,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

#: Licence texts that name no licence.
NO_LICENCE = frozenset({"", "unknown", "none", "n/a", "na", "null", "-", "other"})
#: How far above what a model's weights hold a catalogue may state its parameters: names
#: round (7B for 7.24e9, 0.5B for 0.49e9), but none rounds up by a quarter.
SIZE_ROUNDING = 1.25
#: ``config.json`` keys stating the positions a model is built for, most common first.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length",
                "n_ctx")
#: ``config.json``'s ``torch_dtype`` (``dtype`` in newer releases) → bytes per weight.
DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2,
               "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1}
#: How many preset models' artefacts the check reads (each is a few requests).
ARTEFACTS_READ = 5


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


def _served(sca: CheckContext, request: pytest.FixtureRequest) -> dict[str, ServedModel]:
    """The models the inference API's ``GET /models`` lists, by id; empty (said in the
    evidence) where the target serves no inference."""
    try:
        inference: Inference = request.getfixturevalue("inference")
    except NotAssessed as why:
        sca.evidence("inference /models not compared", f"the target serves no inference: {why}")
        return {}
    return {str(m["id"]): m for m in inference.list_models() if m.get("id")}


def _contradicted_by_inference(sca: CheckContext, served: dict[str, ServedModel],
                               listed: list[Model]) -> list[str]:
    """The models the inference API lists too, whose context length it states otherwise than
    the catalogue does. A model only one of them lists (ids of another form, a preset not
    deployed, a served model not catalogued) is evidence, not a contradiction: neither states
    a value the other denies."""
    if not served:
        return []
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


def _json_file(models: Models, model_id: str, path: str) -> dict[str, object]:
    """A JSON file of the model's artefact; ``TargetError`` if it is not a JSON object."""
    text = models.artefact_text(model_id, path)
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise TargetError(f"[8.1.b] {path} of model {model_id} is not a JSON object: "
                          f"{text[:120]!r}")
    return document


def _weight_bytes(models: Models, model_id: str, files: dict[str, int]) -> int | None:
    """The bytes of the model's weights: the safetensors index's ``total_size``, else the
    sizes of its ``.safetensors`` files (their headers are a rounding error), else of its
    ``.bin`` files; None where it has none."""
    if "model.safetensors.index.json" in files:
        metadata = _json_file(models, model_id, "model.safetensors.index.json").get("metadata")
        total = metadata.get("total_size") if isinstance(metadata, dict) else None
        if isinstance(total, int) and total > 0:
            return total
    for suffix in (".safetensors", ".bin"):
        sizes = [size for path, size in files.items() if path.endswith(suffix)]
        if sizes:
            return sum(sizes)
    return None


def artefact_figures(models: Models, model_id: str) -> dict[str, object]:
    """What a model's own files say of it: the context its ``config.json`` builds in (the
    positions, times a RoPE scaling factor) and the parameters its weights hold (their bytes
    over the config's dtype width; none for a quantized model), each None where they do not
    say."""
    listing: list[ArtefactFile] = models.artefact_files(model_id)
    unsized = [f.get("path") for f in listing if not isinstance(f.get("bytes"), int)]
    if unsized or any(not f.get("path") for f in listing):
        raise TargetError(f"[8.1.b] the files of model {model_id} are listed without a path "
                          f"or a size in bytes ({unsized[:3] or listing[:3]})")
    files = {str(f["path"]): int(f["bytes"]) for f in listing}
    config = _json_file(models, model_id, "config.json") if "config.json" in files else {}
    context = next((v for k in CONTEXT_KEYS if isinstance(v := config.get(k), int) and v > 0),
                   None)
    scaling = config.get("rope_scaling")
    factor = scaling.get("factor") if isinstance(scaling, dict) else None
    if context and isinstance(factor, int | float) and factor > 1:
        context = int(context * factor)
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "")
    weights = _weight_bytes(models, model_id, files)
    width = DTYPE_BYTES.get(dtype)
    quantized = "quantization_config" in config
    return {"files": files, "dtype": dtype or None, "weight bytes": weights,
            "quantized": quantized, "context_length": context,
            "parameters": weights // width if weights and width and not quantized else None}


def _contradicted_by_artefacts(sca: CheckContext, models: Models, presets: list[Model],
                               served: dict[str, ServedModel]) -> list[str]:
    """Presets whose catalogue entry states more than their artefact holds: more parameters
    than the weights (beyond :data:`SIZE_ROUNDING`), or a longer context than the config
    builds in, unless the inference API states it serves that much (a serving-time RoPE
    extension). A catalogue stating less is evidence. Without access to the files, the
    evidence says they were not compared."""
    figures: dict[str, dict[str, object]] = {}
    for model in presets[:ARTEFACTS_READ]:
        model_id = str(model.get("id"))
        try:
            figures[model_id] = artefact_figures(models, model_id)
        except Unsupported as why:
            sca.evidence("model artefacts not compared", f"the target gives no access to a "
                                                         f"model's files: {why}")
            return []
        except Refused as refusal:
            figures[model_id] = {"files refused": str(refusal)}
    sca.evidence("catalogue and model artefacts", {
        model_id: {**figures[model_id], "catalogue": {
            k: entry.get(k) for k in ("parameters", "context_length")}}
        for entry in presets if (model_id := str(entry.get("id"))) in figures})
    wrong = []
    for entry in presets:
        found = figures.get(str(entry.get("id")), {})
        stated, held = _number(entry.get("parameters")), _number(found.get("parameters"))
        if stated is not None and held is not None and stated > SIZE_ROUNDING * held:
            wrong.append(f"{entry.get('id')}: {stated:.4g} parameters, its weights hold "
                         f"{held:.4g} ({found.get('weight bytes')} bytes of {found.get('dtype')})")
        stated, built = _number(entry.get("context_length")), _number(found.get("context_length"))
        serves = _number(served.get(str(entry.get("id")), {}).get("context_length"))
        if stated is not None and built is not None and stated > built \
                and (serves is None or serves < stated):
            wrong.append(f"{entry.get('id')}: context length {stated:g}, its config builds in "
                         f"{built:g}")
    return wrong


@pytest.mark.clause("8.1.b")
def test_preset_models_have_basic_information(sca: CheckContext, models: Models,
                                              request: pytest.FixtureRequest) -> None:
    """Every preset model states a positive parameter count and context length, and a licence
    that names one (not ``unknown``); where the target also serves inference, a model its
    ``GET /models`` lists too serves at least the context length the catalogue states, where
    both state one (a model listed by one of them only is evidence); where the platform lets
    a model's files be read, the catalogue states no more parameters than the weights hold
    (within rounding) and no longer a context than the config builds in (unless served)."""
    listed = models.list_models()
    presets = [m for m in listed if m.get("preset")]
    sca.evidence("preset models", presets)
    assert presets, "[8.1.b] the platform lists no preset model"
    missing = {str(m.get("id")): _missing_information(m) for m in presets}
    missing = {model: fields for model, fields in missing.items() if fields}
    assert not missing, f"[8.1.b] preset models lack basic information: {missing}"
    served = _served(sca, request)
    contradicted = _contradicted_by_inference(sca, served, listed)
    assert not contradicted, (
        "[8.1.b] the inference API serves shorter contexts than the model catalogue states "
        f"for the same models ({'; '.join(contradicted[:5])}): the basic information is "
        "not what is served")
    overstated = _contradicted_by_artefacts(sca, models, presets, served)
    assert not overstated, (
        "[8.1.b] the model catalogue states more than the models' own artefacts hold "
        f"({'; '.join(overstated[:5])})")
