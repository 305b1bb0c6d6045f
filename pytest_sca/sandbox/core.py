"""The reference platform's state and rules, independent of HTTP.

:class:`SandboxPlatform` owns the store, the job runner, the object storage
and the permission rules; the FastAPI app in ``api.py`` only translates
requests into calls here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal, key_hash, new_api_key
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.inventory import DEFAULT_QUOTA, seed_inventory
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.s3 import ObjectStorage, new_s3_credentials
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

PLATFORM_TENANT = "platform"
PROBE_TENANT = "sca-probe"
OTHER_TENANT = "sca-probe-other"


@dataclass
class SandboxPlatform:
    """Everything the API serves, over one state directory."""

    state_dir: Path
    faults: Faults
    storage: ObjectStorage | None = None
    store: Store = field(init=False)
    runner: JobRunner = field(init=False)
    permissions: Permissions = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(self.state_dir / "platform.sqlite3")
        self.runner = JobRunner(self.store, self.state_dir, self.faults)
        self.permissions = Permissions(self.faults)

    # life cycle -----------------------------------------------------------------------

    def initialise(self) -> None:
        """Seed a fresh store (inventory, tenants, admin key) or keep what a restart finds."""
        with self.store.lock:
            if self.store.get_meta("seeded") is None:
                seed_inventory(self.store)
                admin_tenant = self.create_tenant(PLATFORM_TENANT, {}, tenant_id=PLATFORM_TENANT)
                admin, admin_key = self.create_user(
                    admin_tenant["id"], "admin", "platform_admin", {}
                )
                self.store.set_meta("admin_api_key", admin_key)
                self.store.set_meta("admin_user_id", admin["id"])
                probe = self.create_tenant(PROBE_TENANT, {}, tenant_id=PROBE_TENANT)
                _, member_key = self.create_user(probe["id"], "probe-member", "member", {})
                self.store.set_meta("probe_member_api_key", member_key)
                self.create_tenant(OTHER_TENANT, {}, tenant_id=OTHER_TENANT)
                self.store.set_meta("seeded", utc_now())

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
        assert value is not None, "initialise() first"
        return value

    def close(self) -> None:
        """Stop every job, then close the store."""
        self.runner.close()
        self.store.close()

    # authentication -------------------------------------------------------------------

    def authenticate(self, api_key: str) -> Principal | None:
        """The user behind a bearer token, or ``None``."""
        entry = self.store.get("apikey", key_hash(api_key))
        if entry is None:
            return None
        user = self.store.get("user", entry["user_id"])
        if user is None:
            return None
        return Principal(user_id=user["id"], tenant_id=user["tenant_id"], role=user["role"])

    # tenants and users ------------------------------------------------------------------

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
            self.delete_cluster(cluster["id"])
        if self.storage is not None:
            self.storage.remove_bucket(tenant["storage"]["bucket"])
        self.store.delete("tenant", tenant_id)

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
        self.store.put("apikey", {"id": user["_key_hash"], "user_id": user["id"]})
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

    def quota(self, tenant_id: str) -> Document:
        """The tenant's limits and what its active jobs use."""
        tenant = self.tenant(tenant_id)
        return {**tenant["quota"], "used": self.runner.quota_used(tenant_id)}

    def set_quota(self, tenant_id: str, changes: dict[str, Any]) -> Document:
        """Change some of the tenant's limits."""
        self.tenant(tenant_id)
        self.store.update("tenant", tenant_id, lambda t: t["quota"].update(changes))
        return self.quota(tenant_id)

    # clusters ----------------------------------------------------------------------------

    def cluster(self, cluster_id: str) -> Document:
        """A cluster or 404."""
        cluster = self.store.get("cluster", cluster_id)
        if cluster is None:
            raise not_found(f"cluster {cluster_id}")
        return cluster

    def delete_cluster(self, cluster_id: str) -> None:
        """Remove a cluster and its nodes; refused while a job holds one of its cards."""
        cluster = self.cluster(cluster_id)
        nodes = [self.store.get("node", n) for n in cluster["node_ids"]]
        if any(a["allocated_to"] for n in nodes if n for a in n["accelerators"]):
            raise ApiError(409, "conflict", f"cluster {cluster_id} has running jobs")
        for node_id in cluster["node_ids"]:
            self.store.delete("node", node_id)
        self.store.delete("cluster", cluster_id)

    # usage, billing, audit ------------------------------------------------------------------

    def record_audit(
        self, who: Principal, action: str, resource: str, result: str, status: int
    ) -> None:
        """One audit entry for a mutation (nothing under the ``audit_log_off`` fault)."""
        if Fault.AUDIT_LOG_OFF in self.faults:
            return
        now = utc_now()
        self.store.put("audit", {
            "id": new_id("audit"),
            "time": now,
            "created_at": now,
            "actor": who.user_id,
            "tenant_id": who.tenant_id,
            "role": who.role,
            "action": action,
            "resource": resource,
            "result": result,
            "status_code": status,
            "labels": {},
        })

    def bill(self, tenant_id: str, period: str) -> Document:
        """The tenant's bill for ``period`` (YYYY-MM): usage records × product prices."""
        products = {p["kind"]: p for p in self.store.list("product")}
        per_hour = {"cpu": ("cpu", 3600.0), "memory": ("memory", 3600.0),
                    "accelerator": ("accelerator", 3600.0)}
        totals: dict[str, float] = {}
        for record in self.store.list("usage", tenant_id=tenant_id):
            if record["end"].startswith(period):
                resource = record["resource"]
                totals[resource] = totals.get(resource, 0.0) + record["quantity"]
        lines = []
        for resource, quantity in sorted(totals.items()):
            kind, seconds_per_unit = per_hour[resource]
            product = products[kind]
            units = quantity / seconds_per_unit
            lines.append({
                "product_id": product["id"],
                "resource": resource,
                "usage_quantity": round(quantity, 6),
                "quantity": round(units, 9),
                "unit": product["unit"],
                "unit_price": product["unit_price"],
                "amount": round(units * product["unit_price"], 6),
            })
        for order in self.store.list("order", tenant_id=tenant_id):
            if Fault.ORDERS_NOT_BILLED in self.faults:
                break
            if order["status"] == "active" and order["created_at"].startswith(period):
                lines.append({
                    "product_id": order["product_id"],
                    "resource": "order",
                    "order_id": order["id"],
                    "quantity": order["quantity"],
                    "unit_price": order["unit_price"],
                    "amount": order["amount"],
                })
        return {
            "id": f"bill-{tenant_id}-{period}",
            "tenant_id": tenant_id,
            "period": period,
            "lines": lines,
            "total": round(sum(line["amount"] for line in lines), 6),
            "currency": "CNY",
            "created_at": utc_now(),
            "labels": {},
        }

    def tenants_visible_to(self, who: Principal) -> Iterable[str]:
        """Tenant ids whose records ``who`` may list."""
        if who.is_platform_admin:
            return [t["id"] for t in self.store.list("tenant")]
        return [who.tenant_id]
