"""``models``, ``model_services``, ``finetune`` and ``model_usage`` over the platform API.

Everything created carries the run label and is removed at the end of the check,
the model a fine-tuning job produced included.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import (
    FINETUNE_FINISHED,
    ArtefactFile,
    Deployment,
    FineTuneJob,
    Labels,
    Model,
    ModelUsageReport,
    Resources,
    ServiceReplica,
    StoredFile,
    TrainingMetric,
    Unsupported,
    WorkflowUsageReport,
    wait_for_status,
)

if TYPE_CHECKING:
    from typing_extensions import Self


class _CreatesItsOwnTenants(Facade[PlatformClient]):
    """The platform creates users: a second principal comes from ``tenancy`` (the
    ``probe_tenant`` fixture and ``acting_as``), never from the target file."""

    @property
    def has_other_tenant(self) -> bool:
        return False

    def as_other_tenant(self) -> Self:
        raise Unsupported("the platform adapter names no second principal: create one with "
                          "tenancy (probe_tenant) and act as its key (acting_as)")


def upload_file(client: PlatformClient, filename: str, content: str, *, purpose: str,
                encoding: str, labels: Labels | None) -> StoredFile:
    """Store a file in the platform's object storage (removed at cleanup)."""
    return client.create(  # type: ignore[no-any-return]
        "files.upload", "files", "files.delete", {"file_id": "id"}, filename=filename,
        content=content, purpose=purpose, encoding=encoding, labels=labels_or_none(labels))


class PlatformModels(_CreatesItsOwnTenants):
    """:class:`~pytest_sca.capabilities.Models` over the platform API."""

    def list_models(self) -> list[Model]:
        return self.subject.call("models.list")

    def get_model(self, model_id: str) -> Model:
        return self.subject.call("models.get", model_id=model_id)

    def artefact_files(self, model_id: str) -> list[ArtefactFile]:
        return self.subject.call("models.files", model_id=model_id)

    def artefact_text(self, model_id: str, path: str) -> str:
        return str(self.subject.call("models.file", model_id=model_id, path=path))

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        return upload_file(self.subject, filename, content, purpose=purpose, encoding=encoding,
                           labels=labels)

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Labels | None = None) -> Model:
        return self.subject.create(
            "models.import", "models", "models.delete", {"model_id": "id"}, name=name,
            source=source, kind=kind, format=format, license=license,
            labels=labels_or_none(labels))

    def update_model(self, model_id: str, **changes: Any) -> Model:
        return self.subject.call("models.update", model_id=model_id, **changes)

    def delete_model(self, model_id: str) -> None:
        self.subject.remove("models.delete", model_id=model_id)


class PlatformModelServices(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.ModelServices` over the platform API."""

    def deploy(self, name: str, model: str, *, replicas: int = 1,
               resources: Resources | None = None,
               labels: Labels | None = None) -> Deployment:
        return self.subject.create(
            "deployments.create", "deployments", "deployments.delete",
            {"deployment_id": "id"}, name=name, model=model, replicas=replicas,
            resources=dict(resources) if resources else None, labels=labels_or_none(labels))

    def get(self, deployment_id: str) -> Deployment:
        return self.subject.call("deployments.get", deployment_id=deployment_id)

    def scale(self, deployment_id: str, replicas: int) -> Deployment:
        return self.subject.call("deployments.scale", deployment_id=deployment_id,
                                 replicas=replicas)

    def stop(self, deployment_id: str) -> Deployment:
        return self.subject.call("deployments.stop", deployment_id=deployment_id)

    def delete(self, deployment_id: str) -> None:
        self.subject.remove("deployments.delete", deployment_id=deployment_id)

    def replicas(self, deployment_id: str) -> list[ServiceReplica]:
        # A mapping without ``deployments.replicas`` raises Unsupported: the platform shows
        # no replica.
        return self.subject.call("deployments.replicas", deployment_id=deployment_id)

    def wait(self, deployment_id: str, until: Collection[str] = ("running", "failed"),
             timeout: float = 60.0) -> Deployment:
        return wait_for_status(lambda: self.get(deployment_id), until, timeout,
                               f"deployment {deployment_id}", first=0.05, longest=1.0)


class PlatformFineTune(_CreatesItsOwnTenants):
    """:class:`~pytest_sca.capabilities.FineTune` over the platform API."""

    def upload_file(self, filename: str, content: str, *, purpose: str = "fine-tune",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        return upload_file(self.subject, filename, content, purpose=purpose, encoding=encoding,
                           labels=labels)

    def create(self, base_model: str, training_file: str, *, suffix: str | None = None,
               steps: int | None = None, labels: Labels | None = None) -> FineTuneJob:
        return self.subject.create(
            "finetunes.create", "finetunes", "finetunes.delete", {"job_id": "id"},
            base_model=base_model, training_file=training_file, suffix=suffix, steps=steps,
            labels=labels_or_none(labels))

    def get(self, job_id: str) -> FineTuneJob:
        job: FineTuneJob = self.subject.call("finetunes.get", job_id=job_id)
        produced = job.get("fine_tuned_model")
        if produced:
            # The model a job of this run produced is the run's too: removed at cleanup.
            self.subject.register_removal("models", "models.delete", {"model_id": produced})
        return job

    def logs(self, job_id: str) -> str:
        return self.subject.call("finetunes.logs", job_id=job_id)

    def training_metrics(self, job_id: str) -> list[TrainingMetric]:
        # The reference API reports a job's losses in its trainer's log only.
        return []

    def wait(self, job_id: str, timeout: float = 120.0) -> FineTuneJob:
        return wait_for_status(lambda: self.get(job_id), FINETUNE_FINISHED, timeout,
                               f"fine-tuning job {job_id}", first=0.05, longest=1.0)


class PlatformModelUsage(_CreatesItsOwnTenants):
    """:class:`~pytest_sca.capabilities.ModelUsage` over the platform API."""

    def query(self, *, user_id: str | None = None, model: str | None = None,
              since: str | None = None, until: str | None = None) -> ModelUsageReport:
        return self.subject.call("model_usage.query", user_id=user_id, model=model,
                                 since=since, until=until)

    def workflows(self, *, since: str | None = None, until: str | None = None,
                  user_id: str | None = None) -> WorkflowUsageReport:
        return self.subject.call("workflow_usage.query", since=since, until=until,
                                 user_id=user_id)

    def other_tenant_user(self) -> str:
        raise Unsupported("the platform adapter names no second principal: a usage check "
                          "creates its own probe user with tenancy")
