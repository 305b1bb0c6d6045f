"""``services`` and ``network``.

``services``: a probe service is a Deployment of ``replicas`` pods running a small HTTP
server (:data:`SERVICE_PROBE`) behind a ClusterIP Service, scaled by a
HorizontalPodAutoscaler between ``replicas`` and twice as many; requests go through the API
server's service proxy (``/api/v1/namespaces/<ns>/services/<name>:http/proxy/``), the one
endpoint an evaluator outside the cluster can reach
(https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/).

``network``: a tenant's network is its namespace; jobs run there as ``batch/v1`` Jobs and are
reached at their pod IP. Isolation between namespaces is what NetworkPolicy objects say and
the CNI enforces (https://kubernetes.io/docs/concepts/services-networking/network-policies/);
the check measures whether it holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    Job,
    Labels,
    NetworkPolicy,
    Refused,
    ReplicaStatus,
    Resources,
    Service,
    ServiceAnswer,
    TargetError,
    WaitTimeout,
    wait_for,
)

from .adapter import KubernetesAdapter, raw_request
from .compute import KubeCompute
from .jobs import KubeJobs, container_spec
from .resources import dns_name

SERVICE_PORT = 8080
#: The probe service: answers every request with the pod that served it and the request.
SERVICE_PROBE = r"""
import json, os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Probe(BaseHTTPRequestHandler):
    def _answer(self):
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b"{}"
        try:
            echo = json.loads(body or b"{}")
        except ValueError:
            echo = body.decode("utf-8", "replace")
        pod = os.environ.get("HOSTNAME") or socket.gethostname()
        answer = json.dumps({"pod": pod, "echo": echo}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("SCA_PORT", "8080"))), Probe).serve_forever()
