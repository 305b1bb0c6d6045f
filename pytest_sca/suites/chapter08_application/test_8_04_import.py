"""8.4 模型导入 Importing models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, TargetError, reply_text
from pytest_sca.fixtures import CheckContext


@pytest.mark.clause("8.4.a")
@pytest.mark.mutating
def test_imported_model_is_listed(sca: CheckContext, models: Any,
                                  imported_model: Callable[[], dict[str, Any]]) -> None:
    """Import a tiny model artefact from object storage: the model list shows it."""
    model = imported_model()
    listed = [m.get("id") for m in models.list_models()]
    sca.evidence("imported model", model)
    sca.evidence("model ids listed", listed)
    assert model["id"] in listed, (
        f"[8.4.a] the imported model {model['id']} is not listed ({len(listed)} models listed)")


@pytest.mark.clause("8.4.b")
@pytest.mark.mutating
def test_imported_model_info_and_lifecycle(sca: CheckContext, models: Any,
                                           imported_model: Callable[[], dict[str, Any]]) -> None:
    """Get the imported model's information, change its description, delete it."""
    model = imported_model()
    shown = models.get_model(model["id"])
    sca.evidence("model information", shown)
    assert shown.get("id") == model["id"] and shown.get("name"), (
        f"[8.4.b] the imported model's information is incomplete: {shown}")
    description = f"described by {sca.run_id}"
    models.update_model(model["id"], description=description)
    updated = models.get_model(model["id"])
    assert updated.get("description") == description, (
        f"[8.4.b] the metadata update was not applied: description is "
        f"{updated.get('description')!r}")
    models.delete_model(model["id"])
    try:
        gone = models.get_model(model["id"])
    except Refused as refusal:
        assert refusal.status == 404, f"[8.4.b] reading a deleted model answered {refusal}"
        return
    pytest.fail(f"[8.4.b] the deleted model can still be read: {gone}")


@pytest.mark.clause("8.4.c")
@pytest.mark.mutating
def test_imported_model_can_be_deployed(sca: CheckContext, inference: Any,
                                        imported_model: Callable[[], dict[str, Any]],
                                        deployed: Callable[..., Any]) -> None:
    """Deploy the imported model as a service: it becomes ready and answers a completion."""
    model = imported_model()
    _, ready = deployed(model["id"])
    sca.evidence("deployment of the imported model", ready)
    assert ready.get("status") == "running", (
        f"[8.4.c] the imported model's deployment ended {ready.get('status')}: "
        f"{ready.get('message', '')}")
    try:
        answer = inference.at(ready["endpoint"]).chat([{"role": "user", "content": "hello"}],
                                                      model=ready.get("model", model["id"]),
                                                      max_tokens=16, temperature=0)
    except (Refused, TargetError) as refusal:
        pytest.fail(f"[8.4.c] the imported model's service does not answer: {refusal}")
    sca.evidence("answer", answer)
    assert reply_text(answer).strip(), "[8.4.c] the imported model's service answered nothing"
