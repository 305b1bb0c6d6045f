"""``devmachines`` and ``devtools``.

Dev machines are Kubeflow ``Notebook``s (``kubeflow.org/v1``): the notebook controller runs
each as a StatefulSet of one pod ``<name>-0`` serving Jupyter Server on port 8888, and
reports ``status.readyReplicas`` (https://www.kubeflow.org/docs/components/notebooks/).
Commands run through the ``pods/exec`` subresource (a websocket,
https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/); a port is
published as a Service, reached through the API server's service proxy.

Dev tools: distributed frameworks are the Training Operator kinds and Trainer runtimes the
cluster serves; the web terminal is an interactive ``pods/exec`` session into a job's
worker; preflight reads node conditions; marking a node faulty cordons it (undone at the
end of the check); the API description is the API server's OpenAPI document; ``raw`` sends
one request as given; a job's metric series come from the cluster's Prometheus
(``prometheus_service``, :mod:`.monitoring`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    RUN_LABEL,
    ApiOperation,
    DevMachine,
    ErrorEnvelope,
    ExecResult,
    ExposedPort,
    Framework,
    JobMetrics,
    Labels,
    NodeMark,
    Preflight,
    PreflightNode,
    Refused,
    Resources,
    TargetError,
    Unsupported,
    WebAnswer,
    wait_for_status,
)

from .adapter import KubernetesAdapter, raw_request
from .jobs import KubeJobs, container_spec
from .monitoring import job_series
from .resources import dns_name

JUPYTER_PORT = 8888
#: Node conditions that make a node unfit when ``True`` (all but Ready).
PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
#: Training Operator kinds → the framework they launch (and the launcher).
OPERATOR_FRAMEWORKS = {
    "pytorchjobs": ("pytorch", "torchrun"), "tfjobs": ("tensorflow", "tf-operator"),
    "mpijobs": ("mpi", "mpirun"), "jaxjobs": ("jax", "jax.distributed"),
    "xgboostjobs": ("xgboost", "rabit"), "paddlejobs": ("paddle", "paddle.distributed"),
}
WORKER_ENV = ["WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"]
#: A Trainer runtime's ``mlPolicy`` key (or framework label) → the framework's name.
RUNTIME_FRAMEWORKS = {"torch": "pytorch", "jax": "jax", "mpi": "mpi", "deepspeed": "deepspeed",
                      "xgboost": "xgboost", "mlx": "mlx"}


def exec_in(adapter: KubernetesAdapter, pod: str, command: Sequence[str], *,
            timeout: float, container: str | None = None) -> ExecResult:
    """Run ``command`` in ``pod`` through ``pods/exec``: its output and exit code."""
    from kubernetes.stream import stream

    core = adapter.core()
    kwargs: dict[str, Any] = {"command": list(command), "stdout": True, "stderr": True,
                              "stdin": False, "tty": False, "_preload_content": False}
    if container:
        kwargs["container"] = container
    session = adapter.call("pods/exec", stream, core.connect_get_namespaced_pod_exec, pod,
                           adapter.namespace, **kwargs)
    output: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while session.is_open() and time.monotonic() < deadline:
            session.update(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            output.append(session.read_stdout() if session.peek_stdout() else "")
            output.append(session.read_stderr() if session.peek_stderr() else "")
        code = session.returncode if not session.is_open() else None
    finally:
        session.close()
    return {"pid": 0, "exit_code": code, "output": "".join(output)}


class ExecTerminal:
    """An interactive ``pods/exec`` session (``sh`` with a TTY): the web terminal."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.closed: str | None = None

    def send(self, text: str) -> None:
        self._session.write_stdin(text)

    def read_until(self, expected: str, timeout: float = 10.0) -> str:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._session.is_open():
                self.closed = self.closed or "the API server closed the exec session"
                break
            self._session.update(timeout=0.2)
            if self._session.peek_stdout():
                seen.append(self._session.read_stdout())
            if expected in "".join(seen):
                break
        return "".join(seen)

    def close(self) -> None:
        self._session.close()
        self.closed = self.closed or "closed by the client"


