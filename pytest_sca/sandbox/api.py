"""The reference platform REST API (docs/platform-api.md) as a FastAPI app.

Handlers translate HTTP into calls on :class:`SandboxPlatform`; they live in
one ``routes_*`` module per area, this module builds the app. Each route's
``name`` is its audit action (``job.create``); an ASGI middleware writes the
audit entry of every mutation with the caller, the resource and the result.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_sca import __version__
from pytest_sca.discovery import modules_named
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import ROLES
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, OptionalCaller
from pytest_sca.sandbox.errors import ApiError
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.metrics import render_metrics
from pytest_sca.sandbox.schemas import documented

_STATUS_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "invalid_request", 409: "conflict", 415: "invalid_request",
                 422: "invalid_request"}
_VERBS = ("stop", "restart", "cancel")


def route_modules() -> list[ModuleType]:
    """Every ``routes_*`` module of the sandbox, in name order.

    Each exports ``router(platform) -> APIRouter`` and may export
    ``target_adapters(api_url, platform) -> dict`` (sections it adds to the
    sandbox's target file); an area of the platform adds itself by adding a module.
    """
    return modules_named("pytest_sca.sandbox", "routes_")


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
                    self.platform.record_audit, who, route.name, resource, result, code
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
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "invalid_request")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        if Fault.ERRORS_LEAK_STACKTRACE in platform.faults:
            from pytest_sca.sandbox.devtools import leaked_traceback

            return leaked_traceback(exc)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
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

    for module in route_modules():
        app.include_router(module.router(platform))

    @app.get("/metrics", name="metrics.get", response_class=PlainTextResponse)
    def metrics() -> Response:
        body, content_type = render_metrics(platform)
        return Response(body, media_type=content_type)

    return app
