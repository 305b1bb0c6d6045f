"""A test double of OpenAI's API: the endpoints no real server here implements.

**A double, on purpose, and said so.** llama.cpp's server (the real server of
``test_inference_llamacpp.py``) serves models, completions and embeddings, but no files,
fine-tuning jobs or usage statistics, and no other OpenAI-compatible server installs
here (LiteLLM's proxy needs PostgreSQL for keys and spend: see docs/chapter08.md). So the
adapter's paths over those endpoints are tested against this double, written to OpenAI's
API reference (https://platform.openai.com/docs/api-reference, the OpenAPI document of
github.com/openai/openai-openapi): ``GET /models``, ``GET/DELETE /models/{model}``,
``POST/GET /files``, ``GET/DELETE /files/{file_id}``, ``GET /files/{file_id}/content``,
``POST/GET /fine_tuning/jobs``,
``GET /fine_tuning/jobs/{id}``, ``…/events``, ``…/checkpoints``, ``POST …/cancel``,
``GET /organization/usage/completions``, ``POST /chat/completions`` (and SSE),
``POST /completions``, ``POST /embeddings``; errors as ``{"error": {"message", "type",
"param", "code"}}``; an unknown URL as OpenAI answers it (404 "Invalid URL (GET /v1/…)").
``tests/data/openai/reference-answers.json`` holds the reference's own example answers;
``test_openai_double.py`` proves the double answers the same shapes and that the
official ``openai`` client parses them.

Its "model" is no language model: a deterministic toy that answers with what the
conversation said (so a chat visibly depends on its history), counts words as tokens,
and, once fine-tuned, answers the prompts of its training file with their completions.

Principals: API keys ``KEY_A`` and ``KEY_B`` are two projects of one organisation
(files, jobs and fine-tuned models are per project, as OpenAI's are); ``ADMIN_KEY`` is
the organisation's admin key (usage only). Faults (named for the behaviour, never for a
clause) make it misbehave; ``absent`` families answer as endpoints a server lacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, File, Form, Header, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

KEY_A = "sk-double-project-a-0123456789"
KEY_B = "sk-double-project-b-9876543210"
ADMIN_KEY = "sk-admin-double-0123456789"

#: key → (project, user, key id), as OpenAI's usage API names them.
PRINCIPALS = {KEY_A: ("proj_a", "user-a", "key_a"), KEY_B: ("proj_b", "user-b", "key_b")}
ORGANISATION = "org-double"
#: The vendor's preset models and what ``GET /models`` says of them (Together's field names).
PRESETS = {
    "double-chat-1": {"context_length": 2048, "license": "Apache-2.0", "parameters": 135_000_000},
    "double-chat-mini": {"context_length": 1024, "license": "MIT", "parameters": 35_000_000},
}

#: Faults: behaviours that break one requirement each.
FAULTS = frozenset({
    "model_info_missing",          # GET /models says nothing of size, context, licence
    "finetune_fails",              # every fine-tuning job ends failed
    "finetuned_model_not_served",  # a fine-tuned model is listed but answers 404
    "finetune_logs_empty",         # a job's events carry no loss
    "checkpoint_metrics_lag",      # a checkpoint's metrics are those of the step before it
    "usage_undercounted",          # every other request is not metered
    "errors_leak_traces",          # malformed requests answer 500 with a Python traceback
    "console_down",                # the console page answers 404
    "files_shared_between_projects",  # a project can read another project's files
    "file_content_without_key",    # GET /files/{id}/content answers without an API key
    "files_listed_across_projects",   # GET /files lists every project's files
    "files_deleted_across_projects",  # any project's key deletes a file
})
#: Families the double can lack: each route of the family answers as an unknown URL.
FAMILIES = frozenset({"files", "fine_tuning", "usage", "models.retrieve", "models.delete",
                      "embeddings"})

_WORD = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:8]}"


def words(text: str) -> list[str]:
    return _WORD.findall(text or "")


def error(status: int, message: str, kind: str = "invalid_request_error",
          code: str | None = None, param: str | None = None) -> JSONResponse:
    """OpenAI's error envelope."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param,
                                   "code": code}}, status_code=status)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 kind: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.response = error(status, message, kind, code, param)


