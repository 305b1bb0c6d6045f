"""``workflow_apps`` over the platform API: the platform's own workflow applications
(ComfyUI's own API is the ``comfyui`` adapter's ``workflows``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.development import RawRequests
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import (
    RUN_FINISHED,
    Labels,
    WorkflowApp,
    WorkflowEnvironment,
    WorkflowRun,
    wait_for_status,
)


class PlatformWorkflowApps(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.WorkflowApps` over the platform API."""

    def import_workflow(self, name: str, workflow: Any, *,
                        labels: Labels | None = None) -> WorkflowApp:
        return self.subject.create(
            "workflow_apps.import", "workflow_apps", "workflow_apps.delete",
            {"workflow_id": "id"}, name=name, workflow=workflow, labels=labels_or_none(labels))

    def list_workflows(self) -> list[WorkflowApp]:
        return self.subject.call("workflow_apps.list")

    def get(self, workflow_id: str) -> WorkflowApp:
        return self.subject.call("workflow_apps.get", workflow_id=workflow_id)

    def delete(self, workflow_id: str) -> None:
        self.subject.remove("workflow_apps.delete", workflow_id=workflow_id)

    def environments(self) -> list[WorkflowEnvironment]:
        return self.subject.call("workflow_apps.environments")

    def configure(self, workflow_id: str, environment_id: str) -> WorkflowApp:
        return self.subject.call("workflow_apps.configure", workflow_id=workflow_id,
                                 environment_id=environment_id)

    def publish(self, workflow_id: str) -> WorkflowApp:
        return self.subject.call("workflow_apps.publish", workflow_id=workflow_id)

    def unpublish(self, workflow_id: str) -> WorkflowApp:
        return self.subject.call("workflow_apps.unpublish", workflow_id=workflow_id)

    def trial(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> WorkflowRun:
        return self.subject.call("workflow_apps.trial", workflow_id=workflow_id,
                                 inputs=dict(inputs or {}))

    def invoke(self, workflow_id: str, inputs: Mapping[str, Any] | None = None) -> WorkflowRun:
        return self.subject.call("workflow_apps.invoke", workflow_id=workflow_id,
                                 inputs=dict(inputs or {}))

    def runs(self, workflow_id: str | None = None) -> list[WorkflowRun]:
        return self.subject.call("workflow_runs.list", workflow_id=workflow_id)

    def wait_run(self, run_id: str, timeout: float = 60.0) -> WorkflowRun:
        return wait_for_status(lambda: self.subject.call("workflow_runs.get", run_id=run_id),
                               RUN_FINISHED, timeout, f"workflow run {run_id}",
                               first=0.05, longest=1.0)

    def download(self, url: str) -> bytes:
        return RawRequests(self.subject).content(url)
