"""``models`` and ``finetune`` over OpenAI's API: ``GET/DELETE /models/{model}``, ``/files``
and ``/fine_tuning/jobs`` (with its events, checkpoints and cancel).

What OpenAI's API has no endpoint for (importing a model artefact, changing a model's
metadata) raises :class:`~pytest_sca.capabilities.Unsupported`: those items need the
vendor's management API (``adapters.platform``). Everything created carries the run id
(file names, a fine-tuning job's ``suffix`` and ``metadata``) and its removal is
registered at once: a file, a job (cancelled if still running), the model it produced.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.openai.client import OpenAIClient, segment
from pytest_sca.adapters.openai.fields import INFO_FIELDS, info
from pytest_sca.adapters.openai.inference import list_served
from pytest_sca.capabilities import (
    FINETUNE_FINISHED,
    RUN_LABEL,
    ArtefactFile,
    FineTuneJob,
    Labels,
    Model,
    Refused,
    StoredFile,
    TargetError,
    TrainingMetric,
    Unsupported,
    wait_for_status,
)

#: OpenAI's file purposes for the contract's ``purpose``; ``model`` has none: OpenAI's API
#: turns no file into a model.
FILE_PURPOSES: dict[str, str] = {"fine-tune": "fine-tune", "batch": "batch",
                                 "user_data": "user_data", "evals": "evals",
                                 "vision": "vision", "assistants": "assistants"}

#: OpenAI's limits: a suffix of at most 64 characters, 16 metadata pairs.
SUFFIX_MAX = 64
METADATA_MAX = 16

NO_IMPORT = ("OpenAI's API has no model import (no endpoint takes a model artefact): import "
             "through the vendor's management API (adapters.platform)")
#: Why OpenAI's API reads no model files.
NO_ARTEFACT_ACCESS = ("OpenAI's API serves no model files (no config.json, no weights): read "
                      "them through the vendor's management API (adapters.platform)")


def iso(seconds: Any) -> str | None:
    """A Unix time as ISO 8601 UTC, or None."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_fine_tuned(model_id: str, client: OpenAIClient) -> bool:
    """Whether ``model_id`` is a fine-tuned model: OpenAI names them ``ft:…``, and a job of
    this run may have produced it."""
    return model_id.startswith("ft:") or model_id in produced_models(client)


def produced_models(client: OpenAIClient) -> set[str]:
    """Models fine-tuning jobs of this run produced at the endpoint (every principal's)."""
    return client.discovery.produced


def to_model(entry: Mapping[str, Any], client: OpenAIClient) -> Model:
    """An OpenAI model object as the contract's :class:`Model`."""
    model_id = str(entry.get("id", ""))
    model: Model = {"id": model_id, "name": model_id,
                    "preset": not is_fine_tuned(model_id, client)}
    if isinstance(entry.get("owned_by"), str):
        model["owned_by"] = entry["owned_by"]
    created = iso(entry.get("created"))
    if created:
        model["created_at"] = created
    for field in INFO_FIELDS:
        found = info(entry, field)
        if found is not None:
            model[field] = found  # type: ignore[literal-required]
    if isinstance(entry.get("description"), str):
        model["description"] = entry["description"]
    return model


def run_filename(filename: str, run_id: str) -> str:
    """``filename`` carrying the run id (the only mark an OpenAI file can carry)."""
    return filename if run_id.lower() in filename.lower() else f"sca-{run_id}-{filename}"


def upload(client: OpenAIClient, filename: str, content: str, purpose: str,
           encoding: str) -> StoredFile:
    """``POST /files`` (multipart); its removal (``DELETE /files/{id}``) registered."""
    if purpose not in FILE_PURPOSES:
        why = f"OpenAI's files API takes no {purpose!r} file ({', '.join(FILE_PURPOSES)})"
        raise Unsupported(f"{why}; {NO_IMPORT}" if purpose == "model" else why)
    data = base64.b64decode(content) if encoding == "base64" else content.encode("utf-8")
    name = run_filename(filename, client.context.run_id)
    answer = client.call("files", "POST", "/files", data={"purpose": FILE_PURPOSES[purpose]},
                         files={"file": (name, data)})
    if not isinstance(answer, dict) or not answer.get("id"):
        raise TargetError(f"POST {client.base_url}/files: the answer names no file id")
    file_id = str(answer["id"])
    client.register("files", f"delete file {file_id} ({name})",
                    lambda: client.delete_quietly("files.delete", f"/files/{segment(file_id)}"))
    stored: StoredFile = {"id": file_id, "filename": str(answer.get("filename", name)),
                          "purpose": str(answer.get("purpose", FILE_PURPOSES[purpose]))}
    if isinstance(answer.get("bytes"), int):
        stored["bytes"] = answer["bytes"]
    return stored


