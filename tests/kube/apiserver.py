"""An emulated Kubernetes API server on loopback, for the Kubernetes adapter's end-to-end
tests — an EMULATOR, not Kubernetes.

No kube-apiserver can run on the test machine (none is packaged for it), and kmock's
emulator stores objects without selectors, status, RBAC or admission. This one speaks the
REST conventions the official client relies on
(https://kubernetes.io/docs/reference/using-api/api-concepts/): discovery (``/api``,
``/apis``, ``/apis/<group>/<version>``), create / get / list (label selectors) / merge
patch / delete of every kind it serves, ``Status`` errors, bearer-token authentication
with service-account tokens from the TokenRequest API, RBAC through the built-in
``view``/``edit``/``admin``/``cluster-admin`` roles, ResourceQuota admission of pods
("exceeded quota", 403), pod logs, ``pods/exec`` over the channel websocket protocol and
the service proxy. Controllers (:mod:`.controllers`) move the objects through their states.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

ADMIN_TOKEN = "sca-emulator-admin"


@dataclass(frozen=True)
class Served:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")


def _core(plural: str, kind: str, namespaced: bool = True) -> Served:
    return Served("", "v1", plural, kind, namespaced)


#: Everything a complete upstream AI stack serves; a cluster may serve a subset (by component).
COMPONENTS: dict[str, list[Served]] = {
    "core": [
        _core("namespaces", "Namespace", False), _core("nodes", "Node", False),
        _core("pods", "Pod"), _core("services", "Service"), _core("events", "Event"),
        _core("serviceaccounts", "ServiceAccount"), _core("resourcequotas", "ResourceQuota"),
        _core("persistentvolumeclaims", "PersistentVolumeClaim"),
        _core("persistentvolumes", "PersistentVolume", False),
        _core("configmaps", "ConfigMap"), _core("secrets", "Secret"),
        Served("batch", "v1", "jobs", "Job"),
        Served("apps", "v1", "deployments", "Deployment"),
        Served("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        Served("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
        Served("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        Served("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
               False),
        Served("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        Served("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
        Served("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False),
        Served("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
               ("create",)),
    ],
    # Dynamic Resource Allocation (resource.k8s.io/v1, GA since Kubernetes 1.34)
    "dra": [Served("resource.k8s.io", "v1", "resourceslices", "ResourceSlice", False),
            Served("resource.k8s.io", "v1", "deviceclasses", "DeviceClass", False),
            Served("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim"),
            Served("resource.k8s.io", "v1", "resourceclaimtemplates", "ResourceClaimTemplate")],
    "kueue": [
        Served("kueue.x-k8s.io", "v1beta1", "clusterqueues", "ClusterQueue", False),
        Served("kueue.x-k8s.io", "v1beta1", "localqueues", "LocalQueue"),
        Served("kueue.x-k8s.io", "v1beta1", "resourceflavors", "ResourceFlavor", False),
        Served("kueue.x-k8s.io", "v1beta1", "workloadpriorityclasses", "WorkloadPriorityClass",
               False),
        Served("kueue.x-k8s.io", "v1beta1", "workloads", "Workload"),
    ],
    # Volcano (https://volcano.sh/en/docs/; volcano-sh/apis: batch/v1alpha1,
    # scheduling/v1beta1, bus/v1alpha1): its controllers and scheduler are volcano.py.
    "volcano": [
        Served("batch.volcano.sh", "v1alpha1", "jobs", "Job"),
        Served("scheduling.volcano.sh", "v1beta1", "queues", "Queue", False),
        Served("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup"),
        Served("bus.volcano.sh", "v1alpha1", "commands", "Command"),
    ],
    "jobset": [Served("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet")],
    "trainer": [
        Served("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"),
        Served("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes",
               "ClusterTrainingRuntime", False),
    ],
    "kserve": [
        Served("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"),
        Served("serving.kserve.io", "v1alpha1", "servingruntimes", "ServingRuntime"),
        Served("serving.kserve.io", "v1alpha1", "clusterservingruntimes",
               "ClusterServingRuntime", False),
    ],
    "notebooks": [Served("kubeflow.org", "v1", "notebooks", "Notebook")],
    # Cluster API (https://cluster-api.sigs.k8s.io/, api/v1beta1): the management cluster's
    # kinds; the infrastructure and bootstrap providers' kinds are not served (capi.py).
    "clusterapi": [
        Served("cluster.x-k8s.io", "v1beta1", "clusterclasses", "ClusterClass"),
        Served("cluster.x-k8s.io", "v1beta1", "clusters", "Cluster"),
        Served("cluster.x-k8s.io", "v1beta1", "machinedeployments", "MachineDeployment"),
        Served("cluster.x-k8s.io", "v1beta1", "machinesets", "MachineSet"),
        Served("cluster.x-k8s.io", "v1beta1", "machines", "Machine"),
    ],
}
#: What each built-in ClusterRole lets a service account do in the namespace it is bound in.
ROLE_VERBS = {"view": {"get", "list", "watch"},
              "edit": {"get", "list", "watch", "create", "update", "patch", "delete"},
              "admin": {"get", "list", "watch", "create", "update", "patch", "delete"}}
#: Resources a namespace role never grants reading of (secrets are not in ``view``).
VIEW_HIDDEN = {"secrets"}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status(code: int, reason: str, message: str) -> web.Response:
    """A ``Status`` error answer, as the API server writes them."""
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code}, status=code)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge(target: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386); a strategic merge patch is read the same way here."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def selects(selector: str | None, labels: dict[str, str]) -> bool:
    """Equality-based label selector (``a=b,c!=d,e``)."""
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def fields_match(selector: str | None, obj: dict[str, Any]) -> bool:
    """A field selector (``spec.nodeName=n1,status.phase!=Failed``: ``=``, ``==``, ``!=`` on
    dotted paths, as https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
    describes) against an object; a missing field reads as the empty string."""
    for term in filter(None, (selector or "").split(",")):
        negated = "!=" in term
        path, _, wanted = term.partition("!=" if negated else "=")
        value: Any = obj
        for key in path.strip().split("."):
            value = value.get(key) if isinstance(value, dict) else None
        matched = str(value if value is not None else "") == wanted.lstrip("=").strip()
        if matched == negated:
            return False
    return True


@dataclass
class Principal:
    name: str
    namespace: str | None = None  # a service account's namespace
    admin: bool = False


@dataclass
class Store:
    """Every object, by (group, plural) then (namespace, name)."""

    served: dict[tuple[str, str], Served]
    objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = field(
        default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    #: Called with (verb, served, object) after every change (controllers' watch).
    listeners: list[Callable[[str, Served, dict[str, Any]], None]] = field(default_factory=list)

    def kind(self, group: str, plural: str) -> Served:
        try:
            return self.served[(group, plural)]
        except KeyError:
            raise ApiError(404, "NotFound", "the server could not find the requested "
                                            "resource") from None

    def bucket(self, group: str, plural: str) -> dict[tuple[str, str], dict[str, Any]]:
        return self.objects.setdefault((group, plural), {})

    def create(self, group: str, plural: str, namespace: str | None,
               body: dict[str, Any]) -> dict[str, Any]:
        spec = self.kind(group, plural)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{spec.kind} must have a name")
        ns = namespace if spec.namespaced else ""
        if spec.namespaced:
            if ("", ns) not in self.bucket("", "namespaces"):
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
            meta["namespace"] = ns
        bucket = self.bucket(group, plural)
        if (ns, name) in bucket:
            raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(next(self.counter)),
                    creationTimestamp=now())
        obj["apiVersion"] = f"{group}/{spec.version}" if group else spec.version
        obj["kind"] = spec.kind
        bucket[(ns, name)] = obj
        self.notify("create", spec, obj)
        return obj

    def get(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        spec = self.kind(group, plural)
        found = self.bucket(group, plural).get((namespace or "" if spec.namespaced else "",
                                                name))
        if found is None:
            raise ApiError(404, "NotFound", f'{plural}.{group or "core"} "{name}" not found')
        return found

    def list(self, group: str, plural: str, namespace: str | None,
             selector: str | None = None, fields: str | None = None) -> list[dict[str, Any]]:
        self.kind(group, plural)
        return [o for (ns, _), o in sorted(self.bucket(group, plural).items())
                if (namespace is None or ns == namespace)
                and selects(selector, o["metadata"].get("labels") or {})
                and fields_match(fields, o)]

    def patch(self, group: str, plural: str, namespace: str | None, name: str,
              patch: dict[str, Any]) -> dict[str, Any]:
        current = self.get(group, plural, namespace, name)
        merged = merge(current, patch)
        merged["metadata"]["resourceVersion"] = str(next(self.counter))
        current.clear()
        current.update(merged)
        self.notify("update", self.kind(group, plural), current)
        return current

    def delete(self, group: str, plural: str, namespace: str | None, name: str
               ) -> dict[str, Any]:
        spec = self.kind(group, plural)
        found = self.get(group, plural, namespace, name)
        del self.bucket(group, plural)[(found["metadata"].get("namespace", ""), name)]
        self.notify("delete", spec, found)
        if plural == "namespaces" and not group:
            for (g, p), bucket in list(self.objects.items()):
                served = self.served.get((g, p))
                if served and served.namespaced:
                    for (ns, other) in [k for k in bucket if k[0] == name]:
                        self.delete(g, p, ns, other)
        uid = found["metadata"].get("uid")
        for (g, p), bucket in list(self.objects.items()):  # garbage collection by owner
            for key, obj in list(bucket.items()):
                owners = obj["metadata"].get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners) and key in bucket:
                    self.delete(g, p, key[0] or None, key[1])
        return found

    def notify(self, verb: str, spec: Served, obj: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(verb, spec, obj)


class ApiServer:
    """The HTTP face of the :class:`Store`: routing, authentication, RBAC, admission."""

    def __init__(self, components: set[str], faults: set[str]) -> None:
        served = [s for c in ("core", *sorted(components)) for s in COMPONENTS[c]]
        self.store = Store({(s.group, s.plural): s for s in served})
        self.faults = faults
        self.tokens: dict[str, Principal] = {ADMIN_TOKEN: Principal("kubernetes-admin",
                                                                    admin=True)}
        #: Admission hooks: (verb, served, namespace, body, principal) → may raise ApiError.
        self.admission: list[Callable[..., None]] = []
        #: Subresource handlers: (group, plural, sub) → handler(request, namespace, name).
        self.subresources: dict[tuple[str, str, str], Callable[..., Any]] = {}
        self.audit: list[dict[str, Any]] = []
        self.audit_path: Any = None
        self.app = web.Application(client_max_size=16 * 2**20)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # authentication and authorisation ---------------------------------------------------

    def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not header.startswith("Bearer ") or token not in self.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return self.tokens[token]

    def issue_token(self, namespace: str, account: str) -> str:
        token = f"emu.{secrets.token_urlsafe(24)}"
        self.tokens[token] = Principal(f"system:serviceaccount:{namespace}:{account}",
                                       namespace=namespace)
        return token

    def allowed(self, who: Principal, verb: str, spec: Served, namespace: str | None) -> bool:
        if who.admin or "rbac_not_enforced" in self.faults:
            return True
        if spec.plural == "selfsubjectreviews":
            return True
        roles = self.roles_of(who)
        if "cluster-admin" in roles.get("*", set()):
            return True
        if not spec.namespaced or namespace is None:
            return False
        if spec.plural in VIEW_HIDDEN and verb in ("get", "list"):
            return bool(roles.get(namespace, set()) & {"edit", "admin"})
        return any(verb in ROLE_VERBS.get(r, set())
                   for r in roles.get(namespace, set()) | roles.get("*", set()))

    def roles_of(self, who: Principal) -> dict[str, set[str]]:
        """namespace (``*``: cluster-wide) → ClusterRoles bound to the service account."""
        parts = who.name.split(":")
        if len(parts) != 4:
            return {}
        ns, account = parts[2], parts[3]
        found: dict[str, set[str]] = {}
        for plural, scope in (("rolebindings", None), ("clusterrolebindings", "*")):
            for binding in self.store.list("rbac.authorization.k8s.io", plural, None):
                if any(s.get("kind") == "ServiceAccount" and s.get("name") == account
                       and s.get("namespace") == ns for s in binding.get("subjects") or []):
                    where = scope or binding["metadata"]["namespace"]
                    found.setdefault(where, set()).add(binding["roleRef"]["name"])
        return found

    # routing ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except ApiError as exc:
            return status(exc.code, exc.reason, exc.message)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        who = self.principal(request)
        if path in ("/version", ""):
            return web.json_response({"major": "1", "minor": "31",
                                      "gitVersion": "v1.31.0-sca-emulated",
                                      "gitCommit": "0" * 40, "gitTreeState": "clean",
                                      "buildDate": "2026-01-01T00:00:00Z",
                                      "goVersion": "go1.22.0", "compiler": "gc",
                                      "platform": "linux/amd64"})
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return web.json_response(self.discovery())
        if path == "/openapi/v2":
            return web.json_response(self.openapi())
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return web.json_response(self.resources(group, parts[2] if group else "v1"))
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        spec = self.store.kind(group, plural)
        if sub is not None:
            first = sub.split("/", 1)[0]
            handler = self.subresources.get((group, plural, first))
            if first == "status" and handler is None:
                return await self.crud(request, who, spec, namespace, name, sub)
            if handler is None:
                raise ApiError(404, "NotFound", f"no subresource {sub} of {plural}")
            verb = {"GET": "get", "POST": "create"}.get(request.method, "get")
            if not self.allowed(who, "create" if first in ("exec", "token", "proxy")
                                else verb, spec, namespace):
                raise ApiError(403, "Forbidden", f'{who.name} cannot {verb} {plural}/{first}')
            return await handler(request, namespace, name, sub, who)
        return await self.crud(request, who, spec, namespace, name, None)

    async def crud(self, request: web.Request, who: Principal, spec: Served,
                   namespace: str | None, name: str | None, sub: str | None
                   ) -> web.StreamResponse:
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch",
                "PUT": "update", "DELETE": "delete"}.get(request.method)
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", request.method)
        if not self.allowed(who, verb, spec, namespace if spec.namespaced else None):
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            raise ApiError(403, "Forbidden",
                           f'{spec.plural} is forbidden: User "{who.name}" cannot {verb} '
                           f'resource "{spec.plural}" in API group "{spec.group}"{where}')
        store, group = self.store, spec.group
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "BadRequest", "the body is not JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body is not a JSON object")
        if verb == "list":
            items = store.list(group, spec.plural, namespace,
                               request.query.get("labelSelector"),
                               request.query.get("fieldSelector"))
            return web.json_response({"kind": f"{spec.kind}List", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": "1"}, "items": items})
        if verb == "create":
            if spec.plural == "selfsubjectreviews":
                return web.json_response({**body, "status": {"userInfo": {"username": who.name}}},
                                         status=201)
            for hook in self.admission:
                hook("create", spec, namespace, body, who)
            created = store.create(group, spec.plural, namespace, body)
            self.record(who, "create", spec, namespace, created["metadata"]["name"], 201)
            return web.json_response(created, status=201)
        assert name is not None
        if verb == "get":
            return web.json_response(store.get(group, spec.plural, namespace, name))
        if verb in ("patch", "update"):
            if verb == "update":
                current = store.get(group, spec.plural, namespace, name)
                body = {**body, "metadata": {**current["metadata"], **body.get("metadata", {})}}
            patched = store.patch(group, spec.plural, namespace, name, body)
            self.record(who, verb, spec, namespace, name, 200)
            return web.json_response(patched)
        deleted = store.delete(group, spec.plural, namespace, name)
        self.record(who, "delete", spec, namespace, name, 200)
        return web.json_response(deleted)

    def record(self, who: Principal, verb: str, spec: Served, namespace: str | None,
               name: str, code: int) -> None:
        """One audit.k8s.io/v1 Event at the ResponseComplete stage, appended to the log."""
        if self.audit_path is None or "audit_dropped" in self.faults:
            return
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                 "auditID": str(uuid.uuid4()), "stage": "ResponseComplete", "verb": verb,
                 "user": {"username": who.name},
                 "objectRef": {"resource": spec.plural, "namespace": namespace, "name": name,
                               "apiGroup": spec.group, "apiVersion": spec.version},
                 "responseStatus": {"metadata": {}, "code": code},
                 "requestReceivedTimestamp": _micro(), "stageTimestamp": _micro()}
        with open(self.audit_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")

    # discovery ------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        groups: dict[str, set[str]] = {}
        for spec in self.store.served.values():
            if spec.group:
                groups.setdefault(spec.group, set()).add(spec.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}
                                     for v in sorted(vs)],
             "preferredVersion": {"groupVersion": f"{g}/{sorted(vs)[0]}",
                                  "version": sorted(vs)[0]}}
            for g, vs in sorted(groups.items())]}

    def resources(self, group: str, version: str) -> dict[str, Any]:
        found = [s for s in self.store.served.values()
                 if s.group == group and s.version == version]
        if not found:
            raise ApiError(404, "NotFound", f"{group}/{version} is not served")
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": [{"name": s.plural, "singularName": s.kind.lower(),
                               "namespaced": s.namespaced, "kind": s.kind,
                               "verbs": list(s.verbs)} for s in found]}

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for s in self.store.served.values():
            base = f"/api/{s.version}" if not s.group else f"/apis/{s.group}/{s.version}"
            where = f"{base}/namespaces/{{namespace}}/{s.plural}" if s.namespaced \
                else f"{base}/{s.plural}"
            op = f"{s.kind}{'Namespaced' if s.namespaced else ''}"
            paths[where] = {"get": {"operationId": f"list{op}", "responses": {"200": {}}},
                            "post": {"operationId": f"create{op}", "responses": {"201": {}}}}
            paths[f"{where}/{{name}}"] = {
                "get": {"operationId": f"read{op}", "responses": {"200": {}}},
                "delete": {"operationId": f"delete{op}", "responses": {"200": {}}}}
        return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.31.0"},
                "paths": paths}

    # proxying to pods -----------------------------------------------------------------------

    async def forward(self, request: web.Request, address: str, path: str) -> web.Response:
        """Send the request on to ``address`` (a pod's ``ip:port``) and answer what it did."""
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept")}
        try:
            async with ClientSession(timeout=ClientTimeout(total=30)) as session, \
                    session.request(request.method, f"http://{address}/{path}",
                                    data=body or None, headers=headers,
                                    params=request.query) as answer:
                data = await answer.read()
                return web.Response(body=data, status=answer.status,
                                    content_type=answer.content_type)
        except (OSError, asyncio.TimeoutError) as exc:
            raise ApiError(503, "ServiceUnavailable",
                           f"error trying to reach service: {exc}") from None


def _micro() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + \
        f".{int(time.time() * 1e6) % 1_000_000:06d}Z"


__all__ = ["ADMIN_TOKEN", "COMPONENTS", "ApiError", "ApiServer", "Principal", "Served", "Store",
           "WSMsgType", "merge", "now", "selects"]
