"""Model application: capabilities ``models``, ``model_services`` (self-deployed model
services), ``finetune``, ``files`` (a tenant's stored files), ``model_usage`` and
``inference`` (an OpenAI-compatible API)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels, OtherTenant
from .workloads import Resources

#: Fine-tuning job statuses after which nothing happens without a request.
FINETUNE_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class Model(TypedDict, total=False):
    """A preset, imported or fine-tuned model."""

    id: str
    name: str
    kind: str
    preset: bool
    status: str
    parameters: int
    context_length: int
    license: str | None
    description: str
    format: str | None
    source: str
    labels: dict[str, str]
    created_at: str
    #: Who owns it (OpenAI's ``owned_by``: the vendor for a preset, the caller's organisation
    #: for a fine-tuned model).
    owned_by: str


class ArtefactFile(TypedDict, total=False):
    """One file of a model's artefact as the platform stores it (a Hugging Face repository's
    ``config.json``, ``model.safetensors``…)."""

    path: str
    bytes: int


class StoredFile(TypedDict, total=False):
    """A file stored in the platform's object storage."""

    id: str
    bytes: int
    uri: str
    filename: str
    purpose: str


class Deployment(TypedDict, total=False):
    """A self-deployed model service with an OpenAI-compatible ``endpoint``."""

    id: str
    name: str
    model: str
    status: str
    replicas: int
    ready_replicas: int
    endpoint: str
    labels: dict[str, str]
    #: What each replica was given (the deployment's chosen resources).
    resources: Resources
    #: Why the deployment is in its status (a failure's reason).
    message: str | None


class ServiceReplica(TypedDict, total=False):
    """One replica of a model service as the platform runs it (a KServe predictor pod, a
    platform's replica record): where it runs and what it really holds — a second source,
    next to the deployment record's ``resources``, for what the replica was given."""

    id: str
    #: The inventory node it runs on (``None``: the platform does not place it on one).
    node_id: str | None
    ready: bool
    #: What the runtime gives it (a pod's requests and limits; a platform's allocation), in
    #: the contract's units: ``accelerators`` is the number of whole cards it holds.
    resources: Resources
    #: The cards it holds, where the platform names them: their ``index`` on ``node_id`` as
    #: the inventory lists them (absent: it does not say which).
    cards: list[str]


class FineTuneJob(TypedDict, total=False):
    """A fine-tuning job; ``fine_tuned_model`` names the model it produced."""

    id: str
    status: str
    base_model: str
    training_file: str
    fine_tuned_model: str | None
    steps: int
    epochs: int
    started_at: str | None
    finished_at: str | None
    error: str | None
    labels: dict[str, str]


class TrainingMetric(TypedDict, total=False):
    """One step's training loss as a fine-tuning job reports it in structured form (not
    parsed from log text): ``source`` says where (``event``: the job's metrics events;
    ``checkpoint``: a checkpoint's metrics)."""

    step: int
    train_loss: float
    source: str


class ModelUsageLine(TypedDict, total=False):
    """Requests and tokens of one user and model in one interval."""

    user_id: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    time: str
    total_tokens: int


class UsageSummary(TypedDict, total=False):
    """Totals of a usage query."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    runs: int
    succeeded: int
    failed: int
    duration_s: float


class ModelUsageReport(TypedDict, total=False):
    """Usage of model APIs: lines and their summary."""

    items: list[ModelUsageLine]
    summary: UsageSummary


class WorkflowUsageLine(TypedDict, total=False):
    """One workflow run as the usage statistics count it."""

    run_id: str
    workflow_id: str
    user_id: str
    status: str
    duration_s: float
    time: str


class WorkflowUsageReport(TypedDict, total=False):
    """Usage of workflows: runs and their summary."""

    items: list[WorkflowUsageLine]
    summary: UsageSummary


#: One chat message (``role``, ``content``…), as OpenAI's API takes it.
Message = Mapping[str, Any]


class ServedModel(TypedDict, total=False):
    """One entry of OpenAI's ``GET /models``."""

    id: str
    object: str
    created: int
    owned_by: str
    #: The context length the server states for the model (vLLM: ``max_model_len``), where
    #: it states one.
    context_length: int


