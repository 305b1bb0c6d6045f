"""The ``training`` capability over the platform API: fault-tolerant training jobs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record, wait_for
from pytest_sca.adapters.platform import Facade

#: Training job statuses after which nothing happens without a request.
TRAINING_FINISHED = frozenset({"succeeded", "failed", "stopped"})


@runtime_checkable
class Training(ActsAs, Protocol):
    """Distributed training jobs the platform relaunches after a failure."""

    def submit(
        self,
        name: str,
        image: str,
        command: Sequence[str],
        resources: Mapping[str, Any],
        *,
        workers: int,
        min_workers: int | None = None,
        max_restarts: int = 0,
        checkpoint: bool = False,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Submit a training job of ``workers`` workers (removed at the end of the run).

        ``min_workers`` below ``workers`` makes it elastic; ``checkpoint`` asks for a
        checkpoint location every attempt shares (``checkpoint_uri``, given to the
        workers as ``SCA_CHECKPOINT_URI``). The answer: ``{id, status, min_workers,
        max_workers, world_size, restarts, checkpoint_uri, attempts: [{attempt, job_id,
        world_size, status}]}``.
        """
        ...

    def get(self, training_id: str) -> Record:
        """One training job."""
        ...

    def delete(self, training_id: str) -> None:
        """Delete a training job and its attempts."""
        ...

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> Record:
        """Poll until the status is in ``until``; :class:`WaitTimeout` if not."""
        ...


class PlatformTraining(Facade):
    """Training jobs over the platform API."""

    def submit(
        self,
        name: str,
        image: str,
        command: Sequence[str],
        resources: Mapping[str, Any],
        *,
        workers: int,
        min_workers: int | None = None,
        max_restarts: int = 0,
        checkpoint: bool = False,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(
            "training.submit", "training.delete", {"training_id": "id"},
            name=name, image=image, command=list(command), resources=dict(resources),
            workers=workers, min_workers=min_workers, max_restarts=max_restarts,
            checkpoint=checkpoint, env=dict(env) if env else None,
            labels=dict(labels) if labels else None,
        )

    def get(self, training_id: str) -> Record:
        return self.adapter.call("training.get", training_id=training_id)

    def delete(self, training_id: str) -> None:
        self.adapter.remove("training.delete", training_id=training_id)

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> Record:
        return wait_for(
            lambda: self.get(training_id), lambda found: found.get("status") in until, timeout,
            lambda found: f"training job {training_id} still {found.get('status')!r}",
            longest=1.0)


FACADES: dict[str, type[Any]] = {"training": PlatformTraining}