def delete_model(client: OpenAIClient, model_id: str) -> None:
    """``DELETE /models/{model}``: a refusal unless the answer says it was deleted."""
    answer = client.call("models.delete", "DELETE", f"/models/{segment(model_id)}")
    if isinstance(answer, dict) and answer.get("deleted") is False:
        raise Refused(f"DELETE /models/{model_id}", None, None,
                      "the server answered deleted: false")


class OpenAIModels(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.Models` over OpenAI's ``/models`` and ``/files``."""

    def list_models(self) -> list[Model]:
        return [to_model(entry, self.subject) for entry in list_served(self.subject)]

    def get_model(self, model_id: str) -> Model:
        answer = self.subject.call("models.retrieve", "GET", f"/models/{segment(model_id)}")
        if not isinstance(answer, dict) or not answer.get("id"):
            raise TargetError(f"GET {self.subject.base_url}/models/{model_id}: the answer is "
                              "not a model object")
        return to_model(answer, self.subject)

    def artefact_files(self, model_id: str) -> list[ArtefactFile]:
        raise Unsupported(NO_ARTEFACT_ACCESS)

    def artefact_text(self, model_id: str, path: str) -> str:
        raise Unsupported(NO_ARTEFACT_ACCESS)

    def upload_file(self, filename: str, content: str, *, purpose: str = "model",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        return upload(self.subject, filename, content, purpose, encoding)

    def import_model(self, name: str, source: str, *, kind: str = "llm",
                     format: str | None = None, license: str | None = None,
                     labels: Labels | None = None) -> Model:
        raise Unsupported(NO_IMPORT)

    def update_model(self, model_id: str, **changes: Any) -> Model:
        raise Unsupported("OpenAI's API changes no model metadata (models can only be listed, "
                          "retrieved and deleted): use the vendor's management API "
                          "(adapters.platform)")

    def delete_model(self, model_id: str) -> None:
        delete_model(self.subject, model_id)

    @property
    def has_other_tenant(self) -> bool:
        return self.subject.has_other_tenant

    def as_other_tenant(self) -> OpenAIModels:
        return OpenAIModels(self.subject.other_tenant())


def to_job(answer: Any, client: OpenAIClient) -> FineTuneJob:
    """A ``fine_tuning.job`` object as the contract's :class:`FineTuneJob`."""
    if not isinstance(answer, dict) or not answer.get("id") or not answer.get("status"):
        raise TargetError(f"{client.base_url}/fine_tuning/jobs: the answer is not a "
                          "fine_tuning.job object (no id or status)")
    job: FineTuneJob = {"id": str(answer["id"]), "status": str(answer["status"]),
                        "base_model": str(answer.get("model", "")),
                        "training_file": str(answer.get("training_file", "")),
                        "fine_tuned_model": answer.get("fine_tuned_model"),
                        "finished_at": iso(answer.get("finished_at"))}
    error = answer.get("error")
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        job["error"] = str(error.get("message") or error.get("code"))
    hyper = answer.get("hyperparameters") or {}
    if isinstance(hyper, dict) and isinstance(hyper.get("n_epochs"), int):
        job["epochs"] = hyper["n_epochs"]
    metadata = answer.get("metadata")
    if isinstance(metadata, dict):
        job["labels"] = {str(k): str(v) for k, v in metadata.items()}
    return job


def finish_job(client: OpenAIClient, job_id: str) -> None:
    """Undo a fine-tuning job: cancel it if it still runs, delete the model it produced."""
    path = f"/fine_tuning/jobs/{segment(job_id)}"
    try:
        job = client.call("fine_tuning", "GET", path)
    except Refused as refusal:
        if refusal.status == 404:
            return
        raise
    if isinstance(job, dict) and job.get("status") not in FINETUNE_FINISHED:
        try:
            client.call("fine_tuning.cancel", "POST", path + "/cancel")
        except Refused as refusal:
            if refusal.status not in (400, 404, 409):  # finished meanwhile
                raise
        job = client.call("fine_tuning", "GET", path)
    produced = job.get("fine_tuned_model") if isinstance(job, dict) else None
    if produced:
        try:
            client.call("models.delete", "DELETE", f"/models/{segment(str(produced))}")
        except Refused as refusal:
            if refusal.status != 404:
                raise
    for result_file in (job.get("result_files") or []) if isinstance(job, dict) else []:
        client.delete_quietly("files.delete", f"/files/{segment(str(result_file))}")


def job_events(client: OpenAIClient, job_id: str) -> list[dict[str, Any]]:
    """The job's events, oldest first (OpenAI lists newest first; ordered by time, stable)."""
    path = f"/fine_tuning/jobs/{segment(job_id)}"
    events: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(50):  # 50 pages of 100 events: far more than a probe job prints
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = client.checked(client.call("fine_tuning.events", "GET", path + "/events",
                                          params=params), "data", "GET …/events")
        events += [e for e in page["data"] if isinstance(e, dict)]
        if not page.get("has_more") or not page["data"]:
            break
        after = str(page["data"][-1].get("id"))
    return sorted(reversed(events), key=lambda e: e.get("created_at") or 0)


def job_checkpoints(client: OpenAIClient, job_id: str) -> list[dict[str, Any]]:
    """The job's checkpoints (none where the server has no checkpoints endpoint)."""
    path = f"/fine_tuning/jobs/{segment(job_id)}/checkpoints"
    try:
        answer = client.call("fine_tuning.checkpoints", "GET", path, params={"limit": 100})
    except Unsupported:
        return []
    return [c for c in (answer or {}).get("data") or [] if isinstance(c, dict)]


def job_logs(client: OpenAIClient, job_id: str) -> str:
    """The job's events, oldest first, one per line; a metrics event without a loss in its
    message gets one from its ``data``; then its checkpoints."""
    lines = []
    for event in job_events(client, job_id):
        message = str(event.get("message", ""))
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        if "loss" not in message.lower() and data and "train_loss" in data:
            message += f" (step {data.get('step')} loss {data['train_loss']})"
        lines.append(message)
    for checkpoint in job_checkpoints(client, job_id):
        metrics = checkpoint.get("metrics") or {}
        lines.append(f"checkpoint {checkpoint.get('fine_tuned_model_checkpoint')} step "
                     f"{checkpoint.get('step_number')} loss {metrics.get('train_loss')}")
    return "\n".join(lines)


def _metric(step: Any, loss: Any, source: str) -> TrainingMetric | None:
    """One step's loss, when both are numbers (a bool is not)."""
    if (isinstance(step, int) and not isinstance(step, bool)
            and isinstance(loss, int | float) and not isinstance(loss, bool)):
        return {"step": step, "train_loss": float(loss), "source": source}
    return None


def job_metrics(client: OpenAIClient, job_id: str) -> list[TrainingMetric]:
    """The losses the job reports in structured form: each metrics event's ``data``
    (``step``, ``train_loss``), then each checkpoint's ``metrics`` (``train_loss`` at its
    ``step_number``, else ``metrics.step``), each source in step order."""
    found: list[TrainingMetric] = []
    for event in job_events(client, job_id):
        data = event.get("data")
        if isinstance(data, dict):
            metric = _metric(data.get("step"), data.get("train_loss"), "event")
            if metric:
                found.append(metric)
    points: list[TrainingMetric] = []
    for checkpoint in job_checkpoints(client, job_id):
        metrics = checkpoint.get("metrics")
        if isinstance(metrics, dict):
            step = checkpoint.get("step_number", metrics.get("step"))
            metric = _metric(step, metrics.get("train_loss"), "checkpoint")
            if metric:
                points.append(metric)
    return (sorted(found, key=lambda m: m["step"])
            + sorted(points, key=lambda m: m["step"]))


class OpenAIFineTune(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.FineTune` over ``/files`` and ``/fine_tuning/jobs``.

    ``steps`` is not sent: OpenAI's API takes epochs, not steps. The run id goes into the
    job's ``suffix`` (so into the fine-tuned model's name) and its ``metadata``.
    """

    def upload_file(self, filename: str, content: str, *, purpose: str = "fine-tune",
                    encoding: str = "text", labels: Labels | None = None) -> StoredFile:
        return upload(self.subject, filename, content, purpose, encoding)

    def create(self, base_model: str, training_file: str, *, suffix: str | None = None,
               steps: int | None = None, labels: Labels | None = None) -> FineTuneJob:
        client = self.subject
        run_id = client.context.run_id
        tail = f"-{run_id}"
        named = (suffix or "sca")[:SUFFIX_MAX - len(tail)] + tail
        metadata = {**{str(k)[:64]: str(v)[:512] for k, v in (labels or {}).items()},
                    RUN_LABEL: run_id}
        body = {"model": base_model, "training_file": training_file, "suffix": named,
                "metadata": dict(list(metadata.items())[-METADATA_MAX:])}
        job = to_job(client.call("fine_tuning", "POST", "/fine_tuning/jobs", json_body=body),
                     client)
        client.register("fine_tuning.jobs", f"cancel fine-tuning job {job['id']} and delete "
                        "its model", lambda: finish_job(client, job["id"]))
        return job

    def get(self, job_id: str) -> FineTuneJob:
        client = self.subject
        job = to_job(client.call("fine_tuning", "GET", f"/fine_tuning/jobs/{segment(job_id)}"),
                     client)
        produced = job.get("fine_tuned_model")
        if produced:
            # The model is the run's; its removal rides on the job's (registered at create).
            produced_models(client).add(str(produced))
        return job

    def logs(self, job_id: str) -> str:
        return job_logs(self.subject, job_id)

    def training_metrics(self, job_id: str) -> list[TrainingMetric]:
        return job_metrics(self.subject, job_id)

    def wait(self, job_id: str, timeout: float = 120.0) -> FineTuneJob:
        return wait_for_status(lambda: self.get(job_id), FINETUNE_FINISHED, timeout,
                               f"fine-tuning job {job_id}", first=0.2, longest=5.0)

    @property
    def has_other_tenant(self) -> bool:
        return self.subject.has_other_tenant

    def as_other_tenant(self) -> OpenAIFineTune:
        return OpenAIFineTune(self.subject.other_tenant())


def to_stored(answer: Any, what: str, client: OpenAIClient) -> StoredFile:
    """An OpenAI file object as the contract's :class:`StoredFile`; :class:`TargetError`
    when the answer is not one."""
    if not isinstance(answer, dict) or not answer.get("id"):
        raise TargetError(f"{what} at {client.base_url}: the answer is not a file object")
    stored: StoredFile = {"id": str(answer["id"]), "filename": str(answer.get("filename", "")),
                          "purpose": str(answer.get("purpose", ""))}
    if isinstance(answer.get("bytes"), int):
        stored["bytes"] = answer["bytes"]
    return stored


class OpenAIFiles(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.Files` over ``/files`` (OpenAI's files API: upload,
    retrieve, ``/files/{file_id}/content``, list, delete).

    Files are uploaded with purpose ``user_data`` (OpenAI's "flexible file type for any
    purpose"). Reads of one file are not used to discover the family: a 404 for another
    principal's file is the refusal the isolation check asks for, even when its body is
    FastAPI's bare ``Not Found``.
    """

    def upload(self, filename: str, content: bytes) -> StoredFile:
        return upload(self.subject, filename, base64.b64encode(content).decode("ascii"),
                      "user_data", "base64")

    def _read(self, method: str, path: str) -> Any:
        client = self.subject
        client.discovery.require("files", client)
        response = client.send(method, path)
        client.raise_for(response, method, path)
        return response

    def get(self, file_id: str) -> StoredFile:
        path = f"/files/{segment(file_id)}"
        response = self._read("GET", path)
        try:
            answer = response.json()
        except ValueError:
            raise TargetError(f"GET {self.subject.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None
        return to_stored(answer, f"GET {path}", self.subject)

    def content(self, file_id: str) -> bytes:
        return bytes(self._read("GET", f"/files/{segment(file_id)}/content").content)

    def list_files(self) -> list[StoredFile]:
        client = self.subject
        found: list[StoredFile] = []
        params: dict[str, Any] = {"limit": 10000}
        while True:  # OpenAI pages files by ``after`` (the last id of the page)
            answer = client.checked(client.call("files", "GET", "/files", params=params,
                                                collection=True), "data", "GET /files")
            page = [to_stored(entry, "GET /files", client) for entry in answer["data"]]
            found += page
            if not answer.get("has_more") or not page:
                return found
            params = {**params, "after": page[-1]["id"]}

    def delete(self, file_id: str) -> None:
        path = f"/files/{segment(file_id)}"
        answer = self._read("DELETE", path)
        try:
            body = answer.json() if answer.content else None
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("deleted") is False:
            raise Refused(f"DELETE {path}", None, None, "the server answered deleted: false")

    @property
    def has_other_tenant(self) -> bool:
        return self.subject.has_other_tenant

    def as_other_tenant(self) -> OpenAIFiles:
        return OpenAIFiles(self.subject.other_tenant())