class TokenUsage(TypedDict, total=False):
    """OpenAI's ``usage`` of one answer."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Choice(TypedDict, total=False):
    """One choice of a chat (``message``) or text (``text``) completion."""

    index: int
    message: dict[str, Any]
    text: str
    finish_reason: str | None


class Completion(TypedDict, total=False):
    """A chat or text completion as OpenAI's API answers it; ``replica``: which replica of a
    multi-replica deployment served it, where the platform says (the platform API's
    extension)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]
    usage: TokenUsage
    replica: int | str


class Embedding(TypedDict, total=False):
    """One vector of OpenAI's ``POST /embeddings`` answer."""

    object: str
    index: int
    embedding: list[float]


class Embeddings(TypedDict, total=False):
    """OpenAI's ``POST /embeddings`` answer: one vector per input, in input order."""

    object: str
    data: list[Embedding]
    model: str
    usage: TokenUsage


@dataclass
class StreamResult:
    """What a streamed completion sent: its chunks, whether ``data: [DONE]`` ended it."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    #: Every non-empty line of the event stream, in order (for evidence).
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The concatenated content of every chunk."""
        parts = []
        for chunk in self.chunks:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                parts.append(delta.get("content") or choice.get("text") or "")
        return "".join(parts)

    @property
    def usage(self) -> dict[str, Any] | None:
        """The ``usage`` of the last chunk that carried one."""
        found = [c["usage"] for c in self.chunks if c.get("usage")]
        return found[-1] if found else None

    @property
    def finish_reason(self) -> str | None:
        """The last ``finish_reason`` a chunk gave."""
        reasons = [choice.get("finish_reason") for c in self.chunks
                   for choice in c.get("choices") or [] if choice.get("finish_reason")]
        return reasons[-1] if reasons else None


def reply_text(answer: Mapping[str, Any]) -> str:
    """The text of the first choice of a chat or text completion ("" if none)."""
    choices = answer.get("choices") or []
    if not choices:
        return ""
    first = choices[0]
    message = first.get("message") or {}
    return str(message.get("content") or first.get("text") or "")


@runtime_checkable
class Models(ActsAs, OtherTenant, Protocol):
    """Preset and imported models, and the files they are made from."""

    def list_models(self) -> list[Model]:
        """Models the caller may use."""
        ...

    def get_model(self, model_id: str) -> Model:
        """One model."""
        ...

    def artefact_files(self, model_id: str) -> list[ArtefactFile]:
        """The files the model is made of, with their sizes; :class:`Unsupported` where the
        platform gives no access to a model's files."""
        ...

    def artefact_text(self, model_id: str, path: str) -> str:
        """A text file of the model's artefact (``config.json``); :class:`Unsupported` as
        :meth:`artefact_files`."""
        ...

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        """Store a file in the platform's object storage (removed at the end of the check)."""
        ...

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Labels | None = None) -> Model:
        """Import a model artefact from object storage (``source`` URI); removed at the end
        of the check."""
        ...

    def update_model(self, model_id: str, **changes: Any) -> Model:
        """Change metadata (``name``, ``description``, ``license``, ``labels``)."""
        ...

    def delete_model(self, model_id: str) -> None:
        """Delete an imported or fine-tuned model."""
        ...


@runtime_checkable
class ModelServices(Protocol):
    """Self-deployed model services with an OpenAI-compatible ``endpoint``."""

    def deploy(self, name: str, model: str, *, replicas: int = 1,
               resources: Resources | None = None,
               labels: Labels | None = None) -> Deployment:
        """Deploy ``model`` (removed at the end of the check)."""
        ...

    def get(self, deployment_id: str) -> Deployment:
        """One deployment."""
        ...

    def scale(self, deployment_id: str, replicas: int) -> Deployment:
        """Change the number of replicas."""
        ...

    def stop(self, deployment_id: str) -> Deployment:
        """Stop serving (status ``stopped``)."""
        ...

    def delete(self, deployment_id: str) -> None:
        """Delete the deployment."""
        ...

    def replicas(self, deployment_id: str) -> list[ServiceReplica]:
        """The replicas the platform runs for the deployment, as its runtime sees them (not
        the deployment record's copy of the choice); :class:`Unsupported` where the platform
        shows no replica."""
        ...

    def wait(self, deployment_id: str, until: Collection[str] = ("running", "failed"),
             timeout: float = 60.0) -> Deployment:
        """Poll until the status is in ``until``; :class:`WaitTimeout` if not."""
        ...


