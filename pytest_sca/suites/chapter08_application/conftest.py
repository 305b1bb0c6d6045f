"""Fixtures the chapter 8 checks share: a fine-tuned model, an imported model, a deployment,
a configured workflow application, a probe caller of the inference API."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from pytest_sca.capabilities import (
    Completion,
    Deployment,
    FineTune,
    FineTuneJob,
    Inference,
    Message,
    Model,
    Models,
    ModelServices,
    ModelUsage,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    Unsupported,
    WaitTimeout,
    WorkflowApp,
    WorkflowApps,
    reply_text,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

from ..conftest import MakeProbeUser
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
#: What each replica of a probe deployment asks for: small, and unlike a platform's likely
#: default (1 GiB), so that a deployment that ignores the choice shows it.
DEPLOY_RESOURCES: Resources = {"cpu": 1, "memory_gib": 2, "accelerators": 0}
#: How long a deployment that says it is running may take to answer its first request.
SERVE_GRACE_S = 10.0


def preset_model(sca: CheckContext, models: Models, declared: str | None, declaration: str,
                 purpose: str) -> str:
    """The model a check uses: ``declared`` (at ``declaration``), else the first preset."""
    if declared:
        return str(declared)
    presets = [m["id"] for m in models.list_models() if m.get("preset")]
    if not presets:
        sca.not_assessed(f"the platform lists no preset model to {purpose}: declare "
                         f"capabilities.{declaration} in the target file")
    return str(presets[0])


def asked_twice(inference: Inference, messages: Sequence[Message], model: str,
                max_tokens: int) -> tuple[Completion, Completion]:
    """The same chat asked twice at ``temperature: 0``: the determinism control. Answers that
    differ prove something (a history kept, a model changed) only on a server that answers
    one question the same twice; :func:`deterministic` says whether this one did."""
    def ask_once() -> Completion:
        return inference.chat(messages, model=model, max_tokens=max_tokens, temperature=0)

    return ask_once(), ask_once()


def deterministic(pair: tuple[Completion, Completion]) -> bool:
    """Whether the two answers of :func:`asked_twice` have the same text."""
    return reply_text(pair[0]) == reply_text(pair[1])


def finetune_base(sca: CheckContext, models: Models) -> str:
    """The preset the fine-tuning checks train: the declared one, else the first preset."""
    return preset_model(sca, models, sca.settings.finetune.base_model, "finetune.base_model",
                        "fine-tune")


@dataclass(frozen=True)
class FineTuned:
    """A fine-tuning job as it ended, and the id of the file the check uploaded for it."""

    job: FineTuneJob
    uploaded: str


@pytest.fixture
def finetuned(sca: CheckContext, finetune: FineTune, models: Models
              ) -> Callable[[], FineTuned]:
    """Upload the probe JSONL and fine-tune a preset on it; the job as it ended (or, after
    ``finetune.timeout_s``, as it was last seen: its status says ``still …``)."""

    def run() -> FineTuned:
        data = "".join(json.dumps(line) + "\n" for line in TRAINING_LINES * 3)
        upload = finetune.upload_file(f"{sca.name('ft')}.jsonl", data, labels=sca.labels)
        job = finetune.create(finetune_base(sca, models), upload["id"], suffix="sca-probe",
                              steps=sca.settings.finetune.steps, labels=sca.labels)
        try:
            return FineTuned(finetune.wait(job["id"], timeout=sca.settings.finetune.timeout_s),
                             upload["id"])
        except WaitTimeout as late:
            last: FineTuneJob = late.last or job
            return FineTuned({**last, "status": f"still {last.get('status')}"}, upload["id"])

    return run


#: What the suite's own import artefact is trained on: the only words its answers can have.
IMPORT_SENTENCES = ["hello from an imported model.", "the imported model says hello."]


@pytest.fixture
def imported_model(sca: CheckContext, models: Models) -> Callable[[], Model]:
    """Upload a tiny model artefact to the platform's object storage and import it.

    The artefact is the declared ``models.import.source`` (with ``format``), else a
    tiny bigram model in the open ``sca-tinylm/1`` format that this suite builds.
    """

    def run() -> Model:
        source = sca.settings.models.import_.source
        fmt = sca.settings.models.import_.format
        if not source:
            artefact = tinylm_artifact(IMPORT_SENTENCES)
            upload = models.upload_file(f"{sca.name('model')}.json", artefact, purpose="model",
                                        labels=sca.labels)
            source, fmt = upload["uri"], "sca-tinylm/1"
        try:
            return models.import_model(sca.name("imported"), source, kind="llm", format=fmt,
                                       license="Apache-2.0", labels=sca.labels)
        except Refused as refusal:
            if refusal.reason is RefusalReason.INVALID:
                sca.not_assessed(f"the platform cannot import the probe artefact ({refusal}): "
                                 "declare capabilities.models.import.source (an artefact in its "
                                 "object storage) and .format in the target file")
            raise

    return run


class Deploy(Protocol):
    """``deployed(model, replicas=1)``: (the deployment as created, as it was once it left
    ``deploying``, or as last seen after ``services.ready_timeout_s``)."""

    def __call__(self, model: str, replicas: int = 1) -> tuple[Deployment, Deployment]: ...


class MakeWorkflowApp(Protocol):
    """``workflow_app(graph, configure=True)``: an imported (and configured) workflow."""

    def __call__(self, graph: dict[str, Any], configure: bool = True) -> WorkflowApp: ...


@pytest.fixture
def deployed(sca: CheckContext, model_services: ModelServices) -> Deploy:
    """Deploy a model with :data:`DEPLOY_RESOURCES` per replica."""

    def run(model: str, replicas: int = 1) -> tuple[Deployment, Deployment]:
        created = model_services.deploy(sca.name("deploy"), model, replicas=replicas,
                                        resources=DEPLOY_RESOURCES, labels=sca.labels)
        try:
            ready = model_services.wait(created["id"], until=("running", "failed"),
                                        timeout=sca.settings.services.ready_timeout_s)
        except WaitTimeout as late:
            last: Deployment = late.last or created
            ready = {**last, "status": f"still {last.get('status')} after the wait"}
        return created, ready

    return run


def endpoint_of(deployment: Deployment, item: str) -> str:
    """The OpenAI base URL a running deployment serves at; :class:`TargetError` if none."""
    endpoint = deployment.get("endpoint")
    if not endpoint:
        raise TargetError(f"[{item}] the running deployment {deployment.get('id')} names no "
                          "endpoint")
    return endpoint


def ask(inference: Inference, deployment: Deployment, item: str) -> Completion:
    """One short chat through a deployment's endpoint, as the model it serves."""
    return inference.at(endpoint_of(deployment, item)).chat(
        [{"role": "user", "content": "hello"}], model=deployment.get("model"), max_tokens=16,
        temperature=0)


