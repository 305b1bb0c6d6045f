"""Tenants, users, API keys and quotas of the reference platform.

Each tenant gets the default quota, its own bucket and S3 key pair. The
sandbox seeds three tenants on a fresh state: the platform's own (with the
platform admin), the probe tenant the evaluation works in, and a second
tenant that isolation checks try to reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal, key_hash, new_api_key
from pytest_sca.sandbox.compute import Compute
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.inventory import DEFAULT_QUOTA
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.s3 import ObjectStorage, new_s3_credentials
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

PLATFORM_TENANT = "platform"
PROBE_TENANT = "sca-probe"
OTHER_TENANT = "sca-probe-other"
#: The leading characters of an API key that name it (its key id; the rest is the secret).
KEY_ID_CHARS = 16


class Tenancy:
    """Tenants with their users, keys, quotas and storage credentials."""

    def __init__(self, store: Store, permissions: Permissions, runner: JobRunner,
                 compute: Compute, storage: ObjectStorage | None) -> None:
        self.store = store
        self.permissions = permissions
        self.runner = runner
        self.compute = compute
        self.storage = storage

    # seeding --------------------------------------------------------------------------------

    def seed(self) -> None:
        """The platform tenant with its admin, the probe tenant with a member, the other one."""
        admin_tenant = self.create_tenant(PLATFORM_TENANT, {}, tenant_id=PLATFORM_TENANT)
        admin, admin_key = self.create_user(admin_tenant["id"], "admin", "platform_admin", {})
        self.store.set_meta("admin_api_key", admin_key)
        self.store.set_meta("admin_user_id", admin["id"])
        probe = self.create_tenant(PROBE_TENANT, {}, tenant_id=PROBE_TENANT)
        _, member_key = self.create_user(probe["id"], "probe-member", "member", {})
        self.store.set_meta("probe_member_api_key", member_key)
        self.create_tenant(OTHER_TENANT, {}, tenant_id=OTHER_TENANT)

    def ensure_buckets(self) -> None:
        """Create every tenant's bucket (moto forgets them across restarts)."""
        if self.storage is None:
            return
        for tenant in self.store.list("tenant"):
            self.storage.ensure_bucket(tenant["storage"]["bucket"])

    @property
    def admin_api_key(self) -> str:
        """The platform admin's bearer token (kept in state so restarts reuse it)."""
        value = self.store.get_meta("admin_api_key")
        assert value is not None, "seed() first"
        return value

    # authentication -------------------------------------------------------------------------

    def authenticate(self, api_key: str) -> Principal | None:
        """The user behind a bearer token, or ``None``."""
        entry = self.store.get("apikey", key_hash(api_key))
        if entry is None and Fault.API_KEY_SECRET_NOT_CHECKED in self.permissions.faults:
            # The key id (its first characters) is looked up; the secret is never compared.
            entry = next((e for e in self.store.list("apikey")
                          if e.get("prefix") == api_key[:KEY_ID_CHARS]), None)
        if entry is None:
            return None
        user = self.store.get("user", entry["user_id"])
        if user is None:
            return None
        return Principal(user_id=user["id"], tenant_id=user["tenant_id"], role=user["role"])

    # tenants ---------------------------------------------------------------------------------

    def create_tenant(
        self, name: str, labels: dict[str, str], tenant_id: str | None = None
    ) -> Document:
        """A tenant with the default quota, its own bucket and S3 key pair."""
        tenant_id = tenant_id or new_id("tenant")
        access_key, secret_key = new_s3_credentials()
        bucket = f"sca-{tenant_id}".lower()[:63]
        tenant = {
            "id": tenant_id,
            "name": name,
            "labels": labels,
            "created_at": utc_now(),
            "quota": dict(DEFAULT_QUOTA),
            "storage": {"bucket": bucket, "access_key": access_key, "secret_key": secret_key},
        }
        if self.storage is not None:
            self.storage.ensure_bucket(bucket)
        self.store.put("tenant", tenant)
        return tenant

    def tenant(self, tenant_id: str) -> Document:
        """A tenant or 404."""
        tenant = self.store.get("tenant", tenant_id)
        if tenant is None:
            raise not_found(f"tenant {tenant_id}")
        return tenant

    def visible_tenant(self, who: Principal, tenant_id: str,
                       cross_tenant_kind: bool = False) -> Document:
        """A tenant ``who`` may read, or 404."""
        tenant = self.store.get("tenant", tenant_id)
        if tenant is None or not self.permissions.can_read_tenant(
            who, tenant_id, cross_tenant_kind=cross_tenant_kind
        ):
            raise not_found(f"tenant {tenant_id}")
        return tenant

    def tenants_visible_to(self, who: Principal) -> Iterable[str]:
        """Tenant ids whose records ``who`` may list."""
        if who.is_platform_admin:
            return [t["id"] for t in self.store.list("tenant")]
        return [who.tenant_id]

    def visible_tenants(self, who: Principal) -> list[Document]:
        """The tenants ``who`` may list."""
        ids = set(self.tenants_visible_to(who))
        return self.store.list("tenant", where=lambda t: t["id"] in ids)

    def tenant_ids(self) -> list[str]:
        """Every tenant's id."""
        return [t["id"] for t in self.store.list("tenant")]

    def delete_tenant(self, tenant_id: str) -> None:
        """Remove a tenant with its jobs, users, keys, clusters and bucket."""
        tenant = self.tenant(tenant_id)
        if tenant_id == PLATFORM_TENANT:
            raise ApiError(409, "conflict", "the platform tenant cannot be deleted")
        for job in self.store.list("job", tenant_id=tenant_id):
            self.runner.delete(job["id"])
        for user in self.store.list("user", tenant_id=tenant_id):
            self.delete_user(tenant_id, user["id"])
        for cluster in self.store.list("cluster", tenant_id=tenant_id):
            self.compute.delete_cluster(cluster["id"])
        if self.storage is not None:
            self.storage.remove_bucket(tenant["storage"]["bucket"])
        self.store.delete("tenant", tenant_id)

    # users ---------------------------------------------------------------------------------------

    def users(self, tenant_id: str) -> list[Document]:
        """The tenant's users."""
        return self.store.list("user", tenant_id=tenant_id)

    def create_user(
        self, tenant_id: str, name: str, role: str, labels: dict[str, str]
    ) -> tuple[Document, str]:
        """A user and its API key (returned once, stored only as a hash)."""
        self.tenant(tenant_id)
        api_key = new_api_key()
        user = {
            "id": new_id("user"),
            "tenant_id": tenant_id,
            "name": name,
            "role": role,
            "created_at": utc_now(),
            "labels": labels,
            "_key_hash": key_hash(api_key),
        }
        self.store.put("user", user)
        self.store.put("apikey", {"id": user["_key_hash"], "user_id": user["id"],
                                  "prefix": api_key[:KEY_ID_CHARS]})
        return user, api_key

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        """Remove a user and revoke its key."""
        user = self.store.get("user", user_id)
        if user is None or user["tenant_id"] != tenant_id:
            raise not_found(f"user {user_id} in tenant {tenant_id}")
        if user_id == self.store.get_meta("admin_user_id"):
            raise ApiError(409, "conflict", "the sandbox's own platform admin cannot be deleted")
        self.store.delete("apikey", user["_key_hash"])
        self.store.delete("user", user_id)

    # quotas and storage ----------------------------------------------------------------------

    def quota(self, tenant_id: str) -> Document:
        """The tenant's limits and what its active jobs use."""
        tenant = self.tenant(tenant_id)
        return {**tenant["quota"], "used": self.runner.quota_used(tenant_id)}

    def set_quota(self, tenant_id: str, changes: dict[str, Any]) -> Document:
        """Change some of the tenant's limits."""
        self.tenant(tenant_id)
        self.store.update("tenant", tenant_id, lambda t: t["quota"].update(changes))
        return self.quota(tenant_id)

    def storage_credentials(self, tenant: Document) -> Document:
        """Where the tenant's bucket is and the key pair that reaches it."""
        endpoint = self.storage.tenant_endpoint if self.storage else ""
        return {"endpoint": endpoint, "region": "us-east-1", **tenant["storage"]}
