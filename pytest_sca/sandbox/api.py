"""The reference platform REST API (docs/platform-api.md) as a FastAPI app.

Handlers translate HTTP into calls on the services of :class:`SandboxPlatform`;
they live in one ``routes_*`` module per area, listed in :data:`ROUTES`, and
this module builds the app. Each route's ``name`` is its audit action
(``job.create``); an ASGI middleware writes the audit entry of every mutation
with the caller, the resource and the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_sca import __version__
from pytest_sca.sandbox import (
    routes_billing,
    routes_compute,
    routes_console,
    routes_devmachines,
    routes_images,
    routes_inference,
    routes_inventory,
    routes_jobs,
    routes_models,
    routes_monitoring,
    routes_network,
    routes_operations,
    routes_perf,
    routes_security,
    routes_services,
    routes_tenancy,
    routes_training,
    routes_workflows,
)
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import ROLES
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, OptionalCaller
from pytest_sca.sandbox.devtools import leaked_traceback
from pytest_sca.sandbox.errors import ApiError, UnenvelopedError
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.schemas import documented

_STATUS_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "invalid_request", 409: "conflict", 415: "invalid_request",
                 422: "invalid_request"}
_VERBS = ("stop", "restart", "cancel")


#: What an area adds to the sandbox's target file: a section of ``adapters`` (given the API's
#: URL), of ``capabilities`` or of ``evidence``.
TargetAdapters = Callable[[str, SandboxPlatform], dict[str, Any]]
TargetSection = Callable[[SandboxPlatform], dict[str, Any]]


@dataclass(frozen=True)
class RouteModule:
    """One area of the API: its routes, and what it adds to the sandbox's target file."""

    router: Callable[[SandboxPlatform], APIRouter]
    target_adapters: TargetAdapters | None = None
    target_capabilities: TargetSection | None = None
    target_evidence: TargetSection | None = None


#: Every area of the API, in the order the app includes them (the OpenAPI document's order).
ROUTES: tuple[RouteModule, ...] = (
    RouteModule(routes_billing.router),
    RouteModule(routes_compute.router),
    RouteModule(routes_console.router),
    RouteModule(routes_devmachines.router,
                target_capabilities=routes_devmachines.target_capabilities),
    RouteModule(routes_images.router, target_adapters=routes_images.target_adapters),
    RouteModule(routes_inference.router, target_adapters=routes_inference.target_adapters),
    RouteModule(routes_inventory.router),
    RouteModule(routes_jobs.router),
    RouteModule(routes_models.router, target_capabilities=routes_models.target_capabilities),
    RouteModule(routes_monitoring.router),
    RouteModule(routes_network.router, target_capabilities=routes_network.target_capabilities),
    RouteModule(routes_operations.router),
    RouteModule(routes_perf.router, target_capabilities=routes_perf.target_capabilities),
    RouteModule(routes_security.router, target_evidence=routes_security.target_evidence),
    RouteModule(routes_services.router),
    RouteModule(routes_tenancy.router),
    RouteModule(routes_training.router, target_capabilities=routes_training.target_capabilities),
    RouteModule(routes_workflows.router, target_adapters=routes_workflows.target_adapters),
)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The contract's error body."""
    return {"error": {"code": code, "message": message}}


def _resource_of(path: str) -> str:
    """``/api/v1/jobs/job-1/stop`` → ``jobs/job-1``: the resource an action applies to."""
    resource = path.removeprefix(API + "/")
    head, _, verb = resource.rpartition("/")
    return head if verb in _VERBS and head else resource


class AuditMiddleware:
    """Records every authenticated POST/PUT/PATCH/DELETE in the audit log, with its outcome."""

    def __init__(self, app: ASGIApp, platform: SandboxPlatform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            state = scope.get("state", {})
            who = state.get("principal")
            route = scope.get("route")
            if who is not None and route is not None:
                code = status["code"]
                result = ("success" if code < 400 else "denied" if code == 403
                          else f"error:{code}")
                resource = state.get("audit_resource") or _resource_of(scope["path"])
                # SQLite under the store's lock: keep it off the event loop.
                await run_in_threadpool(
                    self.platform.audit.record, who, route.name, resource, result, code
                )


def create_app(platform: SandboxPlatform) -> FastAPI:
    """The API app over ``platform``."""
    app = FastAPI(
        title="pytest-sca reference platform (sandbox)",
        version=__version__,
        description="The reference AI cloud platform API of pytest-sca; hardware is simulated.",
    )
    app.state.platform = platform
    app.add_middleware(AuditMiddleware, platform=platform)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, UnenvelopedError):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "invalid_request")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if Fault.ERRORS_LEAK_STACKTRACE in platform.faults:
            return leaked_traceback(exc)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
        if Fault.ERRORS_LEAK_INTERNALS in platform.faults:
            # What a careless error formatter adds: where it ran, and whom it served.
            problems += f" (validator {__file__}, worker {request.url.netloc})"
        return JSONResponse(error_body("invalid_request", problems), status_code=422)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal", f"sandbox bug: {type(exc).__name__}"),
                            status_code=500)

    # platform -------------------------------------------------------------------------

    @app.get(f"{API}/info", name="info.get", **documented(S.Info))
    def info(who: OptionalCaller) -> dict[str, Any]:
        answer: dict[str, Any] = {"name": "pytest-sca sandbox", "version": __version__,
                                  "api_version": "v1", "simulated": True}
        if who is not None and who.is_platform_admin:
            answer["faults"] = sorted(fault.value for fault in platform.faults)
        return answer

    @app.get(f"{API}/whoami", name="whoami.get", **documented(S.WhoAmI))
    def whoami(who: Caller) -> dict[str, Any]:
        return {"user_id": who.user_id, "tenant_id": who.tenant_id, "role": who.role}

    @app.get(f"{API}/roles", name="role.list", **documented(S.Items[S.Role]))
    def roles(who: Caller) -> dict[str, Any]:
        return {"items": [{"name": n, "permissions": p} for n, p in ROLES.items()]}

    for area in ROUTES:
        app.include_router(area.router(platform))

    # Metrics name tenants and jobs: any key of the platform may read them, nobody else.
    @app.get("/metrics", name="metrics.get", response_class=PlainTextResponse)
    def metrics(who: Caller) -> Response:
        body, content_type = platform.metrics.render()
        return Response(body, media_type=content_type)

    if Fault.API_DESCRIPTION_OMITS_JOBS in platform.faults:
        whole = app.openapi

        def without_jobs() -> dict[str, Any]:
            document = whole()
            return {**document, "paths": {path: operations for path, operations
                                          in document["paths"].items()
                                          if not path.startswith(f"{API}/jobs")}}

        app.openapi = without_jobs  # type: ignore[method-assign]

    return app
