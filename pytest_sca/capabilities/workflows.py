"""Workflows: capability ``workflows`` (a ComfyUI server's HTTP API, or a platform's
ComfyUI-compatible gateway) and ``workflow_apps`` (the platform's own workflow
applications: import, environment, publish, run, records)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import Labels
from .errors import RefusalReason, Refused

#: Workflow run statuses after which nothing happens without a request.
RUN_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class WorkflowRejected(Refused):
    """The workflow service refused a prompt: ComfyUI's ``error`` and per-node
    ``node_errors`` (a 400 ``prompt_outputs_failed_validation``, or a 200 that carries
    ``node_errors``)."""

    def __init__(self, what: str, status: int, error: Mapping[str, Any],
                 node_errors: Mapping[str, Any], prompt_id: str | None = None) -> None:
        self.error_type = str(error.get("type") or "")
        self.error = dict(error)
        self.node_errors = dict(node_errors)
        #: The id ComfyUI gave a prompt it queued although some of its outputs failed
        #: validation (a 200 with ``node_errors``); None for a 400.
        self.prompt_id = prompt_id
        super().__init__(what, status, self.error_type or None,
                         str(error.get("message") or ""), RefusalReason.INVALID)


class QueuedPrompt(TypedDict, total=False):
    """A prompt the server accepted."""

    prompt_id: str
    number: int
    node_errors: dict[str, Any]


class QueueState(TypedDict):
    """Prompt ids running now, and those waiting in execution order."""

    running: list[str]
    pending: list[str]


def queue_position(state: QueueState, prompt_id: str) -> int | None:
    """0 while ``prompt_id`` runs, 1.. while it waits (its place in execution order), None
    when the queue does not hold it."""
    if prompt_id in state["running"]:
        return 0
    if prompt_id in state["pending"]:
        return state["pending"].index(prompt_id) + 1
    return None


class OutputImage(TypedDict, total=False):
    """Where an output image is: ``GET /view?filename=&subfolder=&type=``."""

    filename: str
    subfolder: str
    type: str


class HistoryEntry(TypedDict, total=False):
    """A finished prompt: its outputs per node, and how it ended."""

    prompt: list[Any]
    outputs: dict[str, Any]
    status: dict[str, Any]
    meta: dict[str, Any]


class UploadedImage(TypedDict, total=False):
    """An input image the server stored."""

    name: str
    subfolder: str
    type: str


def output_images(entry: Mapping[str, Any]) -> list[OutputImage]:
    """Every image a history entry's outputs hold."""
    return [image for output in (entry.get("outputs") or {}).values()
            for image in (output.get("images") or [])]


class EnvironmentCheck(TypedDict, total=False):
    """The environment a workflow is configured with, and its automatic validation."""

    id: str | None
    #: ``available``, ``unavailable`` or ``unvalidated``.
    status: str
    missing_node_types: list[str]
    missing_models: list[str]
    validated_at: str | None


class WorkflowApp(TypedDict, total=False):
    """A workflow application of the platform."""

    id: str
    name: str
    status: str
    environment_id: str | None
    validation: dict[str, Any]
    published: bool
    endpoint: str | None
    labels: dict[str, str]
    #: The reference API's answer: the environment and its validation in one object.
    environment: EnvironmentCheck


class WorkflowEnvironment(TypedDict, total=False):
    """An environment a workflow can be configured with."""

    id: str
    name: str
    nodes: list[str]
    models: list[str]


class WorkflowRun(TypedDict, total=False):
    """A run of a workflow application (a trial, or an invocation of the published one)."""

    id: str
    workflow_id: str
    status: str
    queue_position: int | None
    outputs: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    logs: list[str]
    started_at: str | None
    finished_at: str | None
    duration_s: float | None


@runtime_checkable
class Workflows(Protocol):
    """Running ComfyUI workflows (API format) and fetching their results."""

    def object_info(self) -> dict[str, Any]:
        """Node class → its description (inputs, outputs, category)."""
        ...

    def submit(self, prompt: Mapping[str, Any], *,
               client_id: str | None = None) -> QueuedPrompt:
        """Queue a workflow (its history entry and outputs removed at the end of the check
        where the server allows); :class:`WorkflowRejected` for an invalid graph."""
        ...

    def queue(self) -> QueueState:
        """Prompts running and waiting."""
        ...

    def position(self, prompt_id: str) -> int | None:
        """0 while running, 1.. while waiting, None when not queued."""
        ...

    def history(self, prompt_id: str) -> HistoryEntry | None:
        """The history entry of a finished prompt, else None."""
        ...

    def wait(self, prompt_id: str, timeout: float = 60.0) -> HistoryEntry:
        """Poll (with backoff) until the prompt is in the history; :class:`WaitTimeout`."""
        ...

    def wait_all(self, prompt_ids: Collection[str],
                 timeout: float = 60.0) -> dict[str, HistoryEntry]:
        """Every prompt's history entry, within one deadline."""
        ...

    def view(self, filename: str, *, subfolder: str = "", kind: str = "output") -> bytes:
        """The bytes of an output (or input) image."""
        ...

    def upload_image(self, name: str, data: bytes, *, overwrite: bool = False) -> UploadedImage:
        """Upload an input image (use ``name`` in LoadImage)."""
        ...


@runtime_checkable
class WorkflowApps(Protocol):
    """The platform's workflow applications: import, environment, publish, run, records."""

    def import_workflow(self, name: str, workflow: Any, *,
                        labels: Labels | None = None) -> WorkflowApp:
        """Import ComfyUI API-format JSON (object or text); removed at the end of the check."""
        ...

    def list_workflows(self) -> list[WorkflowApp]:
        """Workflows the caller may see."""
        ...

    def get(self, workflow_id: str) -> WorkflowApp:
        """One workflow."""
        ...

    def delete(self, workflow_id: str) -> None:
        """Delete a workflow."""
        ...

    def environments(self) -> list[WorkflowEnvironment]:
        """Environments a workflow can be configured with."""
        ...

    def configure(self, workflow_id: str, environment_id: str) -> WorkflowApp:
        """Attach an environment; the answer carries the automatic validation's result."""
        ...

    def publish(self, workflow_id: str) -> WorkflowApp:
        """Publish as a callable service."""
        ...

    def unpublish(self, workflow_id: str) -> WorkflowApp:
        """Take the service offline."""
        ...

    def trial(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> WorkflowRun:
        """A trial run."""
        ...

    def invoke(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> WorkflowRun:
        """Invoke the published service."""
        ...

    def runs(self, workflow_id: str | None = None) -> list[WorkflowRun]:
        """The run records, optionally of one workflow."""
        ...

    def wait_run(self, run_id: str, timeout: float = 60.0) -> WorkflowRun:
        """Poll a run until it is terminal."""
        ...

    def download(self, url: str) -> bytes:
        """The bytes of a run's output (its ``url``), with the caller's credentials."""
        ...
