"""Model development: capabilities ``devmachines`` (notebook / IDE instances) and
``devtools`` (what a developer uses around training jobs, the console, the API)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels
from .workloads import Resources


@dataclass(frozen=True)
class WebAnswer:
    """A plain HTTP answer, whatever its status: what a browser or a script would see."""

    status: int
    content_type: str
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


class DevMachine(TypedDict, total=False):
    """A development machine."""

    id: str
    name: str
    status: str
    image: str
    node_id: str | None
    accelerators: list[Any]
    ports: list[Any]
    resources: Resources
    labels: dict[str, str]


class ExecResult(TypedDict, total=False):
    """What a command run inside a dev machine did (``pid`` only in the background)."""

    pid: int
    exit_code: int | None
    output: str


class ExposedPort(TypedDict, total=False):
    """A port of a dev machine published at a platform URL."""

    devmachine_id: str
    port: int
    url: str


class Framework(TypedDict, total=False):
    """A distributed framework jobs can use, and how the platform launches it."""

    name: str
    versions: list[str]
    distributed: bool
    launcher: str
    worker_env: list[str]


class MetricPoint(TypedDict, total=False):
    """One point of a series."""

    time: str
    value: float


class MetricSeries(TypedDict, total=False):
    """One metric of one worker over time."""

    name: str
    unit: str
    worker: int
    points: list[MetricPoint]


class JobMetrics(TypedDict, total=False):
    """The metric series of a job."""

    job_id: str
    interval_s: float
    series: list[MetricSeries]


class PreflightNode(TypedDict, total=False):
    """Pre-flight result of one node."""

    node_id: str
    healthy: bool
    checks: list[Any]


class Preflight(TypedDict, total=False):
    """Pre-flight results and the nodes eligible for work."""

    items: list[PreflightNode]
    eligible: list[str]


class ErrorEnvelope(TypedDict):
    """An error answer's machine-readable code and its message, read where the platform
    documents them."""

    code: str
    message: str


class NodeMark(TypedDict, total=False):
    """A node's health after an operator marked it."""

    node_id: str
    health: str


@runtime_checkable
class Terminal(Protocol):
    """One web terminal session: text in, text out."""

    #: Why the platform closed the terminal, once it did.
    closed: str | None

    def send(self, text: str) -> None:
        """Type ``text`` (include the newline)."""
        ...

    def read_until(self, expected: str, timeout: float = 10.0) -> str:
        """What the terminal printed until ``expected`` appeared, it closed, or ``timeout``."""
        ...

    def close(self) -> None:
        """Close the session."""
        ...


@runtime_checkable
class DevMachines(ActsAs, Protocol):
    """Dev machines (notebook / IDE / SSH instances) with a chosen image and accelerators."""

    def create(self, name: str, image: str, resources: Resources, *,
               labels: Labels | None = None) -> DevMachine:
        """Create one (removed at the end of the check)."""
        ...

    def get(self, devmachine_id: str) -> DevMachine:
        """One dev machine."""
        ...

    def delete(self, devmachine_id: str) -> None:
        """Delete a dev machine."""
        ...

    def wait(self, devmachine_id: str, until: Collection[str] = ("running",),
             timeout: float = 120.0) -> DevMachine:
        """Poll until its status is in ``until``; :class:`WaitTimeout` if not."""
        ...

    def exec(self, devmachine_id: str, command: Sequence[str], *, timeout: float = 60.0,
             background: bool = False) -> ExecResult:
        """Run a command inside."""
        ...

    def expose(self, devmachine_id: str, port: int | None = None) -> ExposedPort:
        """Publish a port (the platform picks it when ``None``)."""
        ...

    def open_url(self, url: str, timeout: float = 10.0) -> WebAnswer:
        """GET an exposed URL as the caller (its key is sent only to the platform's host)."""
        ...


class ApiOperation(TypedDict, total=False):
    """One operation an adapter calls on the target's API: its name in the adapter's table,
    its method, its route template as ``raw`` takes it (``path``, below the base ``raw``
    sends to) and below the host (``route``)."""

    name: str
    method: str
    path: str
    route: str


@runtime_checkable
class DevTools(ActsAs, Protocol):
    """Tools around training jobs, the console and the API description."""

    def frameworks(self) -> list[Framework]:
        """Distributed frameworks jobs can use."""
        ...

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> JobMetrics:
        """The metric series of one job."""
        ...

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> Terminal:
        """A web terminal into a running worker of a job; :class:`Refused` when the platform
        refuses to open it."""
        ...

    def preflight(self, node_ids: Sequence[str] | None = None) -> Preflight:
        """Pre-flight node checks."""
        ...

    def mark_faulty(self, node_id: str, reason: str) -> NodeMark:
        """Mark a node faulty (an operator's action), undone at the end of the check."""
        ...

    def unmark(self, node_id: str) -> NodeMark:
        """Mark a node healthy again."""
        ...

    def console_page(self) -> WebAnswer:
        """The web console's page as a browser gets it."""
        ...

    def api_description(self) -> dict[str, Any]:
        """The published API description (an OpenAPI document)."""
        ...

    def api_operations(self) -> list[ApiOperation]:
        """The operations of the described API this adapter calls for the target (its
        operation table: the reference routes or the target's mapping); empty where the
        adapter names none (the API is another system's own)."""
        ...

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        """One request as sent, never retried or interpreted (for probing error answers)."""
        ...

    def error_envelope(self, answer: WebAnswer) -> ErrorEnvelope | None:
        """The code and message of an error answer, read where the platform documents them
        (the reference API's ``{"error": {"code", "message"}}``, or the mapping's error
        pointers); None when the answer does not carry both as non-empty text."""
        ...
