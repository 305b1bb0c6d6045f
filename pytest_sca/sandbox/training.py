"""Distributed training: fault-tolerant training jobs (elastic range, checkpoint-and-resume).

A training job is a controller over ordinary jobs (``jobs.py``): it submits
one attempt, and when an attempt fails it relaunches a new one, as long as
restarts remain. An elastic training job (``min_workers < max_workers``)
relaunches with the workers that survived (never fewer than ``min_workers``);
one with a checkpoint gets a location in its tenant's object storage
(``SCA_CHECKPOINT_URI``) that every attempt shares, so a relaunch can resume
from the last step saved there. The controller follows its attempts in the
job runner's tick (:meth:`JobRunner.add_tick_listener`), under the store lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.s3 import ObjectStorage
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now
from pytest_sca.sandbox.tenancy import Tenancy

#: Training job statuses after which the controller does nothing more.
TRAINING_FINISHED = ("succeeded", "failed", "stopped")
#: The label that ties an attempt (a job) to its training job.
TRAINING_LABEL = "sca-training"


class TrainingController:
    """Fault-tolerant training jobs over the platform's job runner."""

    def __init__(self, store: Store, runner: JobRunner, permissions: Permissions,
                 tenancy: Tenancy, storage: ObjectStorage | None, files: Path,
                 faults: Faults) -> None:
        self.store = store
        self.runner = runner
        self.permissions = permissions
        self.tenancy = tenancy
        self.storage = storage
        self.files = files
        self.faults = faults

    # requests -------------------------------------------------------------------------------

    def create(self, who: Principal, spec: dict[str, Any]) -> Document:
        """Record a training job and submit its first attempt (quota is checked there)."""
        max_workers = int(spec["workers"])
        min_workers = int(spec.get("min_workers") or max_workers)
        if not 1 <= min_workers <= max_workers:
            raise ApiError(422, "invalid_request",
                           f"min_workers {min_workers} must be within 1..workers {max_workers}")
        training: Document = {
            "id": new_id("train"),
            "tenant_id": who.tenant_id,
            "owner": who.user_id,
            "name": spec["name"],
            "image": spec["image"],
            "command": list(spec["command"]),
            "resources": dict(spec["resources"]),
            "env": dict(spec.get("env") or {}),
            "labels": dict(spec.get("labels") or {}),
            "min_workers": min_workers,
            "max_workers": max_workers,
            "elastic": min_workers < max_workers,
            "max_restarts": int(spec.get("max_restarts") or 0),
            "restarts": 0,
            "checkpoint": bool(spec.get("checkpoint")),
            "checkpoint_uri": None,
            "world_size": max_workers,
            "status": "running",
            "attempts": [],
            "created_at": utc_now(),
            "finished_at": None,
            "simulated": int(spec["resources"].get("accelerators") or 0) > 0,
        }
        with self.store.lock:
            if training["checkpoint"]:
                training["checkpoint_uri"] = self._checkpoint_uri(training, attempt=1)
            self._launch(training, max_workers)
            self.store.put("training", training)
        return training

    def get(self, who: Principal, training_id: str) -> Document:
        """One training job the caller's tenant owns, or 404."""
        training = self.store.get("training", training_id)
        if training is None or not self.permissions.can_read_tenant(
                who, training["tenant_id"], cross_tenant_kind=False):
            raise not_found(f"training job {training_id}")
        return training

    def list(self, who: Principal) -> list[Document]:
        """Training jobs of the caller's tenant (every tenant's for a platform admin)."""
        tenant = None if who.is_platform_admin else who.tenant_id
        return self.store.list("training", tenant_id=tenant)

    def delete(self, training: Document) -> None:
        """Delete the training job and every attempt it launched."""
        with self.store.lock:
            for job_id in training["attempts"]:
                if self.store.get("job", job_id) is not None:
                    self.runner.delete(job_id)
            self.store.delete("training", training["id"])

    def answer(self, training: Document) -> Document:
        """The training job as the API shows it, with each attempt's state."""
        attempts = []
        for number, job_id in enumerate(training["attempts"], start=1):
            job = self.store.get("job", job_id) or {}
            attempts.append({
                "attempt": number, "job_id": job_id, "world_size": job.get("world_size"),
                "status": job.get("status", "deleted"), "exit_code": job.get("exit_code"),
                "workers": [{"rank": w["rank"], "status": w["status"],
                             "exit_code": w["exit_code"]} for w in job.get("workers", [])],
            })
        return {**{k: v for k, v in training.items() if not k.startswith("_")},
                "attempts": attempts}

    # the controller ---------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Follow every active training job's last attempt; relaunch a failed one if allowed."""
        for training in self.store.list("training", status="running"):
            job = self.store.get("job", training["attempts"][-1])
            status = job["status"] if job else "failed"
            if status in ("pending", "running"):
                continue
            if status == "failed" and job is not None and self._relaunch(training, job):
                continue
            training["status"] = status
            training["finished_at"] = utc_now()
            self.store.put("training", training)

    def _relaunch(self, training: Document, failed: Document) -> bool:
        if Fault.ELASTIC_RELAUNCH_OFF in self.faults:
            return False
        if training["restarts"] >= training["max_restarts"]:
            return False
        world = int(failed["world_size"])
        if training["elastic"]:
            lost = sum(1 for w in failed["workers"] if w["status"] == "failed")
            world = max(1, world - max(lost, 1))
            if world < training["min_workers"]:
                return False
        training["restarts"] += 1
        if training["checkpoint"]:
            training["checkpoint_uri"] = self._checkpoint_uri(
                training, attempt=len(training["attempts"]) + 1)
        self._launch(training, world)
        self.store.put("training", training)
        return True

    def _launch(self, training: Document, world: int) -> None:
        owner = Principal(training["owner"], training["tenant_id"], "member")
        attempt = len(training["attempts"]) + 1
        env = {**training["env"], "SCA_TRAINING_ID": training["id"],
               "SCA_TRAINING_ATTEMPT": str(attempt)}
        if training["checkpoint"]:
            env["SCA_CHECKPOINT_URI"] = training["checkpoint_uri"]
            env["SCA_CHECKPOINT_CREDENTIALS"] = str(self._credentials_file(training))
        job = self.runner.submit(owner, {
            "name": f"{training['name']}-attempt-{attempt}",
            "image": training["image"],
            "command": training["command"],
            "env": env,
            "resources": training["resources"],
            "workers": world,
            "labels": {**training["labels"], TRAINING_LABEL: training["id"]},
        })
        training["attempts"].append(job["id"])
        training["world_size"] = world

    # checkpoints -------------------------------------------------------------------------------

    def _checkpoint_uri(self, training: Document, attempt: int) -> str:
        tenant = self.tenancy.tenant(training["tenant_id"])
        prefix = f"s3://{tenant['storage']['bucket']}/training/{training['id']}/"
        if Fault.CHECKPOINTS_NOT_CARRIED_OVER in self.faults:
            prefix += f"attempt-{attempt}/"
        return prefix

    def _credentials_file(self, training: Document) -> Path:
        """The tenant's object-storage key for the job, in a file only this user can read.

        A path in the environment, not the key itself: job answers show their env.
        """
        tenant = self.tenancy.tenant(training["tenant_id"])
        storage = self.storage
        path = self.files / training["id"] / "s3-credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = json.dumps({
            "endpoint": storage.tenant_endpoint if storage is not None else None,
            "access_key": tenant["storage"]["access_key"],
            "secret_key": tenant["storage"]["secret_key"],
        })
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        return path