def served(inference: Inference, deployment: Deployment, item: str) -> Completion | Exception:
    """The answer of a deployment that says it is running, or what its endpoint kept
    answering instead (a refusal, a 5xx) for :data:`SERVE_GRACE_S` seconds: a running
    deployment that never answers in that time does not serve."""
    failures: list[Exception] = []

    def attempt() -> Completion | None:
        try:
            return ask(inference, deployment, item)
        except (Refused, TargetError) as exc:
            failures.append(exc)
            return None

    try:
        return wait_for(attempt, lambda answer: answer is not None, SERVE_GRACE_S,
                        lambda _: f"deployment {deployment.get('id')} does not answer",
                        first=0.5, longest=2.0) or failures[-1]
    except WaitTimeout:
        return failures[-1]


@pytest.fixture
def workflow_app(sca: CheckContext, workflow_apps: WorkflowApps) -> MakeWorkflowApp:
    """Import an API-format workflow and configure it with the platform's first environment
    (``workflow_app(graph, configure=False)``: imported only)."""

    def run(graph: dict[str, Any], configure: bool = True) -> WorkflowApp:
        workflow = workflow_apps.import_workflow(sca.name("wf"), graph, labels=sca.labels)
        if not configure:
            return workflow
        environment = sca.settings.workflows.environment
        if not environment:
            environments = workflow_apps.environments()
            if not environments:
                sca.not_assessed("the platform offers no workflow environment: declare "
                                 "capabilities.workflows.environment in the target file")
            environment = environments[0]["id"]
        return workflow_apps.configure(workflow["id"], environment)

    return run


@dataclass
class ProbeCaller:
    """A user of the platform and the inference API as that user: a fresh probe user (its
    usage is only what the check makes it call), or the target file's second principal
    (whose usage a check compares before and after its own calls)."""

    user_id: str
    inference: Inference


@pytest.fixture
def probe_caller(sca: CheckContext, request: pytest.FixtureRequest, inference: Inference,
                 model_usage: ModelUsage) -> Callable[[str], ProbeCaller]:
    """``probe_caller(suffix)``: a new probe user of a new tenant (``tenancy``), calling the
    inference API with its own key; without tenancy, the target file's second principal
    (``other_key`` with the user id usage counts it under). ``not_assessed`` when the
    endpoint does not take platform users' keys, or there is neither."""

    def fresh_user(suffix: str) -> ProbeCaller:
        # Asked for here, not as a parameter: a target without tenancy has another way.
        probe_tenant: MakeProbeUser = request.getfixturevalue("probe_tenant")
        user = probe_tenant(suffix)
        caller = inference.acting_as(user.user["api_key"])
        try:
            caller.list_models()
        except Refused as refusal:
            if not refusal.is_authorization:
                raise
            sca.not_assessed(f"the inference endpoint refuses a platform user's API key "
                             f"({refusal}): usage per user cannot be attributed to a probe user")
        return ProbeCaller(str(user.user["id"]), caller)

    def make(suffix: str) -> ProbeCaller:
        try:
            return fresh_user(suffix)
        except NotAssessed as no_tenancy:
            if not inference.has_other_tenant:
                raise
            try:
                user_id = model_usage.other_tenant_user()
            except Unsupported as undeclared:
                raise NotAssessed(f"{no_tenancy}; {undeclared}") from None
            return ProbeCaller(user_id, inference.as_other_tenant())

    return make
