"""API routes of operations: the resource analysis report and node NIC bonds (drills)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller
from pytest_sca.sandbox.errors import ApiError, forbidden
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Recommendation(S.Open):
    """One suggestion of the report, and what it is about."""

    kind: str
    severity: str
    subject: str
    message: str


class ResourceReport(S.Open):
    """GET /reports/resources."""

    period: str
    generated_at: str
    accelerators: dict[str, object]
    usage: dict[str, object]
    recommendations: list[Recommendation]


class Bond(S.Open):
    """A NIC bond of a node."""

    name: str
    mode: str
    members: list[str]
    active_member: str | None
    state: str


class NodeNetwork(S.Open):
    """GET /nodes/{id}/network."""

    node_id: str
    interfaces: list[dict[str, object]]
    bonds: list[Bond]


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()

    @routes.get(f"{API}/reports/resources", name="report.resources",
                **documented(ResourceReport))
    def report(
        who: Caller, period: Annotated[str | None, Query(max_length=7)] = None
    ) -> Document:
        if not who.is_platform_admin:
            raise forbidden("the resource analysis report is for platform admins")
        period = period or datetime.now(timezone.utc).strftime("%Y-%m")
        if not _PERIOD.match(period):
            raise ApiError(422, "invalid_request", f"period {period!r} is not YYYY-MM")
        return platform.operations.resource_report(period)

    @routes.get(f"{API}/nodes/{{node_id}}/network", name="node.network",
                **documented(NodeNetwork))
    def network(node_id: str, who: Caller) -> Document:
        if not who.is_platform_admin:
            raise forbidden("node network state is for platform admins")
        return platform.operations.node_network(node_id)

    @routes.post(f"{API}/nodes/{{node_id}}/network/links/{{link}}/{{state}}",
                 name="node.link", **documented(NodeNetwork))
    def link(node_id: str, link: str, state: Literal["up", "down"], who: Caller) -> Document:
        if not who.is_platform_admin:
            raise forbidden("link drills are for platform admins")
        return platform.operations.set_link(node_id, link, up=state == "up")

    return routes