"""
#: How long :meth:`KubeNetwork.run_in_tenant_network` waits for the pod's IP.
ADDRESS_WAIT_S = 60.0


class KubeServices(Facade[KubernetesAdapter]):
    """Probe services (:class:`~pytest_sca.capabilities.Services`)."""

    def deploy(self, name: str, image: str, resources: Resources, *, replicas: int = 1,
               labels: Labels | None = None) -> Service:
        adapter = self.subject
        namespace = adapter.ensure_namespace()
        service_name = dns_name(name, limit=50)
        selector = {"sca-service": service_name}
        container = container_spec(adapter, image, ["python3", "-c", SERVICE_PROBE], resources,
                                   {"SCA_PORT": str(SERVICE_PORT)})
        container.update(name="probe", ports=[{"name": "http", "containerPort": SERVICE_PORT}],
                         readinessProbe={"httpGet": {"path": "/", "port": SERVICE_PORT},
                                         "periodSeconds": 2})
        all_labels = {**(labels or {}), **selector}
        adapter.create_object("deployment", namespace, {
            "metadata": {"name": service_name, "labels": dict(all_labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": all_labels},
                                  "spec": {"containers": [container]}}}})
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service_name,
                             "labels": {**all_labels, "sca-run": adapter.context.run_id}},
                "spec": {"selector": selector,
                         "ports": [{"name": "http", "port": SERVICE_PORT,
                                    "targetPort": SERVICE_PORT}]}}
        adapter.call("create service", adapter.core().create_namespaced_service, namespace,
                     body)
        adapter.remember("service", namespace, service_name)
        if adapter.serves("hpa"):
            adapter.create_object("hpa", namespace, {
                "metadata": {"name": service_name, "labels": dict(all_labels)},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": service_name},
                         "minReplicas": replicas, "maxReplicas": max(replicas * 2, 2),
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu",
                             "target": {"type": "Utilization", "averageUtilization": 80}}}]}})
        return self.get(service_name)

    def get(self, service_id: str) -> Service:
        adapter = self.subject
        found = adapter.get_object("deployment", adapter.namespace, service_id)
        spec, state = found.get("spec", {}), found.get("status") or {}
        wanted = int(spec.get("replicas") or 0)
        ready = int(state.get("readyReplicas") or 0)
        failed = any(c.get("type") == "Progressing" and c.get("status") == "False"
                     for c in state.get("conditions") or [])
        status = "failed" if failed else "ready" if wanted and ready >= wanted else "pending"
        return {"id": service_id, "name": service_id, "status": status, "replicas": wanted,
                "replica_status": cast(list[ReplicaStatus], self._replicas(service_id)),
                "endpoint": f"{adapter.api.configuration.host}/api/v1/namespaces/"
                            f"{adapter.namespace}/services/{service_id}:http/proxy/",
                "labels": dict(found.get("metadata", {}).get("labels") or {})}

    def invoke(self, service_id: str, payload: Mapping[str, Any]) -> ServiceAnswer:
        adapter = self.subject
        path = f"/api/v1/namespaces/{adapter.namespace}/services/{service_id}:http/proxy/"
        reply = raw_request(adapter, "POST", path, json.dumps(dict(payload)).encode(),
                            "application/json")
        if reply.status >= 400:
            raise Refused(f"kubernetes service {service_id}", reply.status, None,
                          reply.text[:200])
        try:
            answer = json.loads(reply.text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TargetError(f"kubernetes service {service_id}: answered {answer!r}")
        pod = answer.get("pod")
        replicas = self._replicas(service_id)
        replica = next((r for r in replicas if r.get("pod") == pod), None)
        return {"replica": replica["index"] if replica else -1,
                "accelerators": [str(i) for i in (replica or {}).get("accelerators", [])],
                "echo": answer.get("echo")}

    def delete(self, service_id: str) -> None:
        adapter = self.subject
        namespace = adapter.namespace
        if adapter.serves("hpa"):
            adapter.delete_object("hpa", namespace, service_id)
        adapter.delete_object("deployment", namespace, service_id)
        adapter.call("delete service", adapter.core().delete_namespaced_service, service_id,
                     namespace)
        adapter.forget("service", namespace, service_id)

    def wait_ready(self, service_id: str, timeout: float = 60.0) -> Service:
        return wait_for(lambda: self.get(service_id),
                        lambda s: s["status"] in ("ready", "failed"), timeout,
                        lambda s: f"service {service_id} still {s['status']!r}", first=0.2)

    def _replicas(self, service_id: str) -> list[dict[str, Any]]:
        adapter = self.subject
        pods = adapter.call("list pods", adapter.core().list_namespaced_pod, adapter.namespace,
                            label_selector=f"sca-service={service_id}").items
        pods = sorted((p for p in pods if (p.metadata.labels or {}).get("sca-service")
                       == service_id), key=lambda p: p.metadata.name)
        nodes = {n["id"]: n for n in KubeCompute(adapter._root).list_nodes()} if pods else {}
        replicas: list[dict[str, Any]] = []
        for index, pod in enumerate(pods):
            node_id = pod.spec.node_name if pod.spec else None
            cards = [c["index"] for c in nodes.get(node_id or "", {}).get("accelerators", [])
                     if c.get("allocated_to") == pod.metadata.name]
            ready = any(c.type == "Ready" and c.status == "True"
                        for c in (pod.status.conditions or [])) if pod.status else False
            replicas.append({"index": index, "node_id": node_id, "accelerators": cards,
                             "status": "ready" if ready else "pending",
                             "pod": pod.metadata.name})
        return replicas


class KubeNetwork(Facade[KubernetesAdapter]):
    """Tenant networks as namespaces (:class:`~pytest_sca.capabilities.Network`)."""

    def policy(self) -> NetworkPolicy:
        adapter = self.subject
        adapter.require("networkpolicy", what="network isolation between tenants")
        return {"isolation": "namespace",
                "reason": "each tenant is a namespace; NetworkPolicy (networking.k8s.io/v1) "
                          "objects isolate it, enforced by the cluster's CNI"}

    def run_in_tenant_network(self, name: str, image: str, command: Sequence[str],
                              resources: Resources, *, env: Mapping[str, str] | None = None,
                              labels: Labels | None = None) -> Job:
        adapter = self.subject
        jobs = KubeJobs(adapter)
        job = jobs.submit(name, image, command, resources, env=env, labels=labels)
        namespace = adapter.namespace
        try:
            address = wait_for(lambda: self._pod_ip(jobs, job["id"]), bool, ADDRESS_WAIT_S,
                               lambda _: f"job {job['id']} has no pod IP", first=0.2)
        except WaitTimeout:
            address = None
        return {**job, "network": {"mode": "namespace", "namespace": namespace,
                                   "address": address or ""}}

    @staticmethod
    def _pod_ip(jobs: KubeJobs, job_id: str) -> str | None:
        for pod in jobs._pods(job_id):
            if pod.status is not None and pod.status.pod_ip:
                return str(pod.status.pod_ip)
        return None

