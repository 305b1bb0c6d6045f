"""API keys, roles and the permission rules of the reference platform.

Keys are random bearer tokens; only their SHA-256 is stored (as an ``apikey``
document whose id is the hash), except the platform admin's, which the
sandbox must write into ``sandbox.env`` again after a restart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pytest_sca.sandbox.errors import forbidden
from pytest_sca.sandbox.faults import Fault, Faults

ROLES: dict[str, list[str]] = {
    "platform_admin": ["*"],
    "tenant_admin": [
        "tenant:read",
        "users:read",
        "users:write",
        "jobs:read",
        "jobs:write",
        "clusters:read",
        "clusters:write",
        "images:read",
        "images:write",
        "usage:read",
        "billing:read",
        "billing:write",
        "audit:read",
    ],
    "member": [
        "tenant:read",
        "users:read",
        "jobs:read",
        "jobs:write:own",
        "clusters:read",
        "images:read",
        "images:write",
        "usage:read",
        "billing:read",
        "billing:write",
    ],
    "readonly": [
        "tenant:read",
        "users:read",
        "jobs:read",
        "clusters:read",
        "images:read",
        "usage:read",
        "billing:read",
    ],
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind the API key."""

    user_id: str
    tenant_id: str
    role: str

    @property
    def is_platform_admin(self) -> bool:
        """Whether the caller may do anything anywhere."""
        return self.role == "platform_admin"


def new_api_key() -> str:
    """A fresh random bearer token."""
    return "sk-sca-" + secrets.token_urlsafe(24)


def key_hash(api_key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


class Permissions:
    """The platform's access rules, bent by the faults the sandbox runs with."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def can_read_tenant(self, who: Principal, tenant_id: str, *, cross_tenant_kind: bool) -> bool:
        """Whether ``who`` may read things of ``tenant_id``.

        ``cross_tenant_kind`` marks the kinds (jobs, users, logs) that the
        ``cross_tenant_read`` fault exposes to every tenant.
        """
        if who.is_platform_admin or who.tenant_id == tenant_id:
            return True
        return cross_tenant_kind and Fault.CROSS_TENANT_READ in self.faults

    def reads_every_tenant(self, who: Principal, *, cross_tenant_kind: bool) -> bool:
        """Whether ``who`` may read such things of every tenant."""
        return who.is_platform_admin or (
            cross_tenant_kind and Fault.CROSS_TENANT_READ in self.faults
        )

    def require_read(self, who: Principal, tenant_id: str, *, cross_tenant_kind: bool) -> None:
        """Raise 403 unless ``who`` may read things of ``tenant_id``."""
        if not self.can_read_tenant(who, tenant_id, cross_tenant_kind=cross_tenant_kind):
            raise forbidden(f"tenant {who.tenant_id} cannot read tenant {tenant_id}")

    def effective_role(self, who: Principal) -> str:
        """The role write rules apply to (``readonly_role_can_write``: readonly acts as member)."""
        if who.role == "readonly" and Fault.READONLY_ROLE_CAN_WRITE in self.faults:
            return "member"
        return who.role

    def require_write(
        self,
        who: Principal,
        tenant_id: str | None,
        *,
        allowed: tuple[str, ...],
        owner: str | None = None,
        cross_tenant_kind: bool = False,
    ) -> None:
        """Raise 403 unless ``who`` may change things of ``tenant_id``.

        ``tenant_id`` ``None`` means a platform-wide resource (platform admin
        only). ``allowed`` names the tenant roles that may do it; a member may
        change only what it owns when ``owner`` is given. ``cross_tenant_kind``
        marks the kinds (jobs) that the ``cross_tenant_write`` fault lets every
        tenant change.
        """
        if who.is_platform_admin:
            return
        role = self.effective_role(who)
        if (tenant_id is not None and tenant_id != who.tenant_id and cross_tenant_kind
                and Fault.CROSS_TENANT_WRITE in self.faults and role in allowed):
            return
        if tenant_id is None or tenant_id != who.tenant_id:
            raise forbidden(f"role {who.role} cannot change resources outside its tenant")
        if role not in allowed:
            raise forbidden(f"role {who.role} may not do this")
        if role == "member" and owner is not None and owner != who.user_id:
            raise forbidden("a member may change only its own resources")