class KubeDevMachines(Facade[KubernetesAdapter]):
    """Dev machines as Kubeflow Notebooks (:class:`~pytest_sca.capabilities.DevMachines`)."""

    def create(self, name: str, image: str, resources: Resources, *,
               labels: Labels | None = None) -> DevMachine:
        adapter = self.subject
        adapter.require("notebook", what="development machines (Kubeflow Notebooks)")
        namespace = adapter.ensure_namespace()
        notebook = dns_name(name, limit=40)
        container = container_spec(adapter, image, [], resources, {})
        container.pop("command")
        container.update(name=notebook, ports=[{"name": "notebook-port",
                                                "containerPort": JUPYTER_PORT}])
        adapter.create_object("notebook", namespace, {
            "metadata": {"name": notebook, "labels": dict(labels or {})},
            "spec": {"template": {"spec": {"containers": [container]}}}})
        return self.get(notebook)

    def get(self, devmachine_id: str) -> DevMachine:
        adapter = self.subject
        found = adapter.get_object("notebook", adapter.namespace, devmachine_id)
        state = found.get("status") or {}
        container = found["spec"]["template"]["spec"]["containers"][0]
        waiting = ((state.get("containerState") or {}).get("waiting") or {}).get("reason")
        status = ("running" if int(state.get("readyReplicas") or 0) >= 1
                  else "failed" if waiting in ("ErrImagePull", "ImagePullBackOff",
                                               "CrashLoopBackOff")
                  else "pending")
        pod = self._pod(devmachine_id)
        node = pod.spec.node_name if pod is not None and pod.spec else None
        return {"id": devmachine_id, "name": devmachine_id, "status": status,
                "image": container.get("image", ""), "node_id": node,
                "accelerators": [], "ports": [JUPYTER_PORT],
                "labels": dict(found.get("metadata", {}).get("labels") or {})}

    def delete(self, devmachine_id: str) -> None:
        adapter = self.subject
        adapter.delete_object("notebook", adapter.namespace, devmachine_id)

    def wait(self, devmachine_id: str, until: Collection[str] = ("running",),
             timeout: float = 120.0) -> DevMachine:
        return wait_for_status(lambda: self.get(devmachine_id), {*until, "failed"}, timeout,
                               f"notebook {devmachine_id}", first=0.2)

    def exec(self, devmachine_id: str, command: Sequence[str], *, timeout: float = 60.0,
             background: bool = False) -> ExecResult:
        argv = list(command)
        if background:
            argv = ["sh", "-c", " ".join(_quote(a) for a in argv) + " >/dev/null 2>&1 &"]
        return exec_in(self.subject, f"{devmachine_id}-0", argv, timeout=timeout)

    def expose(self, devmachine_id: str, port: int | None = None) -> ExposedPort:
        adapter = self.subject
        chosen = port or JUPYTER_PORT
        name = dns_name(f"{devmachine_id}-p{chosen}", limit=63)
        adapter.call("create service", adapter.core().create_namespaced_service,
                     adapter.namespace, {
                         "apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": name,
                                      "labels": {RUN_LABEL: adapter.context.run_id}},
                         "spec": {"selector": {"statefulset": devmachine_id},
                                  "ports": [{"name": "http", "port": chosen,
                                             "targetPort": chosen}]}})
        adapter.remember("service", adapter.namespace, name)
        url = (f"{adapter.api.configuration.host}/api/v1/namespaces/{adapter.namespace}"
               f"/services/{name}:http/proxy/")
        return {"devmachine_id": devmachine_id, "port": chosen, "url": url}

    def open_url(self, url: str, timeout: float = 10.0) -> WebAnswer:
        adapter = self.subject
        host = str(adapter.api.configuration.host).rstrip("/")
        if not url.startswith(host + "/"):
            raise Refused("kubernetes open url", 400, "invalid_request",
                          "only URLs of the API server get the caller's token")
        return raw_request(adapter, "GET", url[len(host):], None, "application/json",
                           timeout=timeout)

    def _pod(self, devmachine_id: str) -> Any:
        adapter = self.subject
        try:
            return adapter.call("read pod", adapter.core().read_namespaced_pod,
                                f"{devmachine_id}-0", adapter.namespace)
        except Refused:
            return None


