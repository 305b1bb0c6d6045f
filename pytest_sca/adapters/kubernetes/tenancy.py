"""``tenancy``: a tenant is a Namespace (labelled ``sca-tenant``); a user is a ServiceAccount
bound to a built-in ClusterRole by :data:`~.resources.ROLE_CLUSTER_ROLES` (``admin``,
``edit``, ``view``; ``cluster-admin`` for a platform admin), its API key a TokenRequest
token; the quota is the ResourceQuota ``sca-quota`` (``requests.cpu``, ``requests.memory``
and ``requests.<card resource>`` of every accelerator resource of the cluster).
A user's jobs go to its tenant's namespace."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    RUN_LABEL,
    Labels,
    Quota,
    QuotaFigures,
    Refused,
    Role,
    StorageCredentials,
    Tenant,
    Unsupported,
    User,
    WhoAmI,
)

from .adapter import KubernetesAdapter
from .compute import KubeCompute
from .resources import (
    QUOTA_NAME,
    ROLE_CLUSTER_ROLES,
    ROLE_LABEL,
    TENANT_LABEL,
    TOKEN_SECONDS,
    dns_name,
    vendor_of,
)
from .resources import quantity as _quantity


class KubeTenancy(Facade[KubernetesAdapter]):
    """Tenants as namespaces, users as service accounts with RBAC, quotas as ResourceQuota."""

    def whoami(self) -> WhoAmI:
        from kubernetes import client

        review = self.subject.call(
            "self subject review",
            client.AuthenticationV1Api(self.subject.api).create_self_subject_review,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        info = review.status.user_info if review.status else None
        username = info.username if info is not None and info.username else "unknown"
        parts = username.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            account = self.subject.call(
                "read service account", self.subject.core().read_namespaced_service_account,
                parts[3], parts[2])
            role = (account.metadata.labels or {}).get(ROLE_LABEL, "unknown")
            return {"user_id": username, "tenant_id": parts[2], "role": role}
        return {"user_id": username, "tenant_id": self.subject._own_namespace,
                "role": "platform_admin" if self.subject._credential is None else "unknown"}

    def list_tenants(self) -> list[Tenant]:
        found = self.subject.call("list namespaces", self.subject.core().list_namespace).items
        return [self._tenant(ns) for ns in found]

    def create_tenant(self, name: str, labels: Labels | None = None) -> Tenant:
        adapter = self.subject
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": dns_name(name),
                             "labels": {**(labels or {}), TENANT_LABEL: "true",
                                        RUN_LABEL: adapter.context.run_id}}}
        created = adapter.call("create namespace", adapter.core().create_namespace, body)
        adapter.remember("namespace", "", created.metadata.name)
        return self._tenant(created)

    def get_tenant(self, tenant_id: str) -> Tenant:
        return self._tenant(self.subject.call(f"namespaces/{tenant_id}",
                                              self.subject.core().read_namespace, tenant_id))

    def delete_tenant(self, tenant_id: str) -> None:
        self.subject.call("delete namespace", self.subject.core().delete_namespace, tenant_id)
        self.subject.forget("namespace", "", tenant_id)

    def list_users(self, tenant_id: str) -> list[User]:
        found = self.subject.call("list service accounts",
                                  self.subject.core().list_namespaced_service_account,
                                  tenant_id).items
        return [self._user(account) for account in found]

    def create_user(self, tenant_id: str, name: str, role: str,
                    labels: Labels | None = None) -> User:
        adapter = self.subject
        if role not in ROLE_CLUSTER_ROLES:
            raise Refused("kubernetes create user", 422, "invalid_request",
                          f"role {role!r} is none of {', '.join(ROLE_CLUSTER_ROLES)}")
        account_name = dns_name(name)
        all_labels = {**(labels or {}), ROLE_LABEL: role, RUN_LABEL: adapter.context.run_id}
        account = adapter.call(
            "create service account", adapter.core().create_namespaced_service_account,
            tenant_id, {"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": account_name, "labels": all_labels}})
        adapter.remember("serviceaccount", tenant_id, account_name)
        binding: dict[str, Any] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": account_name, "labels": all_labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": ROLE_CLUSTER_ROLES[role]},
            "subjects": [{"kind": "ServiceAccount", "name": account_name,
                          "namespace": tenant_id}],
        }
        if role == "platform_admin":
            binding["metadata"]["name"] = f"{tenant_id}-{account_name}"
            adapter.call("create cluster role binding",
                         adapter.rbac().create_cluster_role_binding,
                         {**binding, "kind": "ClusterRoleBinding"})
            adapter.remember("clusterrolebinding", "", binding["metadata"]["name"])
        else:
            adapter.call("create role binding", adapter.rbac().create_namespaced_role_binding,
                         tenant_id, {**binding, "kind": "RoleBinding"})
            adapter.remember("rolebinding", tenant_id, account_name)
        token = adapter.call(
            "request token", adapter.core().create_namespaced_service_account_token,
            account_name, tenant_id,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}})
        api_key = token.status.token
        adapter.context.redact.add([api_key])
        adapter._root._token_namespaces[api_key] = tenant_id
        return {**self._user(account), "api_key": api_key}

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        adapter = self.subject
        with contextlib.suppress(Refused):
            adapter.call("delete role binding", adapter.rbac().delete_namespaced_role_binding,
                         user_id, tenant_id)
        adapter.forget("rolebinding", tenant_id, user_id)
        adapter.call("delete service account",
                     adapter.core().delete_namespaced_service_account, user_id, tenant_id)
        adapter.forget("serviceaccount", tenant_id, user_id)

    def list_roles(self) -> list[Role]:
        return [{"name": role, "permissions": [f"clusterrole/{cluster_role}"]}
                for role, cluster_role in ROLE_CLUSTER_ROLES.items()]

    def get_quota(self, tenant_id: str) -> Quota:
        adapter = self.subject
        try:
            quota = adapter.call("read quota", adapter.core().read_namespaced_resource_quota,
                                 QUOTA_NAME, tenant_id)
        except Refused as exc:
            if exc.status != 404:
                raise
            return {"cpu": None, "memory_gib": None, "accelerators": None,
                    "used": {"cpu": 0.0, "memory_gib": 0.0, "accelerators": 0}}
        hard = dict(quota.spec.hard or {}) if quota.spec else {}
        used = dict(quota.status.used or {}) if quota.status and quota.status.used else {}
        limits, consumed = self._limits(hard), self._limits(used)
        return {**limits, "used": {"cpu": consumed["cpu"] or 0.0,
                                   "memory_gib": consumed["memory_gib"] or 0.0,
                                   "accelerators": consumed["accelerators"] or 0}}

    def set_quota(self, tenant_id: str, *, cpu: float | None = None,
                  memory_gib: float | None = None, accelerators: int | None = None) -> Quota:
        adapter = self.subject
        hard: dict[str, str] = {}
        if cpu is not None:
            hard["requests.cpu"] = f"{cpu:g}"
        if memory_gib is not None:
            hard["requests.memory"] = f"{memory_gib:g}Gi"
        if accelerators is not None:
            resources = {card["resource"] for node in KubeCompute(adapter).list_nodes()
                         for card in node["accelerators"]} or {"nvidia.com/gpu"}
            hard.update({f"requests.{r}": str(accelerators) for r in sorted(resources)})
        try:
            adapter.call("patch quota", adapter.core().patch_namespaced_resource_quota,
                         QUOTA_NAME, tenant_id, {"spec": {"hard": hard}})
        except Refused as exc:
            if exc.status != 404:
                raise
            adapter.call("create quota", adapter.core().create_namespaced_resource_quota,
                         tenant_id, {"apiVersion": "v1", "kind": "ResourceQuota",
                                     "metadata": {"name": QUOTA_NAME,
                                                  "labels": {RUN_LABEL: adapter.context.run_id}},
                                     "spec": {"hard": hard}})
        return self.get_quota(tenant_id)

    def storage_credentials(self, tenant_id: str) -> StorageCredentials:
        raise Unsupported(
            "Kubernetes has no tenant object storage: add `adapters.s3` (or `adapters.platform`)")

    def _limits(self, values: Mapping[str, Any]) -> QuotaFigures:
        extra = self.subject.config.vendor_resources
        cards = [int(_quantity(v)) for k, v in values.items()
                 if k.startswith("requests.") and vendor_of(k.removeprefix("requests."), extra)]
        cpu, memory = values.get("requests.cpu"), values.get("requests.memory")
        return {"cpu": _quantity(cpu) if cpu is not None else None,
                "memory_gib": round(_quantity(memory) / 2**30, 3) if memory is not None
                else None,
                # A quota per card resource: a tenant gets the same number of each kind.
                "accelerators": max(cards) if cards else None}

    @staticmethod
    def _tenant(namespace: Any) -> Tenant:
        return {"id": namespace.metadata.name, "name": namespace.metadata.name,
                "labels": dict(namespace.metadata.labels or {}),
                "created_at": str(namespace.metadata.creation_timestamp or "")}

    @staticmethod
    def _user(account: Any) -> User:
        labels = dict(account.metadata.labels or {})
        return {"id": account.metadata.name, "tenant_id": account.metadata.namespace,
                "name": account.metadata.name, "role": labels.get(ROLE_LABEL, "unknown"),
                "created_at": str(account.metadata.creation_timestamp or ""), "labels": labels}

