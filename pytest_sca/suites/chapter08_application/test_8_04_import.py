"""8.4 模型导入 Importing models."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_sca.capabilities import (
    Inference,
    Model,
    Models,
    RefusalReason,
    reply_text,
)
from pytest_sca.fixtures import CheckContext

from ..library import refusal_of
from .conftest import IMPORT_SENTENCES, Deploy, served
from .probes import tinylm_words


@pytest.mark.clause("8.4.a")
@pytest.mark.mutating
def test_imported_model_is_listed(sca: CheckContext, models: Models,
                                  imported_model: Callable[[], Model]) -> None:
    """Import a tiny model artefact from object storage: the model list shows it."""
    model = imported_model()
    listed = [m.get("id") for m in models.list_models()]
    sca.evidence("imported model", model)
    sca.evidence("model ids listed", listed)
    assert model["id"] in listed, (
        f"[8.4.a] the imported model {model['id']} is not listed ({len(listed)} models listed)")


@pytest.mark.clause("8.4.b")
@pytest.mark.mutating
@pytest.mark.parametrize("step", ["information", "update", "delete"])
def test_imported_model_info_and_lifecycle(sca: CheckContext, models: Models,
                                           imported_model: Callable[[], Model],
                                           step: str) -> None:
    """An imported model's information reads back as imported (name, licence); a metadata
    change reads back; deleted, it reads 404 and is no longer listed."""
    model = imported_model()
    if step == "information":
        shown = models.get_model(model["id"])
        sca.evidence("model information", shown)
        wrong = {key: shown.get(key) for key, value in (
            ("id", model["id"]), ("name", sca.name("imported")), ("license", "Apache-2.0"))
            if shown.get(key) != value}
        assert not wrong, (
            f"[8.4.b] the imported model's information differs from what was imported: {wrong}")
    elif step == "update":
        description = f"described by {sca.run_id}"
        models.update_model(model["id"], description=description)
        updated = models.get_model(model["id"])
        assert updated.get("description") == description, (
            f"[8.4.b] the metadata update was not applied: description is "
            f"{updated.get('description')!r}")
    else:
        models.delete_model(model["id"])
        refusal = refusal_of(lambda: models.get_model(model["id"]))
        assert refusal is not None, f"[8.4.b] the deleted model {model['id']} can still be read"
        assert refusal.reason is RefusalReason.NOT_FOUND, (
            f"[8.4.b] reading a deleted model answered {refusal}, not 404")
        listed = [m.get("id") for m in models.list_models()]
        assert model["id"] not in listed, (
            f"[8.4.b] the deleted model {model['id']} is still listed")


@pytest.mark.clause("8.4.c")
@pytest.mark.mutating
def test_imported_model_can_be_deployed(sca: CheckContext, inference: Inference,
                                        imported_model: Callable[[], Model],
                                        deployed: Deploy) -> None:
    """Deploy the imported model as a service: it becomes ready and answers a completion, as
    that model: the answer names it, and, for the suite's own bigram artefact, has only words
    the artefact was trained on."""
    model = imported_model()
    _, ready = deployed(model["id"])
    sca.evidence("deployment of the imported model", ready)
    assert ready.get("status") == "running", (
        f"[8.4.c] the imported model's deployment ended {ready.get('status')}: "
        f"{ready.get('message') or ''}")
    answer = served(inference, ready, "8.4.c")
    if isinstance(answer, Exception):
        pytest.fail(f"[8.4.c] the imported model's service does not answer: {answer}")
    sca.evidence("answer", answer)
    assert reply_text(answer).strip(), "[8.4.c] the imported model's service answered nothing"
    names = {model["id"], ready.get("model"), ready.get("name")}
    assert answer.get("model") in names | {None}, (
        f"[8.4.c] the imported model's service answered as model {answer.get('model')!r}, "
        f"not {model['id']}")
    if not sca.settings.models.import_.source:
        # The suite's own artefact: a bigram model knows no word it was not trained on.
        foreign = tinylm_words(reply_text(answer)) - tinylm_words(" ".join(IMPORT_SENTENCES))
        assert not foreign, (
            f"[8.4.c] the imported model's service answered words its artefact does not "
            f"have, so another model answered: {sorted(foreign)[:8]}")
