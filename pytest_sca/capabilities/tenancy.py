"""Capability ``tenancy``: tenants, users, roles, quotas, the caller's identity."""

from __future__ import annotations

from typing import Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels


class WhoAmI(TypedDict, total=False):
    """The caller as the platform knows it."""

    user_id: str
    tenant_id: str | None
    role: str


class Tenant(TypedDict, total=False):
    """A tenant (a namespace, an account, an organisation)."""

    id: str
    name: str
    labels: dict[str, str]
    created_at: str
    #: The organisation unit the tenant belongs to, where the platform names one apart.
    org_unit: str


class User(TypedDict, total=False):
    """A user of a tenant; ``api_key`` only in the answer that created it."""

    id: str
    tenant_id: str
    name: str
    role: str
    labels: dict[str, str]
    created_at: str
    api_key: str


class Role(TypedDict, total=False):
    """A role and what it may do."""

    name: str
    permissions: list[str]


class QuotaFigures(TypedDict, total=False):
    """Amounts of the resources a quota limits."""

    cpu: float | None
    memory_gib: float | None
    accelerators: int | None


class Quota(QuotaFigures, total=False):
    """A tenant's limits and what it uses of them."""

    used: QuotaFigures


class StorageCredentials(TypedDict, total=False):
    """A tenant's object storage: where, which bucket, which keys."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str


@runtime_checkable
class Tenancy(ActsAs, Protocol):
    """Tenants, users, roles, quotas and the caller's identity."""

    def whoami(self) -> WhoAmI:
        """The caller: ``{user_id, tenant_id, role}``."""
        ...

    def list_tenants(self) -> list[Tenant]:
        """Tenants the caller may see."""
        ...

    def create_tenant(self, name: str, labels: Labels | None = None) -> Tenant:
        """Create a tenant (labelled with the run id, removed at the end of the check)."""
        ...

    def get_tenant(self, tenant_id: str) -> Tenant:
        """One tenant."""
        ...

    def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant."""
        ...

    def list_users(self, tenant_id: str) -> list[User]:
        """Users of a tenant."""
        ...

    def create_user(self, tenant_id: str, name: str, role: str,
                    labels: Labels | None = None) -> User:
        """Create a user with a role (removed at the end of the check); the answer carries
        its ``api_key`` (shown once, masked in every output)."""
        ...

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        """Delete a user."""
        ...

    def list_roles(self) -> list[Role]:
        """Roles and their permissions."""
        ...

    def get_quota(self, tenant_id: str) -> Quota:
        """A tenant's quota and usage."""
        ...

    def set_quota(self, tenant_id: str, *, cpu: float | None = None,
                  memory_gib: float | None = None, accelerators: int | None = None) -> Quota:
        """Set the limits given (the others unchanged); returns the quota."""
        ...

    def storage_credentials(self, tenant_id: str) -> StorageCredentials:
        """The tenant's object storage (its keys are masked in every output)."""
        ...
