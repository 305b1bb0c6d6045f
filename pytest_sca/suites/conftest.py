"""Fixtures the shipped checks share: probe tenants and users, labelled with the run id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pytest

from pytest_sca.capabilities import Jobs, Tenancy, User
from pytest_sca.fixtures import CheckContext


@dataclass
class ProbeUser:
    """A user the run created, and the capabilities as that user sees them."""

    tenant_id: str
    user: User
    tenancy: Tenancy
    jobs: Jobs


class MakeProbeUser(Protocol):
    """``probe_tenant(suffix, role="member", tenant_id=None)``: a user of a new (or given)
    tenant, with the capabilities as that user sees them."""

    def __call__(self, suffix: str, role: str = "member",
                 tenant_id: str | None = None) -> ProbeUser:
        ...


@pytest.fixture
def probe_tenant(sca: CheckContext, tenancy: Tenancy, jobs: Jobs) -> MakeProbeUser:
    """Create a tenant with one user of a role; returns the user's view of the platform.

    Both are removed at the end of the check (the adapter registered them)."""

    def create(suffix: str, role: str = "member", tenant_id: str | None = None) -> ProbeUser:
        if tenant_id is None:
            tenant_id = tenancy.create_tenant(sca.name(suffix), labels=sca.labels)["id"]
        user = tenancy.create_user(tenant_id, sca.name(f"{suffix}-{role}"), role,
                                   labels=sca.labels)
        key = user["api_key"]
        return ProbeUser(tenant_id, user, tenancy.acting_as(key), jobs.acting_as(key))

    return create


@pytest.fixture
def probe_image(jobs: Jobs) -> str:
    """The image probe jobs run in (``name:tag``): the target's setting for the jobs adapter,
    else the platform's first preset image. No image catalogue is needed for it."""
    return jobs.probe_image()
