"""Fixtures the shipped checks share: probe tenants and users, labelled with the run id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_sca.capabilities import Refused
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

#: A job that proves it ran: prints a token and ends.
PROBE_COMMAND = ["python", "-c", "print('sca-probe')"]
#: The smallest job request: one CPU core, 1 GiB, no card.
SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}


def refusal_of(call: Callable[[], object]) -> Refused | None:
    """The refusal (4xx) a call met, or None when it succeeded."""
    try:
        call()
    except Refused as refusal:
        return refusal
    return None


def quietly_delete(delete: Callable[[], object]) -> None:
    """Undo a creation; something the check already removed (404) is fine."""
    try:
        delete()
    except Refused as refusal:
        if refusal.status != 404:
            raise


def delete_job(jobs: Any, job_id: str) -> None:
    """Delete a job; one already gone is fine."""
    quietly_delete(lambda: jobs.delete(job_id))


@dataclass
class ProbeUser:
    """A user the run created, and the capabilities as that user sees them."""

    tenant_id: str
    user: dict[str, Any]
    tenancy: Any
    jobs: Any


@pytest.fixture
def probe_tenant(sca: CheckContext, tenancy: Any, jobs: Any, cleanup: Cleanup
                 ) -> Callable[..., ProbeUser]:
    """Create a tenant with one user of a role; returns the user's view of the platform."""

    def create(suffix: str, role: str = "member", tenant_id: str | None = None) -> ProbeUser:
        if tenant_id is None:
            tenant = tenancy.create_tenant(sca.name(suffix), labels=sca.labels)
            tenant_id = tenant["id"]
            cleanup.add(f"delete tenant {tenant_id}",
                        lambda: tenancy.delete_tenant(tenant_id))
        user = tenancy.create_user(tenant_id, sca.name(f"{suffix}-{role}"), role,
                                   labels=sca.labels)
        cleanup.add(f"delete user {user['id']}",
                    lambda: tenancy.delete_user(tenant_id, user["id"]))
        key = user["api_key"]
        return ProbeUser(tenant_id, user, tenancy.acting_as(key), jobs.acting_as(key))

    return create


@pytest.fixture
def probe_image(images: Any) -> str:
    """A preset image of the platform to run probe jobs in (``name:tag``)."""
    preset = [i for i in images.list_images() if i.get("preset")]
    if not preset:
        pytest.fail("the platform lists no preset image to run a probe job in")
    return f"{preset[0]['name']}:{preset[0]['tag']}"
