"""Capabilities of chapter 8 over the platform API: ``models``, ``model_services``
(self-deployed model services), ``finetune``, ``model_usage`` and ``workflow_apps`` (the
platform's own workflow applications; ComfyUI's API is the ``workflows`` capability of
``comfyui.py``).

Everything a facade creates carries the run label and is removed at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, runtime_checkable

import requests

from pytest_sca.adapters.base import TargetError
from pytest_sca.adapters.capabilities import Record, wait_for
from pytest_sca.adapters.platform import Facade

TERMINAL_FINETUNE = frozenset({"succeeded", "failed", "cancelled"})
TERMINAL_RUN = frozenset({"succeeded", "failed", "cancelled"})


def poll(read: Callable[[], Record], done: Callable[[Record], bool], timeout: float,
         what: str) -> Record:
    """Read until ``done`` (bounded, backing off); :class:`WaitTimeout` with the last read."""
    return wait_for(read, done, timeout, lambda last: f"{what}: still {last.get('status')!r}",
                    first=0.05, longest=1.0)


def _labels(labels: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(labels) if labels else None


@runtime_checkable
class Models(Protocol):
    """Preset and imported models, and the files they are made from."""

    def list_models(self) -> list[Record]:
        """``{id, name, kind, preset, status, parameters, context_length, license, …}``."""
        ...

    def get_model(self, model_id: str) -> Record:
        """One model."""
        ...

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Mapping[str, str] | None = None) -> Record:
        """Store a file in the platform's object storage: ``{id, bytes, uri}``."""
        ...

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Mapping[str, str] | None = None) -> Record:
        """Import a model artefact from object storage (``source`` URI)."""
        ...

    def update_model(self, model_id: str, **changes: Any) -> Record:
        """Change metadata (``name``, ``description``, ``license``, ``labels``)."""
        ...

    def delete_model(self, model_id: str) -> None:
        """Delete an imported or fine-tuned model."""
        ...


class PlatformModels(Facade):
    """Models over the platform API."""

    def list_models(self) -> list[Record]:
        return self.adapter.call("models.list")

    def get_model(self, model_id: str) -> Record:
        return self.adapter.call("models.get", model_id=model_id)

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("files.upload", "files.delete", {"file_id": "id"},
                                   filename=filename, content=content, purpose=purpose,
                                   encoding=encoding, labels=_labels(labels))

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("models.import", "models.delete", {"model_id": "id"},
                                   name=name, source=source, kind=kind, format=format,
                                   license=license, labels=_labels(labels))

    def update_model(self, model_id: str, **changes: Any) -> Record:
        return self.adapter.call("models.update", model_id=model_id, **changes)

    def delete_model(self, model_id: str) -> None:
        self.adapter.remove("models.delete", model_id=model_id)


@runtime_checkable
class ModelServices(Protocol):
    """Self-deployed model services with an OpenAI-compatible ``endpoint``."""

    def deploy(self, name: str, model: str, *, replicas: int = 1,
               resources: Mapping[str, Any] | None = None,
               labels: Mapping[str, str] | None = None) -> Record:
        """Deploy ``model``: ``{id, status, replicas, ready_replicas, endpoint, …}``."""
        ...

    def get(self, deployment_id: str) -> Record:
        """One deployment."""
        ...

    def scale(self, deployment_id: str, replicas: int) -> Record:
        """Change the number of replicas."""
        ...

    def stop(self, deployment_id: str) -> Record:
        """Stop serving (status ``stopped``)."""
        ...

    def delete(self, deployment_id: str) -> None:
        """Delete the deployment."""
        ...

    def wait(self, deployment_id: str, until: Collection[str] = ("running", "failed"),
             timeout: float = 60.0) -> Record:
        """Poll until the status is in ``until``; :class:`WaitTimeout` if not."""
        ...


