"""Dev machines: a process group with its own working directory, shell, devices and ports.

A dev machine is what a notebook or IDE instance is on a real platform, made
of what this machine has: a directory (its home), a long-lived init process
whose process group every command joins, the requested (simulated) cards
allocated on a node and announced in the environment the way vendors' device
plugins do (``ASCEND_VISIBLE_DEVICES``…), the image it was created from
(``JUPYTER_IMAGE``) and what that image carries of its framework (the
distribution metadata a job in it finds, :mod:`image_sites`), and a ``docker``
command on its PATH when a docker-compatible CLI (podman) is installed. Ports
opened inside are reached
through the API server (``/api/v1/devmachines/{id}/proxy/{port}/``).
Deleting a dev machine kills its process group and gives its cards back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.procs import own_process_group, pid_alive
from pytest_sca.sandbox.scheduling import place_job
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now
from pytest_sca.sandbox.tenancy import Tenancy

#: Variables of the sandbox's own environment a dev machine must not inherit.
_PRIVATE_ENV_PREFIXES = ("SCA_SANDBOX_", "AWS_")
#: vendor → the variable its device plugin sets inside a container.
VENDOR_DEVICE_VARIABLES = {
    "huawei": "ASCEND_VISIBLE_DEVICES",
    "nvidia": "NVIDIA_VISIBLE_DEVICES",
    "cambricon": "MLU_VISIBLE_DEVICES",
    "hygon": "HIP_VISIBLE_DEVICES",
}
MAX_OUTPUT = 1 << 20
MAX_EXEC_SECONDS = 300.0
_DOCKER_SHIM = """#!/bin/sh
# docker-compatible CLI of this dev machine: podman with storage in the machine's home.
exec {podman} --root "$HOME/.containers/storage" --runroot "{runroot}" \\
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
"""

#: The image's Python, as ``python`` and ``python3`` on the machine's PATH: the interpreter
#: jobs in the image run (the sandbox's own), so a dev machine and a job of one image see
#: the same distributions.
_PYTHON_SHIM = """#!/bin/sh
exec {python} "$@"
"""


def docker_cli() -> str | None:
    """The docker-compatible CLI dev machines get (podman's path), or ``None``."""
    return shutil.which("podman")


def _runroot(machine: Document) -> Path:
    # podman refuses a run root longer than 50 characters: a short one in the temp dir.
    return Path(tempfile.gettempdir()) / f"sca-{machine['id']}"


def _joining_group(group: int) -> dict[str, Any]:
    """Popen keyword arguments that start a child in the existing process group ``group``."""
    if sys.version_info >= (3, 11):
        return {"process_group": group}
    return {"preexec_fn": lambda: os.setpgid(0, group)}  # pragma: no cover - Python 3.10


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevMachines:
    """Creates, runs commands in, forwards ports of and deletes dev machines."""

    def __init__(self, store: Store, permissions: Permissions, tenancy: Tenancy,
                 runner: JobRunner, root: Path, faults: Faults) -> None:
        self.store = store
        self.permissions = permissions
        self.tenancy = tenancy
        self.runner = runner
        self.root = root
        self.faults = faults
        self._lock = threading.Lock()
        self._inits: dict[str, subprocess.Popen[bytes]] = {}

    # life cycle ---------------------------------------------------------------------------

    def create(self, who: Principal, spec: dict[str, Any]) -> Document:
        """Admit (quota), place (cards), start the init process; the machine is ``running``."""
        image = self._image(spec["image"])
        resources = dict(spec["resources"])
        with self.store.lock:
            self._check_quota(who.tenant_id, resources)
            machine: Document = {
                "id": new_id("dev"),
                "tenant_id": who.tenant_id,
                "owner": who.user_id,
                "name": spec["name"],
                "image": f"{image['name']}:{image['tag']}",
                "resources": resources,
                "status": "pending",
                "node_id": None,
                "accelerators": [],
                "ports": [],
                "simulated": resources.get("accelerators", 0) > 0,
                "created_at": utc_now(),
                "started_at": None,
                "labels": dict(spec.get("labels") or {}),
            }
            self._place(machine)
            self.store.put("devmachine", machine)
        self._start(machine)
        return machine

    def delete(self, machine: Document) -> None:
        """Kill the machine's process group, give its cards back, remove its files."""
        with self._lock:
            init = self._inits.pop(machine["id"], None)
        if init is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(init.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                init.wait(timeout=5)
        with self.store.lock:
            self._release(machine)
            self.store.delete("devmachine", machine["id"])
        shutil.rmtree(self.root / machine["id"], ignore_errors=True)
        shutil.rmtree(_runroot(machine), ignore_errors=True)

    def close(self) -> None:
        """Kill every dev machine's processes (the sandbox is stopping)."""
        with self._lock:
            inits = dict(self._inits)
            self._inits.clear()
        for machine_id, init in inits.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(init.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                init.wait(timeout=5)
            shutil.rmtree(_runroot({"id": machine_id}), ignore_errors=True)

    def visible(self, who: Principal, machine_id: str) -> Document:
        """A dev machine of ``who``'s tenant (any for a platform admin), or 404."""
        machine = self.store.get("devmachine", machine_id)
        if machine is None or not self.permissions.can_read_tenant(
            who, machine["tenant_id"], cross_tenant_kind=False
        ):
            raise not_found(f"dev machine {machine_id}")
        return machine

    def visible_machines(self, who: Principal) -> list[Document]:
        """The dev machines ``who`` may see."""
        everyone = self.permissions.reads_every_tenant(who, cross_tenant_kind=False)
        return self.store.list("devmachine", tenant_id=None if everyone else who.tenant_id)

    def status(self, machine: Document) -> Document:
        """The machine as the API shows it: ``running`` while its init process lives."""
        with self._lock:
            init = self._inits.get(machine["id"])
        alive = init is not None and init.poll() is None and pid_alive(init.pid)
        shown = {k: v for k, v in machine.items() if not k.startswith("_")}
        if machine["status"] == "running" and not alive:
            shown["status"] = "stopped"
        return shown

    # inside the machine ---------------------------------------------------------------------

    def exec(self, machine: Document, command: list[str], timeout: float,
             background: bool) -> Document:
        """Run ``command`` in the machine's home and process group.

        Foreground: ``{exit_code, output}`` (stdout and stderr merged, cut at 1 MiB;
        124 after ``timeout``). Background: ``{pid}``; its output goes to
        ``.sca/background-<pid>.log`` in the machine's home.
        """
        init = self._running_init(machine)
        home = self.root / machine["id"]
        env = self._environment(machine)
        if background:
            log_dir = home / ".sca"
            log_dir.mkdir(exist_ok=True)
            with open(log_dir / "background.log", "ab") as log:
                process = self._popen(command, home, env, init.pid, stdout=log)
            return {"pid": process.pid, "exit_code": None, "output": ""}
        process = self._popen(command, home, env, init.pid, stdout=subprocess.PIPE)
        try:
            output, _ = process.communicate(timeout=min(timeout, MAX_EXEC_SECONDS))
            code = process.returncode
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate(timeout=5)
            code = 124
        text = (output or b"")[:MAX_OUTPUT].decode("utf-8", "replace")
        return {"pid": process.pid, "exit_code": code if code >= 0 else 128 - code,
                "output": text}

    def expose(self, machine: Document, port: int | None, base_url: str) -> Document:
        """Publish a port of the machine at a URL of the API server."""
        self._running_init(machine)
        chosen = port or free_port()
        if chosen not in machine["ports"]:
            machine["ports"].append(chosen)
            self.store.put("devmachine", machine)
        url = f"{base_url.rstrip('/')}/api/v1/devmachines/{machine['id']}/proxy/{chosen}/"
        return {"devmachine_id": machine["id"], "port": chosen, "url": url}

    def forward_port(self, machine: Document, port: int) -> int:
        """The loopback port a request to the machine's exposed ``port`` goes to."""
        if port not in machine["ports"]:
            raise not_found(f"port {port} of dev machine {machine['id']} (not exposed)")
        if Fault.PORT_FORWARD_BROKEN in self.faults:
            return free_port()
        return port

    # internals --------------------------------------------------------------------------------

    def _image(self, reference: str) -> Document:
        name, _, tag = reference.partition(":")
        for image in self.store.list("image"):
            if image["name"] == name and (not tag or image["tag"] == tag):
                return image
        raise ApiError(422, "invalid_request", f"image {reference!r} is not in the catalogue")

    def _check_quota(self, tenant_id: str, resources: dict[str, Any]) -> None:
        if Fault.QUOTA_NOT_ENFORCED in self.faults:
            return
        quota = self.tenancy.tenant(tenant_id)["quota"]
        used = dict(self.runner.quota_used(tenant_id))
        for other in self.store.list("devmachine", tenant_id=tenant_id):
            for key in used:
                used[key] += other["resources"].get(key, 0)
        for key in ("cpu", "memory_gib", "accelerators"):
            if used[key] + resources.get(key, 0) > quota[key] + 1e-9:
                raise ApiError(409, "quota_exceeded",
                               f"tenant {tenant_id} quota {key}={quota[key]} exceeded: "
                               f"{used[key]} in use, dev machine requests {resources.get(key)}")

    def _place(self, machine: Document) -> None:
        clusters = {c["id"] for c in self.store.list("cluster")
                    if c["tenant_id"] in (None, machine["tenant_id"]) and c["status"] == "ready"}
        nodes = [n for n in self.store.list("node")
                 if n["cluster_id"] in clusters and n["health"] == "healthy"]
        pseudo_job = {"resources": machine["resources"], "world_size": 1}
        placement = place_job(pseudo_job, nodes, self.store.list("job", status="running"))
        if isinstance(placement, str):
            raise ApiError(409, "insufficient_capacity", placement)
        spot = placement[0]
        machine["node_id"] = spot.node_id
        if Fault.DEVMACHINE_WITHOUT_ACCELERATORS in self.faults:
            return
        machine["accelerators"] = list(spot.accelerators)

        def take(node: Document) -> None:
            for card in node["accelerators"]:
                if card["index"] in spot.accelerators:
                    card["allocated_to"] = machine["id"]
        self.store.update("node", spot.node_id, take)

    def _release(self, machine: Document) -> None:
        if not machine.get("node_id") or not machine.get("accelerators"):
            return

        def give_back(node: Document) -> None:
            for card in node["accelerators"]:
                if card["allocated_to"] == machine["id"]:
                    card["allocated_to"] = None
        self.store.update("node", machine["node_id"], give_back)

    def _start(self, machine: Document) -> None:
        home = self.root / machine["id"]
        (home / "bin").mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            shim = home / "bin" / name
            shim.write_text(_PYTHON_SHIM.format(python=sys.executable))
            shim.chmod(0o755)
        podman = docker_cli()
        if podman and Fault.DEVMACHINE_WITHOUT_DOCKER not in self.faults:
            shim = home / "bin" / "docker"
            shim.write_text(_DOCKER_SHIM.format(podman=podman, runroot=_runroot(machine)))
            shim.chmod(0o755)
        init = subprocess.Popen(  # noqa: S603 - the machine's own init: sleeps until killed
            ["sleep", "infinity"], cwd=home, env=self._environment(machine),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            **own_process_group(),
        )
        with self._lock:
            self._inits[machine["id"]] = init

        def started(doc: Document) -> None:
            doc.update(status="running", started_at=utc_now())
        updated = self.store.update("devmachine", machine["id"], started)
        if updated is not None:
            machine.update(updated)

    def _running_init(self, machine: Document) -> subprocess.Popen[bytes]:
        with self._lock:
            init = self._inits.get(machine["id"])
        if init is None or init.poll() is not None:
            raise ApiError(409, "conflict", f"dev machine {machine['id']} is not running")
        return init

    def _environment(self, machine: Document) -> dict[str, str]:
        home = self.root / machine["id"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
        cards = ",".join(str(i) for i in machine["accelerators"])
        env.update({
            "HOME": str(home),
            "PATH": f"{home / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "JUPYTER_IMAGE": machine["image"],
            "SCA_DEVMACHINE_ID": machine["id"],
            # Machines share the host's network here: servers inside stay on loopback.
            "SCA_BIND_ADDRESS": "127.0.0.1",
            "SCA_VISIBLE_ACCELERATORS": cards,
            "PYTHONUNBUFFERED": "1",
        })
        vendor = self._vendor(machine)
        if vendor in VENDOR_DEVICE_VARIABLES and cards:
            env[VENDOR_DEVICE_VARIABLES[vendor]] = cards
        image = machine["image"]
        if Fault.DEVMACHINE_IMAGE_SUBSTITUTED in self.faults:
            del env["JUPYTER_IMAGE"]
            image = self._other_preset(image)
        # What the image carries of its framework, as a job in it sees (image_sites.py).
        site = self.runner.image_site(image)
        if site is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(site), env.get("PYTHONPATH")) if p)
        return env

    def _other_preset(self, reference: str) -> str:
        """Another preset image than ``reference`` (``name:tag``), or ``reference`` itself."""
        others = [f"{i['name']}:{i['tag']}" for i in self.store.list(
            "image", where=lambda i: bool(i["preset"]))]
        return next((o for o in others if o != reference), reference)

    def _vendor(self, machine: Document) -> str | None:
        node = self.store.get("node", machine["node_id"]) if machine.get("node_id") else None
        if node is None or not node["accelerators"]:
            return None
        return str(node["accelerators"][0]["vendor"])

    @staticmethod
    def _popen(command: list[str], home: Path, env: dict[str, str], group: int,
               stdout: Any) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(  # noqa: S603 - running the tenant's command is the point
                command, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=subprocess.STDOUT, **_joining_group(group),
            )
        except (OSError, ValueError) as exc:
            raise ApiError(422, "invalid_request", f"cannot start {command[:1]}: {exc}") from None
