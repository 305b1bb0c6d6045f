"""``jobs``, ``training``, ``scheduling``, ``network`` and ``services`` over the platform API."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import (
    TERMINAL_JOB_STATUSES,
    TRAINING_FINISHED,
    BurstPolicy,
    Job,
    JobEvent,
    Labels,
    NetworkPolicy,
    Resources,
    Service,
    ServiceAnswer,
    TargetError,
    TrainingJob,
    wait_for_status,
)


def submit_job(client: PlatformClient, operation: str, name: str, image: str,
               command: Sequence[str], resources: Resources, *, workers: int = 1,
               env: Mapping[str, str] | None = None, labels: Labels | None = None,
               **extra: Any) -> Job:
    """Submit a job through ``operation`` (plain, queued or networked): removed at cleanup."""
    return client.create(  # type: ignore[no-any-return]
        operation, "jobs", "jobs.delete", {"job_id": "id"}, name=name, image=image,
        command=list(command), resources=dict(resources), workers=workers,
        env=dict(env) if env else None, labels=labels_or_none(labels), **extra)


class PlatformJobs(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Jobs` over the platform API."""

    def probe_image(self) -> str:
        if self.subject.config.probe_image:
            return self.subject.config.probe_image
        presets = [i for i in self.subject.call("images.list") if i.get("preset")]
        if not presets:
            raise TargetError("the platform lists no preset image to run probe jobs in: set "
                              "adapters.platform.probe_image in the target file")
        return f"{presets[0]['name']}:{presets[0]['tag']}"

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int = 1, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> Job:
        return submit_job(self.subject, "jobs.submit", name, image, command, resources,
                          workers=workers, env=env, labels=labels)

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Job]:
        return self.subject.call("jobs.list", status=status, label=label)

    def get(self, job_id: str) -> Job:
        return self.subject.call("jobs.get", job_id=job_id)

    def events(self, job_id: str) -> list[JobEvent]:
        return self.subject.call("jobs.events", job_id=job_id)

    def logs(self, job_id: str, worker: int = 0) -> str:
        return self.subject.call("jobs.logs", job_id=job_id, worker=worker)

    def stop(self, job_id: str) -> Job:
        return self.subject.call("jobs.stop", job_id=job_id)

    def restart(self, job_id: str) -> Job:
        return self.subject.call("jobs.restart", job_id=job_id)

    def delete(self, job_id: str) -> None:
        self.subject.remove("jobs.delete", job_id=job_id)

    def wait(self, job_id: str, until: Collection[str] = TERMINAL_JOB_STATUSES,
             timeout: float = 120.0) -> Job:
        return wait_for_status(lambda: self.get(job_id), until, timeout, f"job {job_id}")


class PlatformTraining(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Training` over the platform API."""

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int, min_workers: int | None = None, max_restarts: int = 0,
               checkpoint: bool = False, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> TrainingJob:
        return self.subject.create(
            "training.submit", "training", "training.delete", {"training_id": "id"},
            name=name, image=image, command=list(command), resources=dict(resources),
            workers=workers, min_workers=min_workers, max_restarts=max_restarts,
            checkpoint=checkpoint, env=dict(env) if env else None,
            labels=labels_or_none(labels))

    def get(self, training_id: str) -> TrainingJob:
        return self.subject.call("training.get", training_id=training_id)

    def delete(self, training_id: str) -> None:
        self.subject.remove("training.delete", training_id=training_id)

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> TrainingJob:
        return wait_for_status(lambda: self.get(training_id), until, timeout,
                               f"training job {training_id}", longest=1.0)


class PlatformScheduling(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Scheduling` over the platform API."""

    def submit_queued(self, name: str, image: str, command: Sequence[str],
                      resources: Resources, *, priority: int, queue: str = "default",
                      workers: int = 1, labels: Labels | None = None) -> Job:
        return submit_job(self.subject, "jobs.submit_queued", name, image, command, resources,
                          workers=workers, labels=labels, priority=priority, queue=queue)

    def burst_policy(self) -> BurstPolicy:
        return self.subject.call("scheduling.burst_policy")


class PlatformNetwork(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Network` over the platform API."""

    def policy(self) -> NetworkPolicy:
        return self.subject.call("network.policy")

    def run_in_tenant_network(self, name: str, image: str, command: Sequence[str],
                              resources: Resources, *, env: Mapping[str, str] | None = None,
                              labels: Labels | None = None) -> Job:
        return submit_job(self.subject, "jobs.submit_networked", name, image, command,
                          resources, env=env, labels=labels, network="tenant")


class PlatformServices(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Services` over the platform API."""

    def deploy(self, name: str, image: str, resources: Resources, *, replicas: int = 1,
               labels: Labels | None = None) -> Service:
        return self.subject.create(
            "services.create", "services", "services.delete", {"service_id": "id"},
            name=name, image=image, replicas=replicas, resources=dict(resources),
            labels=labels_or_none(labels))

    def get(self, service_id: str) -> Service:
        return self.subject.call("services.get", service_id=service_id)

    def invoke(self, service_id: str, payload: Mapping[str, Any]) -> ServiceAnswer:
        return self.subject.call("services.invoke", service_id=service_id,
                                 payload=dict(payload))

    def delete(self, service_id: str) -> None:
        self.subject.remove("services.delete", service_id=service_id)

    def wait_ready(self, service_id: str, timeout: float = 60.0) -> Service:
        return wait_for_status(lambda: self.get(service_id), ("ready", "failed", "stopped"),
                               timeout, f"service {service_id}", longest=1.0)
