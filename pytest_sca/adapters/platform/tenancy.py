"""``tenancy`` over the platform API."""

from __future__ import annotations

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.capabilities import Labels, Quota, Role, StorageCredentials, Tenant, User, WhoAmI


def labels_or_none(labels: Labels | None) -> dict[str, str] | None:
    """Labels as the API takes them (``None`` when there are none)."""
    return dict(labels) if labels else None


class PlatformTenancy(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Tenancy` over the platform API."""

    def whoami(self) -> WhoAmI:
        return self.subject.call("platform.whoami")

    def list_tenants(self) -> list[Tenant]:
        return self.subject.call("tenants.list")

    def create_tenant(self, name: str, labels: Labels | None = None) -> Tenant:
        return self.subject.create(
            "tenants.create", "tenants", "tenants.delete", {"tenant_id": "id"},
            name=name, labels=labels_or_none(labels))

    def get_tenant(self, tenant_id: str) -> Tenant:
        return self.subject.call("tenants.get", tenant_id=tenant_id)

    def delete_tenant(self, tenant_id: str) -> None:
        self.subject.remove("tenants.delete", tenant_id=tenant_id)

    def list_users(self, tenant_id: str) -> list[User]:
        return self.subject.call("users.list", tenant_id=tenant_id)

    def create_user(self, tenant_id: str, name: str, role: str,
                    labels: Labels | None = None) -> User:
        user: User = self.subject.create(
            "users.create", "users", "users.delete", {"tenant_id": "=tenant_id", "user_id": "id"},
            tenant_id=tenant_id, name=name, role=role, labels=labels_or_none(labels))
        # A key the platform hands out during the run is a secret like the target's own.
        if isinstance(user.get("api_key"), str):
            self.subject.context.redact.add([user["api_key"]])
        return user

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        self.subject.remove("users.delete", tenant_id=tenant_id, user_id=user_id)

    def list_roles(self) -> list[Role]:
        return self.subject.call("roles.list")

    def get_quota(self, tenant_id: str) -> Quota:
        return self.subject.call("quota.get", tenant_id=tenant_id)

    def set_quota(self, tenant_id: str, *, cpu: float | None = None,
                  memory_gib: float | None = None, accelerators: int | None = None) -> Quota:
        return self.subject.call(
            "quota.set", tenant_id=tenant_id, cpu=cpu, memory_gib=memory_gib,
            accelerators=accelerators)

    def storage_credentials(self, tenant_id: str) -> StorageCredentials:
        credentials: StorageCredentials = self.subject.call("storage.credentials",
                                                            tenant_id=tenant_id)
        # Keys the platform hands out during the run are secrets like the target's own.
        self.subject.context.redact.add(
            [v for k, v in credentials.items() if k in ("access_key", "secret_key")
             and isinstance(v, str)])
        return credentials
