"""What every route module of the API shares: authentication dependencies and small helpers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.errors import ApiError, UnenvelopedError
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.store import Document

API = "/api/v1"
_bearer = HTTPBearer(auto_error=False, description="an API key of the platform")


def public(doc: Document) -> Document:
    """A stored document without its internal (``_``) keys."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def timestamp(value: datetime | None) -> str | None:
    """A query timestamp as the store's sortable UTC text."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_resource(request: Request, resource: str) -> None:
    """Name the resource a mutation created, for its audit entry (default: the path)."""
    request.state.audit_resource = resource


def optional_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if a bearer key was sent (401 for an unknown key)."""
    platform: SandboxPlatform = request.app.state.platform
    # the api_unstable fault's outages, api_drops_requests' dropped reads
    outage = platform.perf.management_unavailable(request.method)
    if outage is not None:
        raise outage
    if credentials is None:
        return None
    who = platform.tenancy.authenticate(credentials.credentials)
    if who is None:
        raise _unauthorized(platform, "invalid API key")
    request.state.principal = who
    return who


def _unauthorized(platform: SandboxPlatform, message: str) -> ApiError:
    """The 401 of an authentication refusal (``auth_errors_unenveloped``: a bare body)."""
    kind = UnenvelopedError if Fault.AUTH_ERRORS_UNENVELOPED in platform.faults else ApiError
    return kind(401, "unauthorized", _refusal(platform, message))


def _refusal(platform: SandboxPlatform, message: str) -> str:
    """The message of an authentication refusal (``auth_errors_leak_internals``: with the
    internals of the key lookup that failed)."""
    if Fault.AUTH_ERRORS_LEAK_INTERNALS not in platform.faults:
        return message
    return (f"{message}: KeyError raised in /opt/platform/auth/keys.py:69 while running "
            "SELECT user_id FROM apikey WHERE id = ? on db 10.0.3.7:5432")


def caller(request: Request,
           who: Annotated[Principal | None, Depends(optional_caller)]) -> Principal:
    """The authenticated caller (401 without a key)."""
    if who is None:
        raise _unauthorized(request.app.state.platform, "missing bearer API key")
    return who


Caller = Annotated[Principal, Depends(caller)]
OptionalCaller = Annotated[Principal | None, Depends(optional_caller)]
