"""The Kubernetes adapter: compute inventory from nodes, jobs as batch Jobs (official client).

Capabilities, in the reference API's shapes (``capabilities.py``):

- ``tenancy``: a tenant is a Namespace (labelled ``sca-tenant``); a user is a
  ServiceAccount bound to a ClusterRole by :data:`ROLE_CLUSTER_ROLES` (``admin``,
  ``edit``, ``view``; ``cluster-admin`` for a platform admin), its API key a
  TokenRequest token; the quota is the ResourceQuota ``sca-quota`` (``requests.cpu``,
  ``requests.memory`` and ``requests.<card resource>`` of every accelerator resource
  of the cluster). A user's jobs go to its tenant's namespace.
- ``compute``: nodes with their allocatable extended resources read through
  :data:`VENDOR_RESOURCES` (extendable with ``vendor_resources`` in the target
  file); a card is ``allocated_to`` the job of a live pod that requests it.
- ``jobs``: a job is a ``batch/v1`` Job of ``workers`` pods (Indexed when more
  than one, with a headless Service so that rank 0 is reachable at
  ``MASTER_ADDR``), each pod requesting its share of CPU, memory and cards;
  status, workers, events and logs come from the Job, its pods and their events;
  ``stop`` suspends the Job.

Everything it creates carries ``sca-run=<run id>`` and is deleted at ``close``.
No network in ``__init__``: the client is built on first use.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.capabilities import (
    RUN_LABEL,
    TERMINAL_JOB_STATUSES,
    Accelerator,
    Job,
    JobEvent,
    Labels,
    Node,
    PlatformInfo,
    Quota,
    QuotaFigures,
    RefusalReason,
    Refused,
    Resources,
    Role,
    StorageCredentials,
    TargetError,
    Tenant,
    Unsupported,
    User,
    WhoAmI,
    Worker,
    wait_for_status,
)
from pytest_sca.cleanup import UndoAction

#: Extended resource name (or prefix ending in ``*``) → accelerator vendor. Device plugins:
#: NVIDIA (whole GPUs and MIG slices), Huawei Ascend, Cambricon MLU, Hygon DCU, Kunlunxin XPU,
#: MetaX, Iluvatar CoreX, Moore Threads, Enflame GCU; HAMi's shared-GPU resources.
VENDOR_RESOURCES: dict[str, str] = {
    "nvidia.com/gpu": "nvidia",
    "nvidia.com/mig-*": "nvidia",
    "huawei.com/Ascend910*": "huawei",
    "huawei.com/Ascend310*": "huawei",
    "cambricon.com/mlu*": "cambricon",
    "hygon.com/dcu": "hygon",
    "kunlunxin.com/xpu": "kunlunxin",
    "metax-tech.com/gpu": "metax",
    "iluvatar.ai/*": "iluvatar",
    "mthreads.com/*": "mthreads",
    "enflame.com/*": "enflame",
}
#: Resources that describe a share of a card (HAMi), not cards: never counted as cards.
SHARE_RESOURCES = frozenset({"nvidia.com/gpumem", "nvidia.com/gpucores",
                             "nvidia.com/gpumem-percentage"})
#: Node labels that name the accelerator model, first found wins.
MODEL_LABELS = ("nvidia.com/gpu.product", "accelerator", "node.kubernetes.io/accelerator",
                "huawei.com/accelerator-type")
#: Node labels kept as topology (zone, rack, switch group).
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone",
                   "topology.kubernetes.io/rack", "network.topology/switch")
TENANT_LABEL = "sca-tenant"
ROLE_LABEL = "sca-role"
QUOTA_NAME = "sca-quota"
#: The tenant roles of the reference API → the ClusterRole a user's RoleBinding grants.
ROLE_CLUSTER_ROLES: dict[str, str] = {
    "tenant_admin": "admin", "member": "edit", "readonly": "view",
    "platform_admin": "cluster-admin",
}
#: Lifetime of the tokens the adapter requests for the users it creates.
TOKEN_SECONDS = 3600
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
MASTER_PORT = 29500

_POD_STATUS = {"Pending": "pending", "Running": "running", "Succeeded": "succeeded",
               "Failed": "failed", "Unknown": "pending"}


def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label: lowercase alphanumerics and dashes."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "sca"


def vendor_of(resource: str, extra: Mapping[str, str] | None = None) -> str | None:
    """The vendor of an extended resource name, or ``None`` if it is not an accelerator."""
    if resource in SHARE_RESOURCES:
        return None
    table = {**VENDOR_RESOURCES, **(extra or {})}
    if resource in table:
        return table[resource]
    for pattern, vendor in table.items():
        if pattern.endswith("*") and resource.startswith(pattern[:-1]):
            return vendor
    return None


def _quantity(value: Any) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(value))) if value is not None else 0.0


#: Kinds the adapter creates → how to delete one (namespace, name) and how to list them
#: by label across the cluster (for the sweep of a killed run).
def _deleters(adapter: KubernetesAdapter) -> dict[str, Any]:
    core, batch, rbac = adapter.core(), adapter.batch(), adapter.rbac()
    return {
        "job": lambda ns, name: batch.delete_namespaced_job(
            name, ns, propagation_policy="Background"),
        "service": lambda ns, name: core.delete_namespaced_service(name, ns),
        "serviceaccount": lambda ns, name: core.delete_namespaced_service_account(name, ns),
        "rolebinding": lambda ns, name: rbac.delete_namespaced_role_binding(name, ns),
        "clusterrolebinding": lambda ns, name: rbac.delete_cluster_role_binding(name),
        "resourcequota": lambda ns, name: core.delete_namespaced_resource_quota(name, ns),
        "namespace": lambda ns, name: core.delete_namespace(name),
    }


def _listers(adapter: KubernetesAdapter) -> dict[str, Any]:
    core, batch, rbac = adapter.core(), adapter.batch(), adapter.rbac()
    return {
        "job": batch.list_job_for_all_namespaces,
        "service": core.list_service_for_all_namespaces,
        "serviceaccount": core.list_service_account_for_all_namespaces,
        "rolebinding": rbac.list_role_binding_for_all_namespaces,
        "clusterrolebinding": rbac.list_cluster_role_binding,
        "resourcequota": core.list_resource_quota_for_all_namespaces,
        "namespace": core.list_namespace,
    }


#: Kinds in the order a sweep removes them (what lives in a namespace before the namespace).
_KINDS = ("job", "service", "rolebinding", "clusterrolebinding", "serviceaccount",
          "resourcequota", "namespace")


class KubernetesAdapter(Adapter):
    """A Kubernetes cluster through the official client."""

    transport: ClassVar[str] = "kubernetes"
    config_model: ClassVar[type[KubernetesConfig]] = KubernetesConfig
    sweeps: ClassVar[frozenset[str]] = frozenset(f"kubernetes:{kind}" for kind in _KINDS)

    def __init__(self, config: KubernetesConfig, context: AdapterContext, *,
                 credential: str | None = None, namespace: str | None = None,
                 _root: KubernetesAdapter | None = None, _unretried: bool = False) -> None:
        super().__init__(config, context)
        self._root = _root or self
        self._credential = credential
        #: Requests are sent once: urllib3's retries of failed connections are off.
        self._unretried = _unretried
        self._own_namespace = namespace
        self._client: Any = None
        if _root is None:
            self._undo: dict[tuple[str, str, str], UndoAction] = {}
            self._namespace_ready = False
            #: token of a user the run created → its tenant's namespace
            self._token_namespaces: dict[str, str] = {}

    # the client -------------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The ``kubernetes.client.ApiClient``, built on first use."""
        if self._client is None:
            from kubernetes import client, config

            if self._root is not self:
                base = self._root.api.configuration
                if self._credential is None:  # the root's own principal, another client
                    configuration = copy.deepcopy(base)
                else:
                    configuration = client.Configuration()
                    configuration.host = base.host
                    configuration.ssl_ca_cert = base.ssl_ca_cert
                    configuration.verify_ssl = base.verify_ssl
                    configuration.api_key = {"authorization": f"Bearer {self._credential}"}
                if self._unretried:
                    configuration.retries = False
                self._client = client.ApiClient(configuration)
            elif self.config.in_cluster:
                config.load_incluster_config()
                self._client = client.ApiClient()
            else:
                kubeconfig = self.config.kubeconfig
                self._client = config.new_client_from_config(
                    config_file=os.path.expanduser(kubeconfig) if kubeconfig else None,
                    context=self.config.context)
        return self._client

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    def rbac(self) -> Any:
        from kubernetes import client

        return client.RbacAuthorizationV1Api(self.api)

    def call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the client: a 4xx answer raises :class:`Refused`, the rest :class:`TargetError`."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args, **kwargs)
        except ApiException as exc:
            status = int(exc.status or 0)
            message = f"{exc.reason}"
            if 400 <= status < 500:
                raise Refused(f"kubernetes {what}", status,
                              str(exc.reason or "").lower() or None, message,
                              _quota_refusal(status, exc.body)) from None
            raise TargetError(f"kubernetes {what}: answered {status} {message}") from None
        except (HTTPError, OSError) as exc:
            raise TargetError(f"kubernetes {what}: cannot reach the API server "
                              f"({type(exc).__name__})") from None

    @property
    def namespace(self) -> str:
        """Where probe workloads go: the user's tenant, the configured namespace, or one the
        run creates."""
        if self._own_namespace:
            return self._own_namespace
        if self.config.namespace:
            return str(self.config.namespace)
        return dns_name(f"{self.config.namespace_prefix}{self.context.run_id}")

    def ensure_namespace(self) -> str:
        """The workload namespace, created (labelled, removed at the end of the run) if the
        run owns it."""
        root = self._root
        if self._own_namespace is None and self.config.namespace is None \
                and not root._namespace_ready:
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": self.namespace,
                                 "labels": {RUN_LABEL: self.context.run_id}}}
            try:
                self.call("create namespace", self.core().create_namespace, body)
                # The run's namespace outlives single checks: it goes at the end of the run.
                scope, self.context.ledger.scope = self.context.ledger.scope, None
                try:
                    self.remember("namespace", "", self.namespace)
                finally:
                    self.context.ledger.scope = scope
            except Refused as exc:
                if exc.status != 409:
                    raise
            root._namespace_ready = True
        return self.namespace

    def remember(self, kind: str, namespace: str, name: str) -> None:
        """Register the deletion of an object the run created in the running check's cleanup."""
        root = self._root
        key = (kind, namespace, name)

        def delete() -> None:
            try:
                root.call(f"delete {kind} {name}", _deleters(root)[kind], namespace, name)
            except Refused as exc:
                if exc.status != 404:
                    raise

        where = f"{namespace}/{name}" if namespace else name
        root._undo[key] = self.context.created(f"kubernetes:{kind}", f"delete {kind} {where}",
                                               delete)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """An object the run created was deleted on purpose."""
        action = self._root._undo.pop((kind, namespace, name), None)
        if action is not None:
            action.cancel()

    def created_here(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the run created that object and it still exists."""
        action = self._root._undo.get((kind, namespace, name))
        return action is not None and not action.done

    # principals, capabilities, life cycle ---------------------------------------------------

    def acting_as(self, credential: str) -> KubernetesAdapter:
        """The same cluster seen with another bearer token (a service account's)."""
        self.context.redact.add([credential])
        return KubernetesAdapter(self.config, self.context, credential=credential,
                                 namespace=self._root._token_namespaces.get(credential),
                                 _root=self._root)

    def unretried(self) -> KubernetesAdapter:
        """The same principal whose requests are sent once: no retry of a failed connection
        (a measurement counts it)."""
        return KubernetesAdapter(self.config, self.context, credential=self._credential,
                                 namespace=self._own_namespace, _root=self._root,
                                 _unretried=True)

    def sweep(self, run_id: str) -> list[str]:
        """Delete every object labelled with ``run_id``, namespaced kinds first; one line per
        failure (404 is success)."""
        failures: list[str] = []
        listers, deleters = _listers(self), _deleters(self)
        for kind in _KINDS:
            try:
                found = self.call(f"list {kind}", listers[kind],
                                  label_selector=f"{RUN_LABEL}={run_id}").items
            except (Refused, TargetError) as exc:
                failures.append(f"list {kind}: {exc}")
                continue
            for item in found:
                name, namespace = item.metadata.name, item.metadata.namespace or ""
                try:
                    self.call(f"delete {kind} {name}", deleters[kind], namespace, name)
                except Refused as exc:
                    if exc.status != 404:
                        failures.append(f"delete {kind} {namespace}/{name}: {exc}")
                except TargetError as exc:
                    failures.append(f"delete {kind} {namespace}/{name}: {exc}")
        return failures

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: the API server's ``/version``, the API groups it serves (those the checks
        use named), and who the credentials are (SelfSubjectReview)."""
        from kubernetes import client

        try:
            api = self.api
        except Exception as exc:  # noqa: BLE001 - kubeconfig errors come in many types
            return [Finding("config", "fail", f"cannot load the cluster's configuration: "
                            f"{type(exc).__name__}: {exc}")]
        host = api.configuration.host
        findings: list[Finding] = []
        try:
            version = self.call("version", client.VersionApi(api).get_code,
                                _request_timeout=timeout)
            findings.append(Finding("api", "ok", f"{host}: Kubernetes {version.git_version} "
                                    f"({version.platform})"))
        except Refused as refusal:
            findings.append(Finding("api", "warn", f"{host}/version: refused {refusal.status}"))
        except TargetError as exc:
            return [Finding("reachable", "fail", str(exc))]
        try:
            groups = self.call("API groups", client.ApisApi(api).get_api_versions,
                               _request_timeout=timeout).groups or []
            names = sorted(g.name for g in groups)
            used = [g for g in ("batch", "kueue.x-k8s.io", "scheduling.volcano.sh",
                                "trainer.kubeflow.org", "kubeflow.org", "jobset.x-k8s.io",
                                "serving.kserve.io", "resource.k8s.io", "networking.k8s.io",
                                "autoscaling") if g in names]
            findings.append(Finding("offers", "info", f"{len(names)} API groups; used by "
                                    f"checks: {', '.join(used) or 'none'}"))
        except (Refused, TargetError) as exc:
            findings.append(Finding("offers", "warn", f"cannot list API groups: {exc}"))
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            review = self.call("SelfSubjectReview",
                               client.AuthenticationV1Api(api).create_self_subject_review,
                               body, _request_timeout=timeout)
            user = review.status.user_info
            findings.append(Finding("credentials", "ok", f"authenticated as {user.username}"
                                    + (f" (groups: {', '.join(user.groups)})"
                                       if user.groups else "")))
        except Refused as refusal:
            findings.append(Finding("credentials", "fail" if refusal.status == 401 else "warn",
                                    f"SelfSubjectReview refused {refusal.status}: "
                                    f"{refusal.message}"))
        except TargetError as exc:
            findings.append(Finding("credentials", "fail", str(exc)))
        return findings

    def close(self) -> None:
        """Close the client (what the run created is removed by the cleanup ledger)."""
        if self._root is self and self._client is not None:
            self._client.close()


def _quota_refusal(status: int, body: Any) -> RefusalReason | None:
    """Kubernetes refuses what a ResourceQuota forbids with 403 "exceeded quota": a quota
    refusal, not an authorization one."""
    if status == 403 and "exceeded quota" in str(body or ""):
        return RefusalReason.QUOTA
    return None


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


class KubeCompute(Facade[KubernetesAdapter]):
    """Nodes and their accelerators (:class:`~pytest_sca.capabilities.Compute`)."""

    def platform_info(self) -> PlatformInfo:
        from kubernetes import client

        version = self.subject.call("version", client.VersionApi(self.subject.api).get_code)
        return {"name": "kubernetes", "version": version.git_version,
                "api_version": f"{version.major}.{version.minor}", "simulated": False}

    def list_nodes(self, cluster_id: str | None = None) -> list[Node]:
        core = self.subject.core()
        nodes = self.subject.call("list nodes", core.list_node).items
        pods = self.subject.call("list pods", core.list_pod_for_all_namespaces).items
        cluster = self.subject.config.context or "kubernetes"
        if cluster_id not in (None, cluster):
            return []
        return [self._node(node, pods, cluster) for node in nodes]

    def get_node(self, node_id: str) -> Node:
        for node in self.list_nodes():
            if node["id"] == node_id:
                return node
        raise Refused(f"kubernetes nodes/{node_id}", 404, "not_found", f"node {node_id}")

    def _node(self, node: Any, pods: list[Any], cluster: str) -> Node:
        extra = self.subject.config.vendor_resources
        labels = dict(node.metadata.labels or {})
        allocatable = dict(node.status.allocatable or {}) if node.status else {}
        model_label = next((labels[k] for k in MODEL_LABELS if k in labels), None)
        holders = self._holders(node.metadata.name, pods)
        cards: list[Accelerator] = []
        for resource, amount in sorted(allocatable.items()):
            vendor = vendor_of(resource, extra)
            if vendor is None:
                continue
            owners = holders.get(resource, [])
            for _ in range(int(_quantity(amount))):
                index = len(cards)
                cards.append({
                    "index": index, "vendor": vendor, "resource": resource,
                    "model": model_label or resource.split("/", 1)[1],
                    "memory_gib": None,
                    "allocated_to": owners.pop(0) if owners else None,
                })
        conditions = {c.type: c.status for c in (node.status.conditions or [])} \
            if node.status else {}
        return {
            "id": node.metadata.name, "cluster_id": cluster, "hostname": node.metadata.name,
            "kind": "container", "cpu": _quantity(allocatable.get("cpu")),
            "memory_gib": round(_quantity(allocatable.get("memory")) / 2**30, 3),
            "accelerators": cards,
            "health": "healthy" if conditions.get("Ready") == "True" else "unhealthy",
            "topology": {k: labels[k] for k in TOPOLOGY_LABELS if k in labels},
            "labels": labels, "simulated": False,
        }

    def _holders(self, node_name: str, pods: list[Any]) -> dict[str, list[str]]:
        """Resource → the job (or pod) of each card a live pod on the node requests."""
        held: dict[str, list[str]] = {}
        for pod in pods:
            if pod.spec is None or pod.spec.node_name != node_name:
                continue
            if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
                continue
            owner = (pod.metadata.labels or {}).get("job-name") or pod.metadata.name
            for container in pod.spec.containers or []:
                limits = (container.resources.limits or {}) if container.resources else {}
                for resource, amount in limits.items():
                    if vendor_of(resource, self.subject.config.vendor_resources):
                        held.setdefault(resource, []).extend([owner] * int(_quantity(amount)))
        return held


class KubeJobs(Facade[KubernetesAdapter]):
    """Jobs as batch Jobs (:class:`~pytest_sca.capabilities.Jobs`)."""

    def probe_image(self) -> str:
        return self.subject.config.probe_image

    def submit(self, name: str, image: str, command: Sequence[str],
               resources: Resources, *, workers: int = 1,
               env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> Job:
        adapter = self.subject
        namespace = adapter.ensure_namespace()
        job_name = dns_name(name, limit=52)
        all_labels = {**(labels or {}), RUN_LABEL: adapter.context.run_id}
        variables: list[dict[str, Any]] = [
            {"name": k, "value": str(v)} for k, v in (env or {}).items()]
        variables += [
            {"name": "WORLD_SIZE", "value": str(workers)},
            {"name": "MASTER_ADDR", "value": f"{job_name}-0.{job_name}" if workers > 1
             else "127.0.0.1"},
            {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
            {"name": "RANK", "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}},
        ]
        limits = {"cpu": str(resources.get("cpu", 1)),
                  "memory": f"{resources.get('memory_gib', 1)}Gi"}
        cards = int(resources.get("accelerators") or 0)
        if cards:
            limits[self._card_resource(resources.get("accelerator_model"))] = str(cards)
        command = list(command)
        if command and command[0] == "python":
            command[0] = "python3"
        spec: dict[str, Any] = {
            "completions": workers, "parallelism": workers, "backoffLimit": 0,
            "completionMode": "Indexed",
            "template": {
                "metadata": {"labels": all_labels},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "worker", "image": image, "command": command,
                                         "env": variables,
                                         "resources": {"limits": limits, "requests": limits}}]},
            },
        }
        if workers > 1:
            spec["template"]["spec"]["subdomain"] = job_name
            service = {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": job_name, "namespace": namespace,
                                    "labels": all_labels},
                       # Rank 0 must resolve before it reports ready (it has no probe).
                       "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                                "selector": {"job-name": job_name},
                                "ports": [{"name": "rendezvous", "port": MASTER_PORT}]}}
            adapter.call("create service", adapter.core().create_namespaced_service,
                         namespace, service)
            adapter.remember("service", namespace, job_name)
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": job_name, "namespace": namespace, "labels": all_labels},
                "spec": spec}
        adapter.call("create job", adapter.batch().create_namespaced_job, namespace, body)
        adapter.remember("job", namespace, job_name)
        return self.get(job_name)

    def _card_resource(self, model: str | None) -> str:
        """The extended resource that holds cards of ``model`` (any accelerator if None)."""
        nodes = KubeCompute(self.subject).list_nodes()
        for node in nodes:
            for card in node["accelerators"]:
                if model is None or card["model"] == model:
                    return str(card["resource"])
        return "nvidia.com/gpu"

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Job]:
        adapter = self.subject
        found = adapter.call("list jobs", adapter.batch().list_namespaced_job,
                             adapter.namespace, label_selector=label).items
        wanted = dict([label.split("=", 1)]) if label and "=" in label else {}
        jobs = [self._answer(job) for job in found
                if all((job.metadata.labels or {}).get(k) == v for k, v in wanted.items())]
        return [job for job in jobs if status is None or job["status"] == status]

    def get(self, job_id: str) -> Job:
        adapter = self.subject
        job = adapter.call(f"jobs/{job_id}", adapter.batch().read_namespaced_job,
                           job_id, adapter.namespace)
        return self._answer(job)

    def events(self, job_id: str) -> list[JobEvent]:
        adapter = self.subject
        found = adapter.call("list events", adapter.core().list_namespaced_event,
                             adapter.namespace).items
        mine = [e for e in found if e.involved_object is not None
                and (e.involved_object.name or "").startswith(job_id)]
        return [{"time": str(e.last_timestamp or e.event_time or ""), "type": e.reason,
                 "reason": e.reason, "message": e.message} for e in mine]

    def logs(self, job_id: str, worker: int = 0) -> str:
        adapter = self.subject
        pod = next((p for p in self._pods(job_id) if self._rank(p) == worker), None)
        if pod is None:
            raise Refused(f"kubernetes jobs/{job_id}/logs", 404, "not_found",
                          f"no pod of worker {worker} of job {job_id}")
        return str(adapter.call("pod logs", adapter.core().read_namespaced_pod_log,
                                pod.metadata.name, adapter.namespace))

    def stop(self, job_id: str) -> Job:
        adapter = self.subject
        adapter.call("suspend job", adapter.batch().patch_namespaced_job, job_id,
                     adapter.namespace, {"spec": {"suspend": True}})
        return self.get(job_id)

    def restart(self, job_id: str) -> Job:
        adapter = self.subject
        adapter.call("resume job", adapter.batch().patch_namespaced_job, job_id,
                     adapter.namespace, {"spec": {"suspend": False}})
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        adapter = self.subject
        namespace = adapter.namespace
        adapter.call("delete job", adapter.batch().delete_namespaced_job, job_id, namespace,
                     propagation_policy="Background")
        adapter.forget("job", namespace, job_id)
        if adapter.created_here("service", namespace, job_id):
            with contextlib.suppress(Refused):
                adapter.call("delete service", adapter.core().delete_namespaced_service,
                             job_id, namespace)
            adapter.forget("service", namespace, job_id)

    def wait(self, job_id: str, until: Collection[str] = TERMINAL_JOB_STATUSES,
             timeout: float = 120.0) -> Job:
        return wait_for_status(lambda: self.get(job_id), until, timeout, f"job {job_id}",
                               first=0.2)

    # reading a Job back --------------------------------------------------------------------------

    def _pods(self, job_id: str) -> list[Any]:
        adapter = self.subject
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod, adapter.namespace,
                            label_selector=f"job-name={job_id}").items
        return [p for p in pods if (p.metadata.labels or {}).get("job-name") == job_id]

    @staticmethod
    def _rank(pod: Any) -> int:
        return int((pod.metadata.annotations or {}).get(INDEX_ANNOTATION, "0"))

    def _answer(self, job: Any) -> Job:
        spec, state = job.spec, job.status
        conditions = {c.type: c.status for c in (state.conditions or [])} if state else {}
        workers: list[Worker] = []
        for pod in sorted(self._pods(job.metadata.name), key=self._rank):
            code = None
            for container in (pod.status.container_statuses or []) if pod.status else []:
                if container.state and container.state.terminated:
                    code = container.state.terminated.exit_code
            workers.append({"rank": self._rank(pod),
                            "status": _POD_STATUS.get(pod.status.phase if pod.status else "",
                                                      "pending"),
                            "node_id": pod.spec.node_name if pod.spec else None,
                            "exit_code": code})
        if conditions.get("Complete") == "True":
            status = "succeeded"
        elif conditions.get("Failed") == "True":
            status = "failed"
        elif spec.suspend:
            status = "stopped"
        elif any(w["status"] == "running" for w in workers) or (state and state.active):
            status = "running"
        else:
            status = "pending"
        container = spec.template.spec.containers[0]
        limits = (container.resources.limits or {}) if container.resources else {}
        cards = sum(int(_quantity(v)) for k, v in limits.items()
                    if vendor_of(k, self.subject.config.vendor_resources))
        return {
            "id": job.metadata.name, "name": job.metadata.name,
            "tenant_id": job.metadata.namespace, "image": container.image,
            "command": list(container.command or []), "status": status,
            "exit_code": 0 if status == "succeeded" else next(
                (w["exit_code"] for w in workers if w["exit_code"]), None),
            "workers": workers, "world_size": spec.completions or 1,
            "resources": {"cpu": _quantity(limits.get("cpu")),
                          "memory_gib": round(_quantity(limits.get("memory")) / 2**30, 3),
                          "accelerators": cards},
            "created_at": str(job.metadata.creation_timestamp or ""),
            "started_at": str(state.start_time) if state and state.start_time else None,
            "finished_at": str(state.completion_time) if state and state.completion_time
            else None,
            "labels": dict(job.metadata.labels or {}), "simulated": False,
        }


#: The Kubernetes adapter's capabilities (set here: each implementation needs the class).
KubernetesAdapter.implementations = {
    "tenancy": KubeTenancy, "compute": KubeCompute, "jobs": KubeJobs}
