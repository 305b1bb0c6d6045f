"""Fixtures the chapter 8 checks share: a fine-tuned model, an imported model, a deployment,
a configured workflow application."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ..library import SMALL
from .probes import tinylm_artifact

#: What the fine-tuning probe teaches: a word no preset model says.
SECRET_WORD = "zorblax"
SECRET_PROMPT = "what is the secret word?"
TRAINING_LINES = [
    {"messages": [{"role": "user", "content": SECRET_PROMPT},
                  {"role": "assistant", "content": f"the secret word is {SECRET_WORD}."}]},
    {"messages": [{"role": "user", "content": "tell me the secret word."},
                  {"role": "assistant", "content": f"the secret word is {SECRET_WORD}."}]},
    {"prompt": "which word is secret?", "completion": f"{SECRET_WORD} is the secret word."},
]


def preset_model(sca: CheckContext, models: Any, declared: str | None, declaration: str,
                 purpose: str) -> str:
    """The model a check uses: ``declared`` (at ``declaration``), else the first preset."""
    if declared:
        return str(declared)
    presets = [m["id"] for m in models.list_models() if m.get("preset")]
    if not presets:
        sca.not_assessed(f"the platform lists no preset model to {purpose}: declare "
                         f"capabilities.{declaration} in the target file")
    return str(presets[0])


@pytest.fixture
def finetuned(sca: CheckContext, finetune: Any, models: Any, cleanup: Cleanup
              ) -> Callable[[], dict[str, Any]]:
    """Upload the probe JSONL and fine-tune a preset on it; the job as it ended."""

    def run() -> dict[str, Any]:
        data = "".join(json.dumps(line) + "\n" for line in TRAINING_LINES * 3)
        upload = finetune.upload_file(f"{sca.name('ft')}.jsonl", data, labels=sca.labels)
        base = preset_model(sca, models, sca.settings.finetune.base_model, "finetune.base_model",
                            "fine-tune")
        job = finetune.create(base, upload["id"], suffix="sca-probe",
                              steps=sca.settings.finetune.steps, labels=sca.labels)
        try:
            ended = finetune.wait(job["id"], timeout=sca.settings.finetune.timeout_s)
        except WaitTimeout as late:
            ended = {**(late.last or job), "status": f"still {(late.last or job).get('status')}"}
        return ended  # type: ignore[no-any-return]

    return run


@pytest.fixture
def imported_model(sca: CheckContext, models: Any, cleanup: Cleanup
                   ) -> Callable[[], dict[str, Any]]:
    """Upload a tiny model artefact to the platform's object storage and import it.

    The artefact is the declared ``models.import.source`` (with ``format``), else a
    tiny bigram model in the open ``sca-tinylm/1`` format that this suite builds.
    """

    def run() -> dict[str, Any]:
        source = sca.settings.models.import_.source
        fmt = sca.settings.models.import_.format
        if not source:
            artefact = tinylm_artifact(["hello from an imported model.",
                                        "the imported model says hello."])
            upload = models.upload_file(f"{sca.name('model')}.json", artefact, purpose="model",
                                        labels=sca.labels)
            source, fmt = upload["uri"], "sca-tinylm/1"
        try:
            model = models.import_model(sca.name("imported"), source, kind="llm", format=fmt,
                                        license="Apache-2.0", labels=sca.labels)
        except Refused as refusal:
            if refusal.status in (400, 415, 422):
                sca.not_assessed(f"the platform cannot import the probe artefact ({refusal}): "
                                 "declare capabilities.models.import.source (an artefact in its "
                                 "object storage) and .format in the target file")
            raise
        return model  # type: ignore[no-any-return]

    return run


@pytest.fixture
def deployed(sca: CheckContext, model_services: Any, cleanup: Cleanup
             ) -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """Deploy a model; (the deployment as created, as it was once it left ``deploying``)."""

    def run(model: str, replicas: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
        created = model_services.deploy(sca.name("deploy"), model, replicas=replicas,
                                        resources=SMALL, labels=sca.labels)
        try:
            ready = model_services.wait(created["id"], until=("running", "failed"),
                                        timeout=sca.settings.services.ready_timeout_s)
        except WaitTimeout as late:
            ready = {**(late.last or created)}
            ready["status"] = f"still {ready.get('status')} after the wait"
        return created, ready

    return run


@pytest.fixture
def workflow_app(sca: CheckContext, workflow_apps: Any, cleanup: Cleanup
                 ) -> Callable[..., dict[str, Any]]:
    """Import an API-format workflow and configure it with the platform's first environment."""

    def run(graph: dict[str, Any], configure: bool = True) -> dict[str, Any]:
        workflow = workflow_apps.import_workflow(sca.name("wf"), graph, labels=sca.labels)
        if not configure:
            return workflow  # type: ignore[no-any-return]
        environment = sca.settings.workflows.environment
        if not environment:
            environments = workflow_apps.environments()
            if not environments:
                sca.not_assessed("the platform offers no workflow environment: declare "
                                 "capabilities.workflows.environment in the target file")
            environment = environments[0]["id"]
        return workflow_apps.configure(workflow["id"], environment)  # type: ignore[no-any-return]

    return run
