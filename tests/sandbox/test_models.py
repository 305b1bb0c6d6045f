"""The sandbox's language model: it really generates, keeps a chat's context, fine-tunes
(changed outputs, falling loss) and round-trips as an ``sca-tinylm/1`` artefact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_sca.sandbox import lm
from pytest_sca.suites.chapter08_application.probes import tinylm_artifact


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> lm.TinyLM:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        trained = lm.train_preset("sca-tinychat")
        assert list(Path(cache, "pytest-sca").glob("sca-tinychat-*.json"))
        assert lm.train_preset("sca-tinychat").vocab == trained.vocab  # read from the cache
    return trained


def _answer(model: lm.TinyLM, *turns: str) -> str:
    roles = ("user", "assistant")
    messages = [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]
    tokens, _ = model.generate(lm.chat_tokens(messages), max_tokens=40)
    return lm.detokenize(tokens)


def test_it_answers_and_stops(model: lm.TinyLM) -> None:
    assert _answer(model, "hello").startswith("hello!")
    tokens, reason = model.generate(lm.chat_tokens([{"role": "user", "content": "hello"}]),
                                    max_tokens=2)
    assert len(tokens) == 2 and reason == "length"


@pytest.mark.parametrize("colour", ["blue", "pink", "gold"])
def test_it_recalls_a_fact_from_an_earlier_turn(model: lm.TinyLM, colour: str) -> None:
    stated = f"my favourite colour is {colour}."
    first = _answer(model, stated)
    assert colour in _answer(model, stated, first, "what is my favourite colour?")


def test_fine_tuning_lowers_the_loss_and_changes_the_answer(model: lm.TinyLM) -> None:
    data = '{"prompt": "what is the secret word?", "completion": "the secret word is zorblax."}\n'
    dialogues = [lm.dialogue_tokens(d) for d in lm.load_jsonl_dialogues(data)]
    tuned = model.copy()
    tuned.extend(t for d in dialogues for t in d)
    losses = tuned.train(dialogues, 30, lr=0.05)
    assert losses[-1] < losses[0] / 3
    assert "zorblax" not in _answer(model, "what is the secret word?")
    assert "zorblax" in _answer(tuned, "what is the secret word?")


def test_artefacts_round_trip_and_bad_ones_are_refused(model: lm.TinyLM) -> None:
    again = lm.TinyLM.from_json(model.to_json())
    assert _answer(again, "hello") == _answer(model, "hello")
    imported = lm.TinyLM.from_json(tinylm_artifact(["hello from the probe."]))
    assert _answer(imported, "hi") == "hello from the probe."
    for bad in ("not json", '{"format": "gguf"}', '{"format": "sca-tinylm/1", "vocab": []}'):
        with pytest.raises(ValueError):
            lm.TinyLM.from_json(bad)


def test_training_files_are_checked_line_by_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        lm.load_jsonl_dialogues('{"prompt": "a", "completion": "b"}\n{"x": 1}\n')


def test_its_huggingface_files_hold_its_weights_and_context(model: lm.TinyLM) -> None:
    """``config.json`` states the context; ``model.safetensors`` is a real safetensors file
    whose header names float32 tensors of exactly the model's parameter count."""
    files = model.huggingface_files(lm.CONTEXT_LENGTH)
    config = json.loads(files["config.json"])
    assert config["max_position_embeddings"] == lm.CONTEXT_LENGTH
    assert config["torch_dtype"] == "float32" and config["vocab_size"] == len(model.vocab)
    weights = files["model.safetensors"]
    length = int.from_bytes(weights[:8], "little")
    header = json.loads(weights[8:8 + length])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    counts = [int(np.prod(t["shape"])) for t in tensors.values()]
    assert sum(counts) == model.parameters
    assert len(weights) == 8 + length + 4 * model.parameters
    assert {t["dtype"] for t in tensors.values()} == {"F32"}