class KubeDevTools(Facade[KubernetesAdapter]):
    """Frameworks, terminals, preflight, the API description
    (:class:`~pytest_sca.capabilities.DevTools`)."""

    def frameworks(self) -> list[Framework]:
        adapter = self.subject
        found: list[Framework] = []
        if "kubeflow.org/v1" in adapter.served():
            resources = {"resources": [{"name": n} for n in adapter.resources_of(
                "kubeflow.org/v1")]}
            for resource in (resources or {}).get("resources") or []:
                known = OPERATOR_FRAMEWORKS.get(resource.get("name", ""))
                if known:
                    found.append({"name": known[0], "versions": [], "distributed": True,
                                  "launcher": known[1], "worker_env": WORKER_ENV})
        if adapter.serves("clustertrainingruntime"):
            for runtime in adapter.list_objects("clustertrainingruntime", None):
                meta = runtime.get("metadata") or {}
                policy = (runtime.get("spec") or {}).get("mlPolicy") or {}
                framework = (meta.get("labels") or {}).get("trainer.kubeflow.org/framework") \
                    or next((k for k in policy if k != "numNodes"), "")
                if framework:
                    found.append({"name": RUNTIME_FRAMEWORKS.get(framework, framework),
                                  "versions": [], "distributed": True,
                                  "launcher": f"TrainJob runtime {meta.get('name')}",
                                  "worker_env": WORKER_ENV})
        if not found:
            adapter.require("pytorchjob", "clustertrainingruntime", what="distributed frameworks")
        return found

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> JobMetrics:
        """The job's cAdvisor series from the cluster's Prometheus (:mod:`.monitoring`)."""
        return job_series(self.subject, job_id, since, until)

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> ExecTerminal:
        from kubernetes.stream import stream

        adapter = self.subject
        jobs = KubeJobs(adapter)
        pod = next((p for p in jobs._pods(job_id) if jobs._rank(p) == worker), None)
        if pod is None:
            raise Refused(f"kubernetes jobs/{job_id}/terminal", 404, "not_found",
                          f"no pod of worker {worker} of job {job_id}")
        session = adapter.call("pods/exec", stream, adapter.core().connect_get_namespaced_pod_exec,
                               pod.metadata.name, adapter.namespace, command=["sh"],
                               stdin=True, stdout=True, stderr=True, tty=True,
                               _preload_content=False)
        return ExecTerminal(session)

    def preflight(self, node_ids: Sequence[str] | None = None) -> Preflight:
        adapter = self.subject
        nodes = adapter.call("list nodes", adapter.core().list_node).items
        items: list[PreflightNode] = []
        for node in nodes:
            if node_ids is not None and node.metadata.name not in node_ids:
                continue
            conditions = {c.type: c.status for c in (node.status.conditions or [])} \
                if node.status else {}
            checks = [{"name": "Ready", "ok": conditions.get("Ready") == "True"}]
            checks += [{"name": kind, "ok": conditions.get(kind) != "True"} for kind in PRESSURE]
            checks.append({"name": "schedulable",
                           "ok": not (node.spec and node.spec.unschedulable)})
            items.append({"node_id": node.metadata.name,
                          "healthy": all(c["ok"] for c in checks), "checks": checks})
        return {"items": items, "eligible": [i["node_id"] for i in items if i["healthy"]]}

    def mark_faulty(self, node_id: str, reason: str) -> NodeMark:
        adapter = self.subject
        node = adapter.call(f"nodes/{node_id}", adapter.core().read_node, node_id)
        if node.spec and node.spec.unschedulable:
            return {"node_id": node_id, "health": "faulty"}
        adapter.call("cordon node", adapter.core().patch_node, node_id,
                     {"spec": {"unschedulable": True},
                      "metadata": {"annotations": {"sca.evaluation/faulty": reason}}})
        key = ("cordon", "", node_id)

        def uncordon() -> None:
            adapter.call("uncordon node", adapter.core().patch_node, node_id,
                         {"spec": {"unschedulable": False},
                          "metadata": {"annotations": {"sca.evaluation/faulty": None}}})

        adapter._root._undo[key] = adapter.context.created(
            "kubernetes:cordon", f"uncordon node {node_id}", uncordon)
        return {"node_id": node_id, "health": "faulty"}

    def unmark(self, node_id: str) -> NodeMark:
        adapter = self.subject
        action = adapter._root._undo.pop(("cordon", "", node_id), None)
        if action is not None and not action.done:
            action.undo()
            action.cancel()
        return {"node_id": node_id, "health": "healthy"}

    def console_page(self) -> WebAnswer:
        """The console the target file names (``console_service``), through the API server's
        service proxy, as ``kubectl proxy`` shows the Kubernetes Dashboard
        (https://kubernetes.io/docs/tasks/access-application-cluster/web-ui-dashboard/)."""
        where = self.subject.config.console_service
        if not where:
            raise Unsupported("the target file names no web console: set "
                              "adapters.kubernetes.console_service (e.g. the Kubernetes "
                              "Dashboard) or add `adapters.platform`")
        namespace, _, service = where.partition("/")
        return raw_request(self.subject, "GET",
                           f"/api/v1/namespaces/{namespace}/services/{service}/proxy/", None,
                           "text/html")

    def api_operations(self) -> list[ApiOperation]:
        # The described API is Kubernetes's own: the adapter keeps no table of its routes.
        return []

    def api_description(self) -> dict[str, Any]:
        answer = raw_request(self.subject, "GET", "/openapi/v2", None, "application/json")
        if answer.status != 200:
            raise TargetError(f"kubernetes /openapi/v2: answered {answer.status}")
        return dict(json.loads(answer.text))

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        return raw_request(self.subject, method, path, body, content_type)

    def error_envelope(self, answer: WebAnswer) -> ErrorEnvelope | None:
        """A Kubernetes ``Status``: ``reason`` (``NotFound``, ``Forbidden``…) and
        ``message`` (https://kubernetes.io/docs/reference/using-api/api-concepts/)."""
        try:
            body = json.loads(answer.text)
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("kind") != "Status":
            return None
        code, message = body.get("reason"), body.get("message")
        if not isinstance(code, str) or not isinstance(message, str) \
                or not code.strip() or not message.strip():
            return None
        return {"code": code, "message": message}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)