@dataclass
class StoredFile:
    id: str
    project: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def answer(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.content),
                "created_at": self.created_at, "expires_at": None, "filename": self.filename,
                "purpose": self.purpose, "status": "processed", "status_details": None}


@dataclass
class Job:
    id: str
    project: str
    model: str
    training_file: str
    suffix: str | None
    metadata: dict[str, str] | None
    pairs: dict[str, str]
    created_at: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.monotonic)
    status: str = "validating_files"
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    result_files: list[str] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        return {"object": "fine_tuning.job", "id": self.id, "model": self.model,
                "created_at": self.created_at, "finished_at": self.finished_at,
                "fine_tuned_model": self.fine_tuned_model, "organization_id": ORGANISATION,
                "result_files": list(self.result_files), "status": self.status,
                "validation_file": None, "training_file": self.training_file,
                "hyperparameters": {"n_epochs": 3, "batch_size": 1,
                                    "learning_rate_multiplier": 1.0},
                "trained_tokens": None if self.status != "succeeded" else 120,
                "integrations": [], "seed": 0, "estimated_finish": None,
                "method": {"type": "supervised", "supervised": {"hyperparameters": {
                    "n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}}},
                "error": self.error, "metadata": self.metadata, "suffix": self.suffix}


@dataclass
class Metered:
    """One metered request: what the usage API adds up."""

    at: int
    project: str
    user: str
    key: str
    model: str
    input_tokens: int
    output_tokens: int


#: Steps a probe job trains, and seconds each takes.
STEPS = 6
STEP_S = 0.05
VALIDATE_S = 0.1


class Double:
    """The double's state: files, jobs, models and metered requests of each project."""

    def __init__(self, faults: frozenset[str] = frozenset(),
                 absent: frozenset[str] = frozenset()) -> None:
        assert faults <= FAULTS, faults - FAULTS
        assert absent <= FAMILIES, absent - FAMILIES
        self.faults = faults
        self.absent = absent
        self.lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        #: fine-tuned model id → (project, learned prompt → completion)
        self.tuned: dict[str, tuple[str, dict[str, str]]] = {}
        self.metered: list[Metered] = []
        self.requests = 0
        #: (method, path) → how often it was asked (to see that discovery probes once).
        self.hits: Counter[tuple[str, str]] = Counter()

    # -- principals -----------------------------------------------------------------------
    def caller(self, authorization: str | None) -> tuple[str, str, str]:
        key = (authorization or "").removeprefix("Bearer ").strip()
        if key == ADMIN_KEY:
            raise ApiError(401, "Admin keys can only be used for the Administration API.",
                           "invalid_api_key")
        if key not in PRINCIPALS:
            raise ApiError(401, "Incorrect API key provided.", "invalid_api_key")
        return PRINCIPALS[key]

    def admin(self, authorization: str | None) -> None:
        key = (authorization or "").removeprefix("Bearer ").strip()
        if key in PRINCIPALS:
            raise ApiError(403, "You have insufficient permissions for this operation. "
                           "Missing scopes: api.usage.read.", "insufficient_permissions")
        if key != ADMIN_KEY:
            raise ApiError(401, "Incorrect API key provided.", "invalid_api_key")

    # -- the toy model --------------------------------------------------------------------
    def servable(self, project: str) -> list[str]:
        tuned = [m for m, (owner, _) in self.tuned.items() if owner == project]
        return [*PRESETS, *tuned]

    def model_entry(self, model: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": model, "object": "model", "created": 1730000000,
                                 "owned_by": "double-vendor" if model in PRESETS
                                 else ORGANISATION, "shutdown_date": None}
        if model in PRESETS and "model_info_missing" not in self.faults:
            entry.update(PRESETS[model])
        return entry

    def reply(self, project: str, model: str, turns: list[tuple[str, str]]) -> list[str]:
        """The toy's answer, in words: a learned completion, else what the chat said."""
        if model not in self.servable(project):
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access "
                           "to it.", "model_not_found")
        if model in self.tuned and "finetuned_model_not_served" in self.faults:
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access "
                           "to it.", "model_not_found")
        last = turns[-1][1] if turns else ""
        learned = self.tuned.get(model, ("", {}))[1]
        if last.strip().lower() in learned:
            return words(learned[last.strip().lower()])
        earlier = [text for role, text in turns[:-1] if role == "user"]
        said = [w for text in earlier for w in words(text)][-12:]
        return ["you", "asked", ":", *words(last)[:16],
                *([".", "earlier", "you", "said", ":", *said] if said else [])]

    def meter(self, project: str, user: str, key: str, model: str, prompt: int,
              completion: int) -> None:
        with self.lock:
            self.requests += 1
            if "usage_undercounted" in self.faults and self.requests % 2 == 0:
                return
            self.metered.append(Metered(int(time.time()), project, user, key, model, prompt,
                                        completion))

    # -- fine-tuning ------------------------------------------------------------------------
    def advance(self, job: Job) -> None:
        """Move a job along by the time since it was created (no thread of its own)."""
        if job.status in ("succeeded", "failed", "cancelled"):
            return
        elapsed = time.monotonic() - job.started
        if job.status == "validating_files" and elapsed >= VALIDATE_S:
            if not job.pairs:
                self.end(job, "failed", {"code": "invalid_training_file", "param":
                                         "training_file", "message": "The training file has "
                                         "no example in the chat or completions format."})
                return
            job.status = "running"
            self.event(job, "Fine-tuning job started")
        if job.status != "running":
            return
        done = min(STEPS, int((elapsed - VALIDATE_S) / STEP_S))
        logged = len([e for e in job.events if e["type"] == "metrics"])
        for step in range(logged + 1, done + 1):
            loss = round(2.5 / step, 4)
            message = (f"Step {step}/{STEPS}" if "finetune_logs_empty" in self.faults
                       else f"Step {step}/{STEPS}: training loss={loss}")
            self.event(job, message, "metrics",
                       None if "finetune_logs_empty" in self.faults
                       else {"step": step, "train_loss": loss, "total_steps": STEPS})
            if step % 3 == 0:
                job.checkpoints.append({
                    "object": "fine_tuning.job.checkpoint", "id": new_id("ftckpt_"),
                    "created_at": int(time.time()), "fine_tuning_job_id": job.id,
                    "fine_tuned_model_checkpoint": f"ft:{job.model}:{ORGANISATION}:"
                                                   f"{job.suffix or ''}:{job.id[-8:]}:"
                                                   f"ckpt-step-{step}",
                    # The training data doubles as validation data: a probe has no other.
                    "metrics": {} if "finetune_logs_empty" in self.faults
                    else self.checkpoint_metrics(step, loss),
                    "step_number": step})
        if done < STEPS:
            return
        if "finetune_fails" in self.faults:
            self.end(job, "failed", {"code": "server_error", "param": None,
                                     "message": "The job failed due to an internal error."})
            return
        model = f"ft:{job.model}:{ORGANISATION}:{job.suffix or ''}:{job.id[-8:]}"
        self.tuned[model] = (job.project, job.pairs)
        job.fine_tuned_model = model
        metrics = StoredFile(new_id("file-"), job.project, "step_metrics.csv",
                             "fine-tune-results", b"step,train_loss\n")
        self.files[metrics.id] = metrics
        job.result_files.append(metrics.id)
        self.event(job, f"New fine-tuned model created: {model}")
        self.end(job, "succeeded", None)

    def checkpoint_metrics(self, step: int, loss: float) -> dict[str, Any]:
        """A checkpoint's metrics: its step's (fault ``checkpoint_metrics_lag``: the step
        before it, with its own step number)."""
        if "checkpoint_metrics_lag" in self.faults:
            loss = round(2.5 / max(1, step - 1), 4)
        return {"step": step, "train_loss": loss, "full_valid_loss": loss,
                "full_valid_mean_token_accuracy": round(1 - loss / 3, 4)}

    def event(self, job: Job, message: str, kind: str = "message",
              data: dict[str, Any] | None = None) -> None:
        job.events.append({"object": "fine_tuning.job.event", "id": new_id("ftevent-"),
                           "created_at": int(time.time()), "level": "info",
                           "message": message, "data": data, "type": kind})

    def end(self, job: Job, status: str, failure: dict[str, Any] | None) -> None:
        job.status, job.error, job.finished_at = status, failure, int(time.time())
        self.event(job, "The job has " + {"succeeded": "successfully completed",
                                          "failed": "failed",
                                          "cancelled": "been cancelled"}[status])


def training_pairs(content: bytes) -> dict[str, str]:
    """prompt → completion of each JSONL line in the chat or the completions format."""
    pairs: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return {}
        if "messages" in record:
            user = next((m["content"] for m in record["messages"] if m.get("role") == "user"),
                        None)
            answer = next((m["content"] for m in record["messages"]
                           if m.get("role") == "assistant"), None)
            if user and answer:
                pairs[user.strip().lower()] = answer
        elif "prompt" in record and "completion" in record:
            pairs[str(record["prompt"]).strip().lower()] = str(record["completion"])
    return pairs


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str
    max_tokens: int | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str]


class FineTuningRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    training_file: str
    suffix: str | None = None
    metadata: dict[str, str] | None = None


def app(double: Double) -> FastAPI:
    """The double's routes (under ``/v1``), its console page (``/``) and ``/openapi.json``."""
    api = FastAPI(title="OpenAI API test double", version="1.0")

    @api.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        double.hits[(request.method, request.url.path)] += 1
        return await call_next(request)

    def unknown(request: Request) -> JSONResponse:
        return error(404, f"Invalid URL ({request.method} {request.url.path})")

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response

    @api.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code in (404, 405):
            return unknown(request)
        return error(exc.status_code, str(exc.detail))

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        if "errors_leak_traces" in double.faults:
            return PlainTextResponse('Traceback (most recent call last):\n  File "/srv/api.py", '
                                     'line 12, in handle\nValueError: bad body', 500)
        first = exc.errors()[0] if exc.errors() else {}
        return error(400, f"Invalid request: {first.get('msg', 'malformed body')}",
                     param=".".join(str(p) for p in first.get("loc", [])[1:]) or None)

    def family(name: str, request: Request) -> None:
        if name in double.absent:
            raise ApiError(404, f"Invalid URL ({request.method} {request.url.path})")

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def console() -> Any:
        if "console_down" in double.faults:
            return HTMLResponse("not here", 404)
        return HTMLResponse("<!doctype html><html><head><title>Double console</title></head>"
                            "<body><h1>Playground</h1></body></html>")

    # -- models ---------------------------------------------------------------------------
    @api.get("/v1/models")
    def list_models(authorization: str | None = Header(None)) -> Any:
        project, _, _ = double.caller(authorization)
        return {"object": "list",
                "data": [double.model_entry(m) for m in double.servable(project)]}

    @api.get("/v1/models/{model:path}")
    def get_model(model: str, request: Request, authorization: str | None = Header(None)
                  ) -> Any:
        family("models.retrieve", request)
        project, _, _ = double.caller(authorization)
        if model not in double.servable(project):
            raise ApiError(404, f"The model '{model}' does not exist", "model_not_found",
                           param="model")
        return double.model_entry(model)

    @api.delete("/v1/models/{model:path}")
    def delete_model(model: str, request: Request, authorization: str | None = Header(None)
                     ) -> Any:
        family("models.delete", request)
        project, _, _ = double.caller(authorization)
        if model in PRESETS:
            raise ApiError(403, "You have insufficient permissions to delete this model.",
                           "insufficient_permissions")
        owner = double.tuned.get(model, (None, {}))[0]
        if owner != project:
            raise ApiError(404, f"The model '{model}' does not exist", "model_not_found",
                           param="model")
        del double.tuned[model]
        return {"id": model, "object": "model", "deleted": True}

    # -- files ----------------------------------------------------------------------------
    purposes = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}

    def own_file(file_id: str, project: str, *, deleting: bool = False) -> StoredFile:
        stored = double.files.get(file_id)
        shared = ("files_deleted_across_projects" if deleting
                  else "files_shared_between_projects") in double.faults
        if stored is None or (stored.project != project and not shared):
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    @api.post("/v1/files")
    def upload(request: Request, file: Annotated[UploadFile, File()],
               purpose: Annotated[str, Form()], authorization: str | None = Header(None)) -> Any:
        family("files", request)
        project, _, _ = double.caller(authorization)
        if purpose not in purposes:
            raise ApiError(400, f"'{purpose}' is not one of {sorted(purposes)} - 'purpose'",
                           param="purpose")
        stored = StoredFile(new_id("file-"), project, file.filename or "upload",
                            purpose, file.file.read())
        double.files[stored.id] = stored
        return stored.answer()

    @api.get("/v1/files")
    def list_files(request: Request, purpose: str | None = None, limit: int = 10000,
                   after: str | None = None, authorization: str | None = Header(None)) -> Any:
        family("files", request)
        project, _, _ = double.caller(authorization)
        everyone = "files_listed_across_projects" in double.faults
        mine = [f for f in double.files.values() if (everyone or f.project == project)
                and (purpose is None or f.purpose == purpose)]
        if after:
            ids = [f.id for f in mine]
            mine = mine[ids.index(after) + 1:] if after in ids else []
        page = mine[:limit]
        return {"object": "list", "data": [f.answer() for f in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None, "has_more": len(mine) > limit}

    @api.get("/v1/files/{file_id}")
    def get_file(file_id: str, request: Request, authorization: str | None = Header(None)
                 ) -> Any:
        family("files", request)
        project, _, _ = double.caller(authorization)
        return own_file(file_id, project).answer()

    @api.get("/v1/files/{file_id}/content")
    def file_content(file_id: str, request: Request, authorization: str | None = Header(None)
                     ) -> Any:
        family("files", request)
        if "file_content_without_key" in double.faults and not authorization:
            stored = double.files.get(file_id)
            if stored is not None:
                return Response(stored.content, media_type="application/octet-stream")
        project, _, _ = double.caller(authorization)
        return Response(own_file(file_id, project).content,
                        media_type="application/octet-stream")

    @api.delete("/v1/files/{file_id}")
    def delete_file(file_id: str, request: Request, authorization: str | None = Header(None)
                    ) -> Any:
        family("files", request)
        project, _, _ = double.caller(authorization)
        own_file(file_id, project, deleting=True)
        del double.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    # -- fine-tuning ----------------------------------------------------------------------
    def own_job(job_id: str, project: str) -> Job:
        job = double.jobs.get(job_id)
        if job is None or job.project != project:
            raise ApiError(404, f"Could not find fine-tune: {job_id}", "fine_tune_not_found")
        with double.lock:
            double.advance(job)
        return job

    @api.post("/v1/fine_tuning/jobs")
    def create_job(body: FineTuningRequest, request: Request,
                   authorization: str | None = Header(None)) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        if body.model not in PRESETS:
            raise ApiError(400, f"Model {body.model} is not available for fine-tuning or does "
                           "not exist.", "model_not_available", param="model")
        if body.suffix is not None and not 1 <= len(body.suffix) <= 64:
            raise ApiError(400, "suffix must be 1 to 64 characters", param="suffix")
        if body.metadata is not None and len(body.metadata) > 16:
            raise ApiError(400, "metadata holds at most 16 pairs", param="metadata")
        stored = double.files.get(body.training_file)
        if stored is None or stored.project != project:
            raise ApiError(400, f"invalid training_file: {body.training_file}",
                           "invalid_training_file", param="training_file")
        if stored.purpose != "fine-tune":
            raise ApiError(400, f"File {stored.id} has purpose {stored.purpose}, not fine-tune",
                           "invalid_training_file", param="training_file")
        job = Job(new_id("ftjob-"), project, body.model, stored.id, body.suffix, body.metadata,
                  training_pairs(stored.content))
        double.jobs[job.id] = job
        double.event(job, "Created fine-tuning job")
        return job.answer()

    @api.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request, limit: int = 20, after: str | None = None,
                  authorization: str | None = Header(None)) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        wanted = {k[len("metadata["):-1]: v for k, v in request.query_params.items()
                  if k.startswith("metadata[") and k.endswith("]")}
        jobs = [j for j in reversed(list(double.jobs.values())) if j.project == project
                and all((j.metadata or {}).get(k) == v for k, v in wanted.items())]
        if after:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1:] if after in ids else []
        for job in jobs:
            double.advance(job)
        return {"object": "list", "data": [j.answer() for j in jobs[:limit]],
                "has_more": len(jobs) > limit}

    @api.get("/v1/fine_tuning/jobs/{job_id}")
    def get_job(job_id: str, request: Request, authorization: str | None = Header(None)) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        return own_job(job_id, project).answer()

    @api.get("/v1/fine_tuning/jobs/{job_id}/events")
    def job_events(job_id: str, request: Request, limit: int = 20, after: str | None = None,
                   authorization: str | None = Header(None)) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        events = list(reversed(own_job(job_id, project).events))  # newest first, as OpenAI
        if after:
            ids = [e["id"] for e in events]
            events = events[ids.index(after) + 1:] if after in ids else []
        return {"object": "list", "data": events[:limit], "has_more": len(events) > limit}

    @api.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def job_checkpoints(job_id: str, request: Request, limit: int = 10,
                        authorization: str | None = Header(None)) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        points = list(reversed(own_job(job_id, project).checkpoints))[:limit]
        return {"object": "list", "data": points,
                "first_id": points[0]["id"] if points else None,
                "last_id": points[-1]["id"] if points else None, "has_more": False}

    @api.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str, request: Request, authorization: str | None = Header(None)
                   ) -> Any:
        family("fine_tuning", request)
        project, _, _ = double.caller(authorization)
        job = own_job(job_id, project)
        if job.status in ("succeeded", "failed", "cancelled"):
            raise ApiError(400, f"Job {job_id} has already {job.status}.")
        double.end(job, "cancelled", None)
        return job.answer()

    # -- inference ------------------------------------------------------------------------
    def turns_of(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(str(m.get("role")), str(m.get("content") or "")) for m in messages]

    @api.post("/v1/chat/completions")
    def chat(body: ChatRequest, authorization: str | None = Header(None)) -> Any:
        project, user, key = double.caller(authorization)
        turns = turns_of(body.messages)
        answer = double.reply(project, body.model, turns)
        limit = body.max_tokens or 32
        said, finish = answer[:limit], ("length" if len(answer) > limit else "stop")
        prompt = sum(len(words(text)) + 3 for _, text in turns)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(said),
                 "total_tokens": prompt + len(said)}
        double.meter(project, user, key, body.model, prompt, len(said))
        created, completion_id = int(time.time()), new_id("chatcmpl-")
        if not body.stream:
            return {"id": completion_id, "object": "chat.completion", "created": created,
                    "model": body.model, "system_fingerprint": None,
                    "choices": [{"index": 0, "message": {"role": "assistant",
                                                         "content": " ".join(said)},
                                 "logprobs": None, "finish_reason": finish}],
                    "usage": usage}
        include_usage = bool((body.stream_options or {}).get("include_usage"))

        def events() -> Iterator[str]:
            base = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": body.model}
            for n, word in enumerate(said):
                delta = {"role": "assistant", "content": word} if n == 0 else {
                    "content": " " + word}
                yield "data: " + json.dumps({**base, "choices": [
                    {"index": 0, "delta": delta, "finish_reason": None}]}) + "\n\n"
            yield "data: " + json.dumps({**base, "choices": [
                {"index": 0, "delta": {}, "finish_reason": finish}]}) + "\n\n"
            if include_usage:
                yield "data: " + json.dumps({**base, "choices": [], "usage": usage}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @api.post("/v1/completions")
    def complete(body: CompletionRequest, authorization: str | None = Header(None)) -> Any:
        project, user, key = double.caller(authorization)
        answer = double.reply(project, body.model, [("user", body.prompt)])
        limit = body.max_tokens or 16
        said = answer[:limit]
        prompt = len(words(body.prompt))
        double.meter(project, user, key, body.model, prompt, len(said))
        return {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
                "model": body.model,
                "choices": [{"index": 0, "text": " ".join(said), "logprobs": None,
                             "finish_reason": "length" if len(answer) > limit else "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": len(said),
                          "total_tokens": prompt + len(said)}}

    @api.post("/v1/embeddings")
    def embed(body: EmbeddingRequest, request: Request,
              authorization: str | None = Header(None)) -> Any:
        family("embeddings", request)
        project, user, key = double.caller(authorization)
        inputs = [body.input] if isinstance(body.input, str) else body.input
        if body.model not in double.servable(project):
            raise ApiError(404, f"The model `{body.model}` does not exist.", "model_not_found")
        tokens = sum(len(words(text)) for text in inputs)
        double.meter(project, user, key, body.model, tokens, 0)
        data = [{"object": "embedding", "index": n,
                 "embedding": [b / 255 for b in hashlib.sha256(text.encode()).digest()[:8]]}
                for n, text in enumerate(inputs)]
        return {"object": "list", "data": data, "model": body.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # -- usage ----------------------------------------------------------------------------
    @api.get("/v1/organization/usage/completions")
    def usage(request: Request, start_time: int | None = None, end_time: int | None = None,
              bucket_width: str = "1d", limit: int | None = None, page: str | None = None,
              authorization: str | None = Header(None)) -> Any:
        family("usage", request)
        double.admin(authorization)
        if start_time is None:
            raise ApiError(400, "Missing query parameter 'start_time'", param="start_time")
        width = {"1m": 60, "1h": 3600, "1d": 86400}.get(bucket_width)
        if width is None:
            raise ApiError(400, f"Invalid bucket_width {bucket_width}", param="bucket_width")
        query = request.query_params
        group_by = query.getlist("group_by[]") or query.getlist("group_by")
        filters = {"project": query.getlist("project_ids[]") or query.getlist("project_ids"),
                   "user": query.getlist("user_ids[]") or query.getlist("user_ids"),
                   "key": query.getlist("api_key_ids[]") or query.getlist("api_key_ids"),
                   "model": query.getlist("models[]") or query.getlist("models")}
        end = end_time or int(time.time()) + 1
        first = int(page) if page else start_time - start_time % width
        count = limit or {60: 60, 3600: 24, 86400: 7}[width]
        starts = list(range(first, end, width))
        buckets = []
        for start in starts[:count]:
            rows = [m for m in double.metered if start <= m.at < start + width
                    and start_time <= m.at < end
                    and all(not wanted or getattr(m, name) in wanted
                            for name, wanted in filters.items())]
            groups: dict[tuple[Any, ...], list[Metered]] = {}
            fields = {"project_id": "project", "user_id": "user", "api_key_id": "key",
                      "model": "model"}
            for row in rows:
                key = tuple(getattr(row, fields[g]) if g in fields else None for g in group_by)
                groups.setdefault(key, []).append(row)
            results = []
            for key, members in groups.items():
                given = sum(m.input_tokens for m in members)
                said = sum(m.output_tokens for m in members)
                # Text only, nothing cached: every other token count of the reference is 0.
                result: dict[str, Any] = {
                    "object": "organization.usage.completions.result", **dict.fromkeys(
                        ("input_cached_tokens", "input_cache_write_tokens", "input_audio_tokens",
                         "input_cached_text_tokens", "input_cached_audio_tokens",
                         "output_audio_tokens", "input_image_tokens",
                         "input_cached_image_tokens", "output_image_tokens"), 0),
                    "input_tokens": given, "input_uncached_tokens": given,
                    "input_text_tokens": given, "output_tokens": said,
                    "output_text_tokens": said, "num_model_requests": len(members),
                    "project_id": None, "user_id": None, "api_key_id": None, "model": None,
                    "batch": None, "service_tier": None}
                result.update(dict(zip(group_by, key, strict=True)))
                results.append(result)
            buckets.append({"object": "bucket", "start_time": start, "end_time": start + width,
                            "results": results})
        more = len(starts) > count
        return {"object": "page", "data": buckets, "has_more": more,
                "next_page": str(starts[count]) if more else None}

    @api.api_route("/v1/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
                   include_in_schema=False)
    def fallback(request: Request) -> Any:
        return unknown(request)

    return api


class DoubleServer:
    """The double served by uvicorn from a thread, on a socket bound to 127.0.0.1:0."""

    def __init__(self, faults: frozenset[str] = frozenset(),
                 absent: frozenset[str] = frozenset()) -> None:
        self.double = Double(faults, absent)
        # IPPROTO_TCP: asyncio then turns Nagle off per connection (see sandbox/server.py).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app(self.double), log_level="warning", access_log=False,
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(
            self.server.serve(sockets=[self.sock])), name="openai-double", daemon=True)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> DoubleServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the OpenAI double did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
