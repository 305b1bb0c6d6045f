"""API routes of tenant network isolation: the policy the platform applies to jobs' networks.

A job submitted with ``network: "tenant"`` runs in its tenant's network
namespace (:mod:`pytest_sca.sandbox.netiso`); its answer carries ``network:
{mode, namespace, address}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller
from pytest_sca.sandbox.netiso import network_policy
from pytest_sca.sandbox.schemas import documented


class NetworkPolicy(S.Open):
    """GET /network: how tenants' job networks are isolated."""

    isolation: str
    reason: str | None = None
    address_range: str


def target_capabilities(platform: SandboxPlatform) -> dict[str, Any]:
    """The sandbox declares the isolation it can really apply on this machine."""
    return {"network": network_policy()}


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()

    @routes.get(f"{API}/network", name="network.get", **documented(NetworkPolicy))
    def get_network(who: Caller) -> dict[str, Any]:
        return network_policy()

    return routes