@runtime_checkable
class FineTune(ActsAs, OtherTenant, Protocol):
    """Fine-tuning jobs on the user's data."""

    def upload_file(self, filename: str, content: str, *, purpose: str = "fine-tune",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        """Upload training data (JSONL); removed at the end of the check."""
        ...

    def create(self, base_model: str, training_file: str, *, suffix: str | None = None,
               steps: int | None = None, labels: Labels | None = None) -> FineTuneJob:
        """Start a job; the job and the model it produces are removed at the end of the
        check."""
        ...

    def get(self, job_id: str) -> FineTuneJob:
        """One job."""
        ...

    def logs(self, job_id: str) -> str:
        """What the trainer printed (loss per step)."""
        ...

    def training_metrics(self, job_id: str) -> list[TrainingMetric]:
        """The per-step losses the job reports in structured form (OpenAI: its metrics
        events' ``data`` and its checkpoints' ``metrics``), oldest first; empty when the
        target reports none (then only the logs tell)."""
        ...

    def wait(self, job_id: str, timeout: float = 120.0) -> FineTuneJob:
        """Poll until the job is terminal."""
        ...


@runtime_checkable
class Files(ActsAs, OtherTenant, Protocol):
    """A tenant's stored files (a model service's ``/files``: training data, batch input).

    Reads of one file raise :class:`Refused` when the caller may not see it: the checks of
    tenant data isolation ask as another principal (``as_other_tenant()``) and without any
    credential (``acting_as("")``).
    """

    def upload(self, filename: str, content: bytes) -> StoredFile:
        """Store a file as the caller (removed at the end of the check)."""
        ...

    def get(self, file_id: str) -> StoredFile:
        """One file's record."""
        ...

    def content(self, file_id: str) -> bytes:
        """One file's content."""
        ...

    def list_files(self) -> list[StoredFile]:
        """The files the caller sees."""
        ...

    def delete(self, file_id: str) -> None:
        """Remove a file."""
        ...


@runtime_checkable
class ModelUsage(ActsAs, OtherTenant, Protocol):
    """Usage statistics of model APIs and workflows, per user, model and period."""

    def query(self, *, user_id: str | None = None, model: str | None = None,
              since: str | None = None, until: str | None = None) -> ModelUsageReport:
        """Requests and tokens per user, model and interval, with a summary."""
        ...

    def workflows(self, *, since: str | None = None, until: str | None = None,
                  user_id: str | None = None) -> WorkflowUsageReport:
        """Workflow runs and their durations, with a summary."""
        ...

    def other_tenant_user(self) -> str:
        """The user id under which usage counts the second principal's calls (the target
        file declares it: a key-based API cannot say whose a key is); :class:`Unsupported`
        when none is declared."""
        ...


@runtime_checkable
class Inference(OtherTenant, Protocol):
    """Model inference through an OpenAI-compatible API."""

    def list_models(self) -> list[ServedModel]:
        """``GET /models``: each model served."""
        ...

    def model_ids(self) -> list[str]:
        """The ids of the models to check: the target's ``models``, else every listed one."""
        ...

    def chat(self, messages: Sequence[Message], *, model: str | None = None,
             **params: Any) -> Completion:
        """``POST /chat/completions``; the whole answer."""
        ...

    def complete(self, prompt: str, *, model: str | None = None,
                 **params: Any) -> Completion:
        """``POST /completions``; the whole answer."""
        ...

    def stream_chat(self, messages: Sequence[Message], *, model: str | None = None,
                    **params: Any) -> StreamResult:
        """``POST /chat/completions`` with ``stream: true``: the chunks, and how it ended."""
        ...

    def embed(self, inputs: Sequence[str], *, model: str | None = None,
              **params: Any) -> Embeddings:
        """``POST /embeddings``: one vector per input; :class:`Unsupported` when the endpoint
        serves none."""
        ...

    def at(self, base_url: str) -> Inference:
        """The same client against another OpenAI-compatible endpoint (a deployed service)."""
        ...

    def acting_as(self, credential: str) -> Inference:
        """The same endpoint with another API key."""
        ...
