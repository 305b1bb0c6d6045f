"""Work the platform runs: capabilities ``jobs``, ``training``, ``scheduling``, ``network``
(jobs in a tenant's isolated network) and ``services`` (inference services)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels, Unretried
from .inventory import Accelerator

#: Job statuses after which nothing happens without a request.
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "stopped"})
#: Training job statuses after which nothing happens without a request.
TRAINING_FINISHED = frozenset({"succeeded", "failed", "stopped"})


class Resources(TypedDict, total=False):
    """What one worker requests: cores, GiB, whole cards (or a share of one), a card model,
    a cluster to run in."""

    cpu: float
    memory_gib: float
    accelerators: int
    accelerator_model: str
    accelerator_share: float
    cluster_id: str


class Worker(TypedDict, total=False):
    """One worker (rank) of a job."""

    rank: int
    status: str
    node_id: str | None
    exit_code: int | None
    accelerators: list[Any]
    pid: int | None
    started_at: str | None
    finished_at: str | None


class JobNetwork(TypedDict, total=False):
    """The network a job runs in: ``address`` is where other jobs reach it."""

    mode: str
    namespace: str
    address: str


class Job(TypedDict, total=False):
    """A batch or training job."""

    id: str
    tenant_id: str
    name: str
    image: str
    command: list[str]
    status: str
    exit_code: int | None
    workers: list[Worker]
    world_size: int
    resources: Resources
    env: dict[str, str]
    labels: dict[str, str]
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempt: int
    owner: str
    progress: float
    priority: int
    queue: str
    network: JobNetwork
    simulated: bool


class JobEvent(TypedDict, total=False):
    """Something that happened to a job, oldest first: ``type`` (``Created``, ``Scheduled``,
    ``Started``, ``Completed``, ``Failed``, ``Stopped``…), a CamelCase ``reason``."""

    time: str
    type: str
    reason: str
    message: str


class TrainingAttempt(TypedDict, total=False):
    """One launch of a training job's workers."""

    attempt: int
    job_id: str
    world_size: int
    status: str


class TrainingJob(TypedDict, total=False):
    """A distributed training job the platform relaunches after failures."""

    id: str
    name: str
    status: str
    min_workers: int
    max_workers: int
    world_size: int
    restarts: int
    checkpoint_uri: str | None
    attempts: list[TrainingAttempt]
    labels: dict[str, str]


class BurstRule(TypedDict, total=False):
    """Where off-cloud load bursts to, and when."""

    source: str
    target: str
    weight: float
    threshold_utilization: float
    max_cards: int


class BurstPolicy(TypedDict, total=False):
    """The declared policy by which off-cloud resources burst into the platform."""

    enabled: bool
    rules: list[BurstRule]


class NetworkPolicy(TypedDict, total=False):
    """The isolation the platform applies between tenants' networks."""

    isolation: str
    reason: str
    address_range: str


class ReplicaStatus(TypedDict, total=False):
    """One replica of a service."""

    index: int
    node_id: str
    accelerators: list[Accelerator]
    status: str


class Service(TypedDict, total=False):
    """An inference service: replicas behind one endpoint."""

    id: str
    name: str
    status: str
    replicas: int
    replica_status: list[ReplicaStatus]
    endpoint: str
    labels: dict[str, str]


class ServiceAnswer(TypedDict, total=False):
    """What a replica answered to one request through the service's endpoint."""

    replica: int
    accelerators: list[Any]
    echo: Any


@runtime_checkable
class Jobs(ActsAs, Unretried, Protocol):
    """Training and batch jobs: submit, observe, control."""

    def probe_image(self) -> str:
        """The image probe workloads run in: the target file's setting for this adapter,
        else the platform's own choice (a preset image), else the adapter's default."""
        ...

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int = 1, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> Job:
        """Submit a job of ``workers`` workers, each with ``resources`` (removed at the end
        of the check)."""
        ...

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Job]:
        """Jobs the caller may see, filtered by status and ``key=value`` label."""
        ...

    def get(self, job_id: str) -> Job:
        """One job."""
        ...

    def events(self, job_id: str) -> list[JobEvent]:
        """What happened to the job, oldest first."""
        ...

    def logs(self, job_id: str, worker: int = 0) -> str:
        """What one worker printed."""
        ...

    def stop(self, job_id: str) -> Job:
        """Stop a job; returns it."""
        ...

    def restart(self, job_id: str) -> Job:
        """Restart a job; returns it."""
        ...

    def delete(self, job_id: str) -> None:
        """Delete a job."""
        ...

    def wait(self, job_id: str, until: Collection[str] = TERMINAL_JOB_STATUSES,
             timeout: float = 120.0) -> Job:
        """Poll (with backoff) until the job's status is in ``until``; :class:`WaitTimeout`
        if not. Returns the job as last read."""
        ...


@runtime_checkable
class Training(ActsAs, Protocol):
    """Distributed training jobs the platform relaunches after a failure."""

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int, min_workers: int | None = None, max_restarts: int = 0,
               checkpoint: bool = False, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> TrainingJob:
        """Submit a training job of ``workers`` workers (removed at the end of the check).

        ``min_workers`` below ``workers`` makes it elastic; ``checkpoint`` asks for a
        checkpoint location every attempt shares (``checkpoint_uri``, given to the workers
        as ``SCA_CHECKPOINT_URI``).
        """
        ...

    def get(self, training_id: str) -> TrainingJob:
        """One training job."""
        ...

    def delete(self, training_id: str) -> None:
        """Delete a training job and its attempts."""
        ...

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> TrainingJob:
        """Poll until the status is in ``until``; :class:`WaitTimeout` if not."""
        ...


@runtime_checkable
class Scheduling(ActsAs, Protocol):
    """Scheduling policy: priority queues, burst policy."""

    def submit_queued(self, name: str, image: str, command: Sequence[str],
                      resources: Resources, *, priority: int, queue: str = "default",
                      workers: int = 1, labels: Labels | None = None) -> Job:
        """Submit a job into ``queue`` with ``priority`` (higher first); removed at the end
        of the check."""
        ...

    def burst_policy(self) -> BurstPolicy:
        """The burst policy."""
        ...


@runtime_checkable
class Network(ActsAs, Protocol):
    """Tenant networks: jobs run in their tenant's network, isolated from other tenants'."""

    def policy(self) -> NetworkPolicy:
        """What isolation the platform applies."""
        ...

    def run_in_tenant_network(self, name: str, image: str, command: Sequence[str],
                              resources: Resources, *, env: Mapping[str, str] | None = None,
                              labels: Labels | None = None) -> Job:
        """Submit a job that runs in the caller's tenant network (removed at the end of the
        check). The answer's ``network.address`` is where other jobs reach it."""
        ...


@runtime_checkable
class Services(ActsAs, Protocol):
    """Inference services deployed on chosen accelerators, with replicas behind one endpoint."""

    def deploy(self, name: str, image: str, resources: Resources, *, replicas: int = 1,
               labels: Labels | None = None) -> Service:
        """Deploy a probe service (removed at the end of the check)."""
        ...

    def get(self, service_id: str) -> Service:
        """One service."""
        ...

    def invoke(self, service_id: str, payload: Mapping[str, Any]) -> ServiceAnswer:
        """One request through the service's endpoint; the replica's answer."""
        ...

    def delete(self, service_id: str) -> None:
        """Delete a service."""
        ...

    def wait_ready(self, service_id: str, timeout: float = 60.0) -> Service:
        """Poll until every replica is ready (or the service failed); :class:`WaitTimeout`."""
        ...
