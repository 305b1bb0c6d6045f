"""API routes of jobs: submit, list, inspect, logs, events, stop, restart, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.jobs import public_job
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    runner = platform.runner

    def visible_job(who: Principal, job_id: str) -> Document:
        job = runner.job(job_id)
        if job is None or not rules.can_read_tenant(who, job["tenant_id"], cross_tenant_kind=True):
            raise not_found(f"job {job_id}")
        return job

    def writable_job(who: Principal, job_id: str) -> Document:
        # Acting on another tenant's job is refused as forbidden (403), as Kubernetes RBAC
        # refuses a verb in a namespace the caller has no role in.
        job = runner.job(job_id)
        if job is None:
            raise not_found(f"job {job_id}")
        rules.require_write(who, job["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=job["owner"], cross_tenant_kind=True)
        return job

    def job_answer(job: Document) -> Document:
        answer = public_job(job, runner.faults)
        if Fault.WORKER_CARDS_UNRECORDED in runner.faults:
            answer["workers"] = [{**worker, "accelerators": []} for worker in answer["workers"]]
        if job["status"] == "running":
            answer["progress"] = runner.progress(job)
        return answer

    @routes.post(f"{API}/jobs", name="job.create", **documented(S.Job, 201))
    def submit_job(body: models.JobCreate, who: Caller, request: Request) -> Document:
        try:
            rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        except ApiError as refusal:
            # readonly_submit_carried_out: the refusal is answered, the job is created anyway.
            if refusal.status == 403 and who.role == "readonly" \
                    and Fault.READONLY_SUBMIT_CARRIED_OUT in platform.faults:
                runner.submit(who, body.model_dump())
            raise
        job = runner.submit(who, body.model_dump())
        audit_resource(request, f"jobs/{job['id']}")
        return job_answer(job)

    @routes.get(f"{API}/jobs", name="job.list", **documented(S.Items[S.Job]))
    def list_jobs(
        who: Caller,
        status: Annotated[str | None, Query(max_length=32)] = None,
        label: Annotated[list[str] | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        wanted = {}
        for item in label or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise ApiError(422, "invalid_request", f"label filter {item!r} is not key=value")
            wanted[key] = value
        everyone = rules.reads_every_tenant(who, cross_tenant_kind=True)
        candidates = runner.jobs(tenant_id=None if everyone else who.tenant_id, status=status)
        jobs = [
            job_answer(j) for j in candidates
            if rules.can_read_tenant(who, j["tenant_id"], cross_tenant_kind=True)
            and all(j["labels"].get(k) == v for k, v in wanted.items())
        ]
        return {"items": jobs}

    @routes.get(f"{API}/jobs/{{job_id}}", name="job.get", **documented(S.Job))
    def get_job(job_id: str, who: Caller) -> Document:
        return job_answer(visible_job(who, job_id))

    @routes.get(f"{API}/jobs/{{job_id}}/events", name="job.events", **documented(S.Items[S.Event]))
    def job_events(job_id: str, who: Caller) -> dict[str, Any]:
        return {"items": runner.events(visible_job(who, job_id))}

    @routes.get(f"{API}/jobs/{{job_id}}/logs", name="job.logs", response_class=PlainTextResponse,
        responses=S.ERRORS)
    def job_logs(
        job_id: str, who: Caller, worker: Annotated[int, Query(ge=0, le=1024)] = 0
    ) -> PlainTextResponse:
        text = runner.logs(visible_job(who, job_id), worker)
        return PlainTextResponse(text)

    @routes.post(f"{API}/jobs/{{job_id}}/stop", name="job.stop", **documented(S.Job))
    def stop_job(job_id: str, who: Caller) -> Document:
        try:
            writable_job(who, job_id)
        except ApiError as refusal:
            # readonly_stop_carried_out: the refusal is answered, the stop is done anyway.
            if refusal.status == 403 and who.role == "readonly" \
                    and Fault.READONLY_STOP_CARRIED_OUT in platform.faults:
                runner.stop(job_id)
            raise
        return job_answer(runner.stop(job_id))

    @routes.post(f"{API}/jobs/{{job_id}}/restart", name="job.restart", **documented(S.Job))
    def restart_job(job_id: str, who: Caller) -> Document:
        writable_job(who, job_id)
        return job_answer(runner.restart(job_id))

    @routes.delete(f"{API}/jobs/{{job_id}}", name="job.delete", **documented(None, 204))
    def delete_job(job_id: str, who: Caller) -> Response:
        writable_job(who, job_id)
        runner.delete(job_id)
        return Response(status_code=204)

    return routes