class PlatformModelServices(Facade):
    """Deployments over the platform API."""

    def deploy(self, name: str, model: str, *, replicas: int = 1,
               resources: Mapping[str, Any] | None = None,
               labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("deployments.create", "deployments.delete",
                                   {"deployment_id": "id"}, name=name, model=model,
                                   replicas=replicas,
                                   resources=dict(resources) if resources else None,
                                   labels=_labels(labels))

    def list(self) -> list[Record]:
        return self.adapter.call("deployments.list")

    def get(self, deployment_id: str) -> Record:
        return self.adapter.call("deployments.get", deployment_id=deployment_id)

    def scale(self, deployment_id: str, replicas: int) -> Record:
        return self.adapter.call("deployments.scale", deployment_id=deployment_id,
                                 replicas=replicas)

    def stop(self, deployment_id: str) -> Record:
        return self.adapter.call("deployments.stop", deployment_id=deployment_id)

    def start(self, deployment_id: str) -> Record:
        return self.adapter.call("deployments.start", deployment_id=deployment_id)

    def delete(self, deployment_id: str) -> None:
        self.adapter.remove("deployments.delete", deployment_id=deployment_id)

    def wait(self, deployment_id: str, until: Collection[str] = ("running", "failed"),
             timeout: float = 60.0) -> Record:
        return poll(lambda: self.get(deployment_id), lambda d: d.get("status") in until,
                    timeout, f"deployment {deployment_id}")


@runtime_checkable
class FineTune(Protocol):
    """Fine-tuning jobs on the user's data."""

    def upload_file(self, filename: str, content: str, *, purpose: str = "fine-tune",
                    encoding: str = "text", labels: Mapping[str, str] | None = None) -> Record:
        """Upload training data (JSONL): ``{id, bytes, uri}``."""
        ...

    def create(self, base_model: str, training_file: str, *, suffix: str | None = None,
               steps: int | None = None, labels: Mapping[str, str] | None = None) -> Record:
        """Start a job: ``{id, status, fine_tuned_model, …}``."""
        ...

    def get(self, job_id: str) -> Record:
        """One job."""
        ...

    def logs(self, job_id: str) -> str:
        """What the trainer printed (loss per step)."""
        ...

    def wait(self, job_id: str, timeout: float = 120.0) -> Record:
        """Poll until the job is terminal."""
        ...


class PlatformFineTune(Facade):
    """Fine-tuning over the platform API."""

    def upload_file(self, filename: str, content: str, *, purpose: str = "fine-tune",
                    encoding: str = "text", labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("files.upload", "files.delete", {"file_id": "id"},
                                   filename=filename, content=content, purpose=purpose,
                                   encoding=encoding, labels=_labels(labels))

    def create(self, base_model: str, training_file: str, *, suffix: str | None = None,
               steps: int | None = None, labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("finetunes.create", "finetunes.delete", {"job_id": "id"},
                                   base_model=base_model, training_file=training_file,
                                   suffix=suffix, steps=steps, labels=_labels(labels))

    def get(self, job_id: str) -> Record:
        return self.adapter.call("finetunes.get", job_id=job_id)

    def logs(self, job_id: str) -> str:
        return self.adapter.call("finetunes.logs", job_id=job_id)

    def delete(self, job_id: str) -> None:
        self.adapter.remove("finetunes.delete", job_id=job_id)

    def delete_model(self, model_id: str) -> None:
        """Remove the model a job produced."""
        self.adapter.remove("models.delete", model_id=model_id)

    def wait(self, job_id: str, timeout: float = 120.0) -> Record:
        return poll(lambda: self.get(job_id), lambda j: j.get("status") in TERMINAL_FINETUNE,
                    timeout, f"fine-tuning job {job_id}")


@runtime_checkable
class ModelUsage(Protocol):
    """Usage statistics of model APIs and workflows, per user, model and period."""

    def query(self, *, user_id: str | None = None, model: str | None = None,
              since: str | None = None, until: str | None = None) -> Record:
        """``{items: [{user_id, model, requests, prompt_tokens, completion_tokens, time}],
        summary: {requests, prompt_tokens, completion_tokens, total_tokens}}``."""
        ...

    def workflows(self, *, since: str | None = None, until: str | None = None,
                  user_id: str | None = None) -> Record:
        """``{items: [{run_id, workflow_id, status, duration_s, …}], summary: {runs, …}}``."""
        ...


class PlatformModelUsage(Facade):
    """Usage statistics over the platform API."""

    def query(self, *, user_id: str | None = None, model: str | None = None,
              since: str | None = None, until: str | None = None) -> Record:
        return self.adapter.call("model_usage.query", user_id=user_id, model=model,
                                 since=since, until=until)

    def workflows(self, *, since: str | None = None, until: str | None = None,
                  user_id: str | None = None) -> Record:
        return self.adapter.call("workflow_usage.query", since=since, until=until,
                                 user_id=user_id)


@runtime_checkable
class WorkflowApps(Protocol):
    """The platform's workflow applications: import, environment, publish, run, records."""

    def import_workflow(self, name: str, workflow: Any, *,
                        labels: Mapping[str, str] | None = None) -> Record:
        """Import ComfyUI API-format JSON (object or text)."""
        ...

    def environments(self) -> list[Record]:
        """Environments a workflow can be configured with."""
        ...

    def configure(self, workflow_id: str, environment_id: str) -> Record:
        """Attach an environment; the answer carries the automatic validation's result."""
        ...

    def publish(self, workflow_id: str) -> Record:
        """Publish as a callable service."""
        ...

    def unpublish(self, workflow_id: str) -> Record:
        """Take the service offline."""
        ...

    def trial(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> Record:
        """A trial run: ``{id, status, queue_position, outputs, nodes, logs}``."""
        ...

    def invoke(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> Record:
        """Invoke the published service."""
        ...

    def wait_run(self, run_id: str, timeout: float = 60.0) -> Record:
        """Poll a run until it is terminal."""
        ...


class PlatformWorkflowApps(Facade):
    """Workflow applications over the platform API."""

    def environments(self) -> list[Record]:
        return self.adapter.call("workflow_apps.environments")

    def list_workflows(self) -> list[Record]:
        return self.adapter.call("workflow_apps.list")

    def import_workflow(self, name: str, workflow: Any, *,
                        labels: Mapping[str, str] | None = None) -> Record:
        return self.adapter.create("workflow_apps.import", "workflow_apps.delete",
                                   {"workflow_id": "id"}, name=name, workflow=workflow,
                                   labels=_labels(labels))

    def get(self, workflow_id: str) -> Record:
        return self.adapter.call("workflow_apps.get", workflow_id=workflow_id)

    def configure(self, workflow_id: str, environment_id: str) -> Record:
        return self.adapter.call("workflow_apps.configure", workflow_id=workflow_id,
                                 environment_id=environment_id)

    def validate(self, workflow_id: str) -> Record:
        return self.adapter.call("workflow_apps.validate", workflow_id=workflow_id)

    def publish(self, workflow_id: str) -> Record:
        return self.adapter.call("workflow_apps.publish", workflow_id=workflow_id)

    def unpublish(self, workflow_id: str) -> Record:
        return self.adapter.call("workflow_apps.unpublish", workflow_id=workflow_id)

    def delete(self, workflow_id: str) -> None:
        self.adapter.remove("workflow_apps.delete", workflow_id=workflow_id)

    def trial(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> Record:
        return self.adapter.call("workflow_apps.trial", workflow_id=workflow_id,
                                 inputs=dict(inputs or {}))

    def invoke(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> Record:
        return self.adapter.call("workflow_apps.invoke", workflow_id=workflow_id,
                                 inputs=dict(inputs or {}))

    def runs(self, workflow_id: str | None = None) -> list[Record]:
        return self.adapter.call("workflow_runs.list", workflow_id=workflow_id)

    def run(self, run_id: str) -> Record:
        return self.adapter.call("workflow_runs.get", run_id=run_id)

    def wait_run(self, run_id: str, timeout: float = 60.0) -> Record:
        return poll(lambda: self.run(run_id), lambda r: r.get("status") in TERMINAL_RUN,
                    timeout, f"workflow run {run_id}")

    def download(self, url: str) -> bytes:
        """The bytes of a run's output (its ``url``), with the platform's credentials."""
        # HttpClient speaks JSON and text; an image needs the raw bytes of its session.
        session = self.adapter.http._session
        try:
            response = session.get(url, timeout=self.adapter.config.timeout)
        except requests.RequestException as exc:
            raise TargetError(f"GET {url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise TargetError(f"GET {url} answered {response.status_code}")
        return response.content


FACADES: dict[str, type[Facade]] = {
    "models": PlatformModels,
    "model_services": PlatformModelServices,
    "finetune": PlatformFineTune,
    "model_usage": PlatformModelUsage,
    "workflow_apps": PlatformWorkflowApps,
}
