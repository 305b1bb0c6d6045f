"""The Kubernetes adapter's connection: the official client, the API groups the cluster
serves, and the objects the run creates (labelled ``sca-run=<run id>``, deleted at the end
of the check or the run, found again by :meth:`KubernetesAdapter.sweep` after a kill).

The capabilities themselves live beside this module, one per upstream component
(``tenancy``, ``compute``, ``jobs``, ``training``, ``scheduling``, ``services``,
``models``, ``devmachines``, ``storage``, ``audit``); where the cluster does not serve a
component's API group its operations raise :class:`Unsupported` naming the group.
No network in ``__init__``: the client is built on first use.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext, Finding
from pytest_sca.adapters.comfyui import ComfyUIAdapter
from pytest_sca.adapters.config import ComfyUIConfig, KubernetesConfig
from pytest_sca.adapters.http import VerifyingSession
from pytest_sca.capabilities import (
    RUN_LABEL,
    RefusalReason,
    Refused,
    TargetError,
    Unsupported,
    WebAnswer,
)
from pytest_sca.cleanup import UndoAction

from .resources import KINDS, Kind, dns_name


#: Core kinds the adapter creates → how to delete one (namespace, name) and how to list them
#: by label across the cluster (for the sweep of a killed run). Kinds of other groups are
#: in :data:`~.resources.KINDS`, deleted and listed through the custom-objects API.
def _deleters(adapter: KubernetesAdapter) -> dict[str, Any]:
    core, batch, rbac = adapter.core(), adapter.batch(), adapter.rbac()
    return {
        "job": lambda ns, name: batch.delete_namespaced_job(
            name, ns, propagation_policy="Background"),
        "pod": lambda ns, name: core.delete_namespaced_pod(name, ns),
        "service": lambda ns, name: core.delete_namespaced_service(name, ns),
        "persistentvolumeclaim": lambda ns, name:
            core.delete_namespaced_persistent_volume_claim(name, ns),
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
        "pod": core.list_pod_for_all_namespaces,
        "service": core.list_service_for_all_namespaces,
        "persistentvolumeclaim": core.list_persistent_volume_claim_for_all_namespaces,
        "serviceaccount": core.list_service_account_for_all_namespaces,
        "rolebinding": rbac.list_role_binding_for_all_namespaces,
        "clusterrolebinding": rbac.list_cluster_role_binding,
        "resourcequota": core.list_resource_quota_for_all_namespaces,
        "namespace": core.list_namespace,
    }


#: Kinds in the order a sweep removes them: the objects of the upstream components first
#: (their controllers own pods and jobs), what lives in a namespace before the namespace.
#: A Cluster API Cluster goes first: its controller deletes its machines (and their hosts).
_CUSTOM_KINDS = ("capicluster", "trainjob", "pytorchjob", "jobset", "vcjob", "notebook",
                 "inferenceservice", "hpa", "deployment", "localqueue", "workloadpriorityclass",
                 "vcqueue", "priorityclass", "resourceclaimtemplate")
_KINDS = (*_CUSTOM_KINDS, "job", "pod", "service", "persistentvolumeclaim", "rolebinding",
          "clusterrolebinding", "serviceaccount", "resourcequota", "namespace")


class KubernetesAdapter(Adapter):
    """A Kubernetes cluster through the official client."""

    transport: ClassVar[str] = "kubernetes"
    config_model: ClassVar[type[KubernetesConfig]] = KubernetesConfig
    #: The run's objects, and the queue entries and history of the in-cluster ComfyUI's
    #: prompts (``comfyui_service``, :mod:`.workflows`).
    sweeps: ClassVar[frozenset[str]] = frozenset(
        {*(f"kubernetes:{kind}" for kind in _KINDS), "comfyui:history"})

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
            self._served: frozenset[str] | None = None
            self._resources: dict[str, frozenset[str]] = {}
            #: logs of finished pods read before their controller deleted them, by pod
            self._pod_logs: dict[str, str] = {}
            #: training job → attempt number → the attempt as last seen
            self._attempts_seen: dict[str, dict[int, Any]] = {}
            #: (namespace, name) of the Volcano Jobs the run created (read as vcjobs)
            self._vcjobs: set[tuple[str, str]] = set()
            #: token of a user the run created → its tenant's namespace
            self._token_namespaces: dict[str, str] = {}
            #: the in-cluster ComfyUI through the service proxy, built on first use
            self._comfy: ComfyUIAdapter | None = None

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

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    # API groups -----------------------------------------------------------------------------

    def served(self) -> frozenset[str]:
        """The ``group/version``s the API server serves (``/apis``), read once per run."""
        root = self._root
        if root._served is None:
            from kubernetes import client

            groups = self.call("list API groups", client.ApisApi(self.api).get_api_versions)
            root._served = frozenset(version.group_version for group in groups.groups
                                     for version in group.versions)
        return root._served

    def serves(self, kind: str) -> bool:
        """Whether the cluster serves ``kind`` (a :data:`KINDS` key): its group version, and
        the resource in it (``kubeflow.org/v1`` holds Notebooks and the Training Operator's
        kinds, installed separately)."""
        spec = KINDS[kind]
        if spec.group_version not in self.served():
            return False
        return spec.plural in self.resources_of(spec.group_version)

    def resources_of(self, group_version: str) -> frozenset[str]:
        """The resource names one served group version lists (read once per run)."""
        root = self._root
        if group_version not in root._resources:
            answer = raw_request(self, "GET", f"/apis/{group_version}", None,
                                 "application/json")
            names: frozenset[str] = frozenset()
            if answer.status == 200:
                names = frozenset(str(r.get("name", "")) for r in
                                  json.loads(answer.text).get("resources") or [])
            root._resources[group_version] = names
        return root._resources[group_version]

    def batch_scheduler(self) -> str | None:
        """What queues jobs and admits gangs here: ``kueue``, ``volcano`` or None. The
        ``batch_scheduler`` setting names one, or ``auto``: Kueue where the cluster serves it
        (it queues the cluster's own batch Jobs), else Volcano (its own Job kind and
        PodGroups), else none."""
        wanted = self.config.batch_scheduler
        if wanted in ("auto", "kueue") and self.serves("localqueue"):
            return "kueue"
        if wanted in ("auto", "volcano") and self.serves("vcjob") and self.serves("podgroup"):
            return "volcano"
        return None

    def require(self, *kinds: str, what: str) -> Kind:
        """The first of ``kinds`` the cluster serves; :class:`Unsupported` naming the missing
        API groups (and their components) when it serves none."""
        for kind in kinds:
            if self.serves(kind):
                return KINDS[kind]
        missing = ", ".join(dict.fromkeys(
            f"{KINDS[k].group_version} ({KINDS[k].component})" for k in kinds))
        raise Unsupported(f"the cluster serves no {missing} API group: {what} needs it")

    # objects of any API group ------------------------------------------------------------------

    def create_object(self, kind: str, namespace: str | None, body: dict[str, Any]) -> Any:
        """Create an object of ``kind`` (labelled with the run id), remembered for deletion."""
        spec = KINDS[kind]
        metadata = body.setdefault("metadata", {})
        metadata.setdefault("labels", {})[RUN_LABEL] = self.context.run_id
        body.setdefault("apiVersion", spec.api_version)
        body.setdefault("kind", spec.kind)
        api = self.custom()
        if spec.namespaced:
            assert namespace is not None
            created = self.call(f"create {kind}", api.create_namespaced_custom_object,
                                spec.group, spec.version, namespace, spec.plural, body)
        else:
            created = self.call(f"create {kind}", api.create_cluster_custom_object,
                                spec.group, spec.version, spec.plural, body)
        self.remember(kind, namespace or "", created["metadata"]["name"])
        return created

    def get_object(self, kind: str, namespace: str | None, name: str) -> Any:
        spec, api = KINDS[kind], self.custom()
        if spec.namespaced:
            return self.call(f"{spec.plural}/{name}", api.get_namespaced_custom_object,
                             spec.group, spec.version, namespace, spec.plural, name)
        return self.call(f"{spec.plural}/{name}", api.get_cluster_custom_object,
                         spec.group, spec.version, spec.plural, name)

    def list_objects(self, kind: str, namespace: str | None,
                     label_selector: str | None = None,
                     field_selector: str | None = None) -> list[Any]:
        spec, api = KINDS[kind], self.custom()
        selectors = {"label_selector": label_selector,
                     **({"field_selector": field_selector} if field_selector else {})}
        if spec.namespaced and namespace is not None:
            found = self.call(f"list {spec.plural}", api.list_namespaced_custom_object,
                              spec.group, spec.version, namespace, spec.plural, **selectors)
        else:
            found = self.call(f"list {spec.plural}", api.list_cluster_custom_object,
                              spec.group, spec.version, spec.plural, **selectors)
        items = list(found.get("items") or [])
        if label_selector and "=" in label_selector:
            # Not every server filters (and a selector is a promise, not a proof).
            key, _, value = label_selector.partition("=")
            items = [i for i in items
                     if (i.get("metadata", {}).get("labels") or {}).get(key) == value]
        return items

    def patch_object(self, kind: str, namespace: str | None, name: str,
                     patch: dict[str, Any]) -> Any:
        spec, api = KINDS[kind], self.custom()
        if spec.namespaced:
            return self.call(f"patch {spec.plural}/{name}", api.patch_namespaced_custom_object,
                             spec.group, spec.version, namespace, spec.plural, name, patch)
        return self.call(f"patch {spec.plural}/{name}", api.patch_cluster_custom_object,
                         spec.group, spec.version, spec.plural, name, patch)

    def delete_object(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete an object the run created (404 is success) and cancel its undo."""
        try:
            _custom_deleter(self._root, kind)(namespace or "", name)
        except Refused as exc:
            if exc.status != 404:
                raise
        self.forget(kind, namespace or "", name)

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod the run created (404 is success) and cancel its undo."""
        try:
            self.call(f"delete pod {name}", self.core().delete_namespaced_pod, name, namespace)
        except Refused as exc:
            if exc.status != 404:
                raise
        self.forget("pod", namespace, name)

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
                _deleter(root, kind)(namespace, name)
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
        """Delete every object labelled with ``run_id``, owned kinds first; one line per
        failure (404 is success; a component the cluster does not serve has nothing)."""
        failures: list[str] = []
        listers = _listers(self)
        selector = f"{RUN_LABEL}={run_id}"
        for kind in _KINDS:
            try:
                if kind in KINDS:
                    found = [_Named(o) for o in self._list_custom_anywhere(kind, selector)]
                else:
                    found = self.call(f"list {kind}", listers[kind],
                                      label_selector=selector).items
            except (Refused, TargetError) as exc:
                failures.append(f"list {kind}: {exc}")
                continue
            for item in found:
                name, namespace = item.metadata.name, item.metadata.namespace or ""
                try:
                    _deleter(self, kind)(namespace, name)
                except Refused as exc:
                    if exc.status != 404:
                        failures.append(f"delete {kind} {namespace}/{name}: {exc}")
                except TargetError as exc:
                    failures.append(f"delete {kind} {namespace}/{name}: {exc}")
        if self.config.comfyui_service:
            failures.extend(f"ComfyUI {self.config.comfyui_service}: {line}"
                            for line in self.comfy().sweep(run_id))
        return failures

    def _list_custom_anywhere(self, kind: str, selector: str) -> list[Any]:
        try:
            return self.list_objects(kind, None, selector)
        except Refused as exc:
            if exc.status == 404:  # the cluster does not serve that group
                return []
            raise

    @classmethod
    def unconfigured(cls, config: Any, name: str) -> str | None:
        """``workflows`` needs ``comfyui_service``, ``clusters`` ``cluster_classes``: without
        them, a later ``adapters.comfyui`` (or ``adapters.platform``) of the target file serves
        them."""
        if name == "workflows" and not getattr(config, "comfyui_service", None):
            return ("the kubernetes adapter serves workflows only with "
                    "adapters.kubernetes.comfyui_service (the in-cluster ComfyUI's Service, "
                    "e.g. comfyui/comfyui:8188)")
        if name == "clusters" and not getattr(config, "cluster_classes", None):
            return ("the kubernetes adapter serves clusters (Cluster API) only with "
                    "adapters.kubernetes.cluster_classes (the ClusterClass of each kind, "
                    "e.g. baremetal: capi-classes/metal3-example)")
        return None

    def comfy(self) -> ComfyUIAdapter:
        """The ComfyUI adapter of the platform's in-cluster ComfyUI (``comfyui_service``)
        through the API server's service proxy
        (``/api/v1/namespaces/<namespace>/services/[scheme:]<name>[:port]/proxy``): one per
        run (its client id marks every prompt the run queues), closed and swept with this
        adapter; :class:`Unsupported` naming the setting when the target names none.

        Its session authenticates as this adapter's principal (the kubeconfig's bearer
        token, or its client certificate) and trusts what the kubeconfig trusts. The API
        server does not pass those credentials on to the Service: an in-cluster ComfyUI,
        which has no authentication of its own, sees the API server's anonymous request."""
        root = self._root
        if root._comfy is None:
            where = self.config.comfyui_service
            if not where:
                raise Unsupported(
                    "the target file names no in-cluster ComfyUI: set "
                    "adapters.kubernetes.comfyui_service to its Service (<namespace>/"
                    "[scheme:]<service>[:port], e.g. comfyui/comfyui:8188), or add "
                    "`adapters.comfyui`")
            namespace, _, service = where.partition("/")
            client = root.api.configuration
            headers = auth_headers(root)
            session = VerifyingSession()
            session.headers.update(headers)
            # The kubeconfig's CA (a file the client wrote), none where it skips verification.
            session.verify = (client.ssl_ca_cert or True) if client.verify_ssl else False
            if client.cert_file:
                session.cert = (client.cert_file, client.key_file) if client.key_file \
                    else client.cert_file
            url = (f"{str(client.host).rstrip('/')}/api/v1/namespaces/{namespace}/services/"
                   f"{service}/proxy")
            root.context.redact.add(headers.values())
            root._comfy = ComfyUIAdapter(ComfyUIConfig(url=url), root.context, session=session)
        return root._comfy

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: the API server's ``/version``, the API groups it serves (those the
        capabilities use named, with their components), who the credentials are
        (SelfSubjectReview), and the in-cluster ComfyUI's node table where
        ``comfyui_service`` names one."""
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
            names = {g.name for g in groups}
            used = sorted({f"{k.group} ({k.component})" for k in KINDS.values()
                           if k.group in names})
            missing = sorted({k.component for k in KINDS.values()
                              if k.group and k.group not in names})
            findings.append(Finding("offers", "info", f"{len(names)} API groups; used by "
                                    f"checks: {', '.join(used) or 'none'}"
                                    + (f"; not served: {', '.join(missing)}" if missing
                                       else "")))
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
        if self.config.comfyui_service:
            # A ComfyUI that does not answer costs the workflow items, not the cluster's:
            # the adapter stays usable (warn, never fail).
            findings.extend(Finding(f"comfyui {f.check}",
                                    "warn" if f.status == "fail" else f.status,
                                    f"{self.config.comfyui_service}: {f.detail}")
                            for f in self.comfy().probe(timeout))
        return findings

    def close(self) -> None:
        """Close the client (what the run created is removed by the cleanup ledger)."""
        if self._root is self and self._comfy is not None:
            self._comfy.close()
        if self._root is self and self._client is not None:
            self._client.close()


def _quota_refusal(status: int, body: Any) -> RefusalReason | None:
    """Kubernetes refuses what a ResourceQuota forbids with 403 "exceeded quota": a quota
    refusal, not an authorization one."""
    if status == 403 and "exceeded quota" in str(body or ""):
        return RefusalReason.QUOTA
    return None




class _Named:
    """A custom object's name and namespace, read like a typed client object's."""

    def __init__(self, item: dict[str, Any]) -> None:
        meta = item.get("metadata") or {}
        self.metadata = type("Meta", (), {"name": meta.get("name"),
                                          "namespace": meta.get("namespace")})()


def _custom_deleter(adapter: KubernetesAdapter, kind: str) -> Any:
    spec, api = KINDS[kind], adapter.custom()

    def delete(namespace: str, name: str) -> None:
        if spec.namespaced:
            adapter.call(f"delete {kind} {name}", api.delete_namespaced_custom_object,
                         spec.group, spec.version, namespace, spec.plural, name,
                         propagation_policy="Background")
        else:
            adapter.call(f"delete {kind} {name}", api.delete_cluster_custom_object,
                         spec.group, spec.version, spec.plural, name)

    return delete


def _deleter(adapter: KubernetesAdapter, kind: str) -> Any:
    """How to delete one object of ``kind``: ``(namespace, name) -> None``, raising
    :class:`Refused` / :class:`TargetError`."""
    if kind in KINDS:
        return _custom_deleter(adapter, kind)
    method = _deleters(adapter)[kind]
    return lambda namespace, name: adapter.call(f"delete {kind} {name}", method, namespace,
                                                name)


def auth_headers(adapter: KubernetesAdapter) -> dict[str, str]:
    """The headers that authenticate a request as the adapter's principal."""
    headers: dict[str, str] = {}
    for setting in adapter.api.configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[str(setting["key"])] = str(setting["value"])
    return headers


def raw_request(adapter: KubernetesAdapter, method: str, path: str, body: bytes | None,
                content_type: str, timeout: float = 30.0) -> WebAnswer:
    """One request to the API server as the adapter's principal, never interpreted."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    client = adapter.api
    headers = {"Content-Type": content_type, "Accept": "application/json, */*",
               **auth_headers(adapter)}
    url = str(client.configuration.host).rstrip("/") + path
    try:
        response = client.rest_client.request(method, url, headers=headers,
                                              body=body.decode("utf-8") if body else None,
                                              _request_timeout=timeout)
        status, raw_headers, data = response.status, response.headers, response.read()
    except ApiException as exc:
        status, raw_headers, data = int(exc.status or 0), exc.headers or {}, exc.body or b""
    except (HTTPError, OSError) as exc:
        raise TargetError(f"kubernetes {method} {path}: cannot reach the API server "
                          f"({type(exc).__name__})") from None
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
    headers_out = {str(k): str(v) for k, v in dict(raw_headers or {}).items()}
    return WebAnswer(status=int(status), content_type=headers_out.get(
        "Content-Type", headers_out.get("content-type", "")), text=text, headers=headers_out)


