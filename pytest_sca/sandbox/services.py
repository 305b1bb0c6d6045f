"""Inference services: replicas that really answer HTTP, behind the platform's gateway.

A service is a job (``jobs.py``) whose workers are its replicas: each runs a
small HTTP probe server on a loopback port chosen by the kernel and writes the
port into its working directory. The gateway route
(``/api/v1/services/{id}/invoke``) forwards each request to the next ready
replica, round robin, and returns the replica's answer, which says which
replica served it and which accelerators that replica was given.

This is a minimal probe service, not model serving (the model area serves
real models); it exercises placement on chosen accelerators and balancing.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

#: The replica program: answers every GET and POST with who it is and what it holds.
REPLICA_PROGRAM = r"""
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Replica(BaseHTTPRequestHandler):
    def _answer(self):
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size).decode("utf-8", "replace") if size else ""
        answer = json.dumps({
            "replica": int(os.environ["RANK"]),
            "accelerators": [c for c in os.environ.get("SCA_VISIBLE_ACCELERATORS", "").split(",")
                             if c],
            "pid": os.getpid(), "echo": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
with open("port.partial", "w") as handle:
    handle.write(str(server.server_address[1]))
os.replace("port.partial", "port")
print(f"sca-service listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
"""

#: Seconds the gateway waits for a replica's answer.
FORWARD_TIMEOUT = 10.0


class ServiceManager:
    """Deploys, inspects, invokes and deletes services."""

    def __init__(self, store: Store, runner: JobRunner, permissions: Permissions,
                 faults: Faults) -> None:
        self.store = store
        self.runner = runner
        self.permissions = permissions
        self.faults = faults
        self._turns: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def deploy(self, who: Principal, spec: dict[str, Any]) -> Document:
        """Record a service and start its replicas as one job (quota and capacity apply)."""
        resources = dict(spec["resources"])
        started = dict(resources)
        if Fault.SERVICE_IGNORES_ACCELERATORS in self.faults:
            started.update(accelerators=0, accelerator_model=None)
        job = self.runner.submit(who, {
            "name": f"service-{spec['name']}", "image": spec["image"],
            "command": ["python", "-c", REPLICA_PROGRAM], "env": {},
            "resources": started, "workers": spec["replicas"],
            "labels": {**spec["labels"], "sca-service": "true"}})
        service: Document = {
            "id": new_id("svc"), "tenant_id": who.tenant_id, "owner": who.user_id,
            "name": spec["name"], "image": spec["image"], "replicas": spec["replicas"],
            "resources": resources, "job_id": job["id"], "labels": dict(spec["labels"]),
            "created_at": utc_now(), "simulated": resources.get("accelerators", 0) > 0,
        }
        self.store.put("service", service)
        return service

    def get(self, who: Principal, service_id: str) -> Document:
        """A service the caller's tenant owns, or 404."""
        service = self.store.get("service", service_id)
        if service is None or not self.permissions.can_read_tenant(
                who, service["tenant_id"], cross_tenant_kind=False):
            raise not_found(f"service {service_id}")
        return service

    def list(self, who: Principal) -> list[Document]:
        """Services of the caller's tenant (every tenant's for a platform admin)."""
        return self.store.list("service", tenant_id=None if who.is_platform_admin
                               else who.tenant_id)

    def delete(self, service: Document) -> None:
        """Stop the replicas and forget the service."""
        if self.store.get("job", service["job_id"]) is not None:
            self.runner.delete(service["job_id"])
        self.store.delete("service", service["id"])
        with self._lock:
            self._turns.pop(service["id"], None)

    def answer(self, service: Document) -> Document:
        """The service as the API shows it: status and each replica's placement."""
        job = self.store.get("job", service["job_id"]) or {"status": "failed", "workers": []}
        replicas = []
        for worker in job["workers"]:
            ready = worker["status"] == "running" and self._port(service, worker["rank"])
            replicas.append({
                "index": worker["rank"], "node_id": worker["node_id"],
                "accelerators": worker.get("accelerators", []),
                "status": "ready" if ready else worker["status"]})
        if job["status"] == "running":
            status = "ready" if all(r["status"] == "ready" for r in replicas) else "deploying"
        elif job["status"] == "pending":
            status = "deploying"
        else:
            status = "failed" if job["status"] == "failed" else "stopped"
        return {**{k: v for k, v in service.items() if k != "owner"},
                "status": status, "replica_status": replicas,
                "endpoint": f"/api/v1/services/{service['id']}/invoke"}

    def invoke(self, service: Document, payload: Any) -> Document:
        """Forward one request to the next ready replica; its answer."""
        view = self.answer(service)
        ready = [r["index"] for r in view["replica_status"] if r["status"] == "ready"]
        if not ready:
            raise ApiError(409, "conflict", f"service {service['id']} has no ready replica")
        if Fault.LOAD_BALANCER_PINNED in self.faults:
            rank = ready[0]
        else:
            with self._lock:
                turn = next(self._turns.setdefault(service["id"], itertools.count()))
            rank = ready[turn % len(ready)]
        port = self._port(service, rank)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/", data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT) as reply:  # noqa: S310
                return json.loads(reply.read())  # type: ignore[no-any-return]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ApiError(409, "conflict",
                           f"replica {rank} of service {service['id']} did not answer: "
                           f"{type(exc).__name__}") from None

    def _port(self, service: Document, rank: int) -> int | None:
        path = self.runner.jobs_dir / service["job_id"] / f"worker-{rank}" / "port"
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None
