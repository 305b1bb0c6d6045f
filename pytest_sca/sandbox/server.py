"""``serve``: start the whole sandbox on loopback, write its target file, run until signalled.

Threads: uvicorn serves the API from its own thread and event loop; moto's S3
server runs in its thread; the main thread runs the asyncio loop of the SSH
nodes and waits for SIGINT/SIGTERM, then stops everything it started (job
process groups included) and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.inventory import SSH_NODE_NAMES, UNLISTED_SSH_NODE
from pytest_sca.sandbox.prometheus_scraper import SandboxPrometheus, start_scraper
from pytest_sca.sandbox.s3 import ObjectStorage
from pytest_sca.sandbox.s3_gateway import S3Gateway, tenant_buckets, tenant_keys
from pytest_sca.sandbox.security import (
    NODE_SSHD_CONFIG,
    NODE_SYSTEM_PATHS,
    TlsFiles,
    ensure_tls_material,
    server_ssl_context,
    tls_enabled,
    trust_sandbox_ca,
)
from pytest_sca.sandbox.ssh import SSH_USER, Account, SshNodes, node_account
from pytest_sca.sandbox.tenancy import OTHER_TENANT, PROBE_TENANT

STANDARD = "saia-aicloud-2025-04-29"
#: How often a sandbox started with ``--exit-with-parent`` looks whether its parent is gone.
PARENT_POLL_S = 1.0
#: env name → what it holds; the target file refers to each as ${NAME}.
ENV_NAMES = (
    "SCA_SANDBOX_TOKEN",
    "SCA_SANDBOX_S3_ACCESS_KEY",
    "SCA_SANDBOX_S3_SECRET_KEY",
    "SCA_SANDBOX_S3_OTHER_ACCESS_KEY",
    "SCA_SANDBOX_S3_OTHER_SECRET_KEY",
)


def _loopback_socket() -> socket.socket:
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # connections of a socket whose proto says TCP. With Nagle on, an answer's body waits
    # for the client's delayed ACK of its headers: 40 ms more per request (45 ms → 4 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


class _ApiServer:
    """uvicorn serving the API app from a thread, on a socket bound beforehand."""

    def __init__(self, app: Any, tls: ssl.SSLContext | None = None) -> None:
        import uvicorn

        self.sock = _loopback_socket()
        self.port = int(self.sock.getsockname()[1])
        extra: dict[str, Any] = {}
        if tls is not None:
            # HSTS: a client that saw one HTTPS answer never falls back to plain HTTP.
            extra = {"ssl_context_factory": lambda config, default: tls,
                     "headers": [("strict-transport-security", "max-age=31536000")]}
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                **extra)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: self.server.run(sockets=[self.sock]), name="sandbox-api", daemon=True
        )

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the API server thread ended during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def target_document(
    state_dir: Path, api_port: int, platform: SandboxPlatform, ssh: SshNodes,
    tls_ca: Path | None = None,
) -> dict[str, Any]:
    """The target file's content: secrets only as ${VAR} references.

    With ``tls_ca`` the API is served over HTTPS and every section that points
    at it trusts that CA.
    """
    scheme = "https" if tls_ca is not None else "http"
    store = platform.store
    probe = store.get("tenant", PROBE_TENANT)
    other = store.get("tenant", OTHER_TENANT)
    assert probe is not None and other is not None
    adapters: dict[str, Any] = {
        "platform": {"url": f"{scheme}://127.0.0.1:{api_port}/", "token": "${SCA_SANDBOX_TOKEN}"},
        "ssh": {
            "nodes": [
                {"name": node.name, "host": "127.0.0.1", "port": node.port, "user": SSH_USER,
                 "key_file": str(ssh.client_key_path)}
                for node in ssh.servers
                if not (node.name == UNLISTED_SSH_NODE
                        and Fault.SSH_NODE_UNLISTED in platform.faults)
            ],
            "known_hosts": str(ssh.known_hosts_path),
            # Relative to each node's directory, where its system files live.
            "sshd_config": NODE_SSHD_CONFIG,
            "system_paths": list(NODE_SYSTEM_PATHS),
        },
    }
    if platform.storage is not None:
        adapters["s3"] = {
            "endpoint": platform.storage.endpoint,
            "access_key": "${SCA_SANDBOX_S3_ACCESS_KEY}",
            "secret_key": "${SCA_SANDBOX_S3_SECRET_KEY}",
            "bucket": probe["storage"]["bucket"],
            "other_tenant": {
                "access_key": "${SCA_SANDBOX_S3_OTHER_ACCESS_KEY}",
                "secret_key": "${SCA_SANDBOX_S3_OTHER_SECRET_KEY}",
                "bucket": other["storage"]["bucket"],
            },
        }
    from pytest_sca.sandbox.api import ROUTES

    api_url = f"{scheme}://127.0.0.1:{api_port}/"
    evidence: dict[str, Any] = {}
    capabilities: dict[str, Any] = {"simulated": True}
    for area in ROUTES:
        if area.target_adapters is not None:
            adapters.update(area.target_adapters(api_url, platform))
        # An area's evaluator evidence for parts no software can check.
        if area.target_evidence is not None:
            evidence.update(area.target_evidence(platform))
        if area.target_capabilities is not None:
            capabilities.update(area.target_capabilities(platform))
    if tls_ca is not None:
        trust_sandbox_ca(adapters, str(tls_ca))
    return {
        "name": "sandbox",
        "standard": STANDARD,
        "adapters": adapters,
        "capabilities": capabilities,
        **({"evidence": evidence} if evidence else {}),
    }


def secret_env(platform: SandboxPlatform) -> dict[str, str]:
    """Values of the ${VAR}s the target file refers to."""
    probe = platform.store.get("tenant", PROBE_TENANT)
    other = platform.store.get("tenant", OTHER_TENANT)
    assert probe is not None and other is not None
    return {
        "SCA_SANDBOX_TOKEN": platform.admin_api_key,
        "SCA_SANDBOX_S3_ACCESS_KEY": probe["storage"]["access_key"],
        "SCA_SANDBOX_S3_SECRET_KEY": probe["storage"]["secret_key"],
        "SCA_SANDBOX_S3_OTHER_ACCESS_KEY": other["storage"]["access_key"],
        "SCA_SANDBOX_S3_OTHER_SECRET_KEY": other["storage"]["secret_key"],
    }


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (rename)."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


class Sandbox:
    """All the sandbox's servers over one state directory."""

    def __init__(self, state_dir: Path, faults: tuple[Fault, ...]) -> None:
        self.state_dir = state_dir
        self.storage = ObjectStorage()
        account = node_account()
        #: The simulated hosts' own directory: outside the private state when their
        #: commands run as another account (removed at stop).
        self.hosts_dir = _hosts_dir(account) if account is not None else None
        try:
            self.platform = SandboxPlatform(state_dir, frozenset(faults), self.storage,
                                            self.hosts_dir)
            names = SSH_NODE_NAMES + ((UNLISTED_SSH_NODE,) if Fault.SSH_NODE_UNLISTED in faults
                                      else ())
            self.ssh = SshNodes(state_dir, names, frozenset(faults), self.hosts_dir, account)
        except BaseException:
            # No stop() follows a sandbox that could not be built (a state that is not a
            # database): its hosts' directory, made outside the state, went with it.
            if self.hosts_dir is not None:
                shutil.rmtree(self.hosts_dir, ignore_errors=True)
            raise
        self.api: _ApiServer | None = None
        self.tls: TlsFiles | None = None
        self.gateway: S3Gateway | None = None
        self.prometheus: SandboxPrometheus | None = None
        self.target_path = state_dir / "target.yaml"
        self.env_path = state_dir / "sandbox.env"

    async def start(self) -> None:
        """Start S3 (thread) and SSH (this loop) side by side, then the platform and its API."""
        from pytest_sca.sandbox.api import create_app

        s3_thread = threading.Thread(target=self.storage.start, name="sandbox-s3-start")
        s3_thread.start()
        await self.ssh.start()
        await asyncio.get_running_loop().run_in_executor(None, s3_thread.join)
        if not self.storage.endpoint:
            raise RuntimeError("the S3 server did not start")
        self.platform.initialise()
        self.platform.tenancy.ensure_buckets()
        self._publish_ssh_nodes()
        self.platform.start()
        tls_context = None
        if tls_enabled() and Fault.PLAIN_HTTP_OPEN not in self.platform.faults:
            self.tls = ensure_tls_material(self.state_dir)
            tls_context = server_ssl_context(self.tls, self.platform.faults)
        store = self.platform.store
        self.gateway = S3Gateway(self.storage.endpoint, tenant_keys(store), tenant_buckets(store),
                                 self.storage.client, self.platform.faults, tls_context,
                                 backend_key=self.storage.backend_key)
        self.gateway.start()
        self.storage.tenant_endpoint = self.gateway.internal_url
        self.api = _ApiServer(create_app(self.platform), tls_context)
        await asyncio.get_running_loop().run_in_executor(None, self.api.start)
        api_url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.api.port}/"
        self.prometheus = await asyncio.get_running_loop().run_in_executor(
            None, start_scraper, self.state_dir, api_url, self.platform.admin_api_key, self.tls)

    def _publish_ssh_nodes(self) -> None:
        for server in self.ssh.servers:
            ssh = {"host": "127.0.0.1", "port": server.port, "user": SSH_USER}

            def publish(node: dict[str, Any], ssh: dict[str, Any] = ssh) -> None:
                node["ssh"] = ssh

            self.platform.store.update("node", server.name, publish)

    def write_outputs(self, ready_file: Path | None) -> None:
        """target.yaml, sandbox.env and (last, as the ready signal) the ready file."""
        assert self.api is not None
        document = target_document(self.state_dir, self.api.port, self.platform, self.ssh,
                                   self.tls.ca if self.tls else None)
        s3 = document["adapters"].get("s3")
        if s3 is not None and self.gateway is not None:
            # Tenants reach storage through the gateway, which enforces their keys.
            s3["endpoint"] = self.gateway.url
            if self.tls is not None:
                s3["verify"] = str(self.tls.ca)
        if self.prometheus is not None:
            # After `platform`: the exposition endpoint stays the first `metrics` provider.
            document["adapters"]["prometheus"] = self.prometheus.target_section()
        _write_private(self.target_path, yaml.safe_dump(document, sort_keys=False))
        env = secret_env(self.platform)
        _write_private(self.env_path, "".join(f"export {k}={v}\n" for k, v in env.items()))
        if ready_file is not None:
            _write_private(ready_file, f"{self.target_path}\n")

    async def stop(self) -> None:
        """Stop Prometheus, the API, the jobs, SSH and S3, in that order."""
        if self.prometheus is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.prometheus.stop)
        if self.api is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.api.stop)
        await asyncio.get_running_loop().run_in_executor(None, self.platform.close)
        await self.ssh.stop()
        if self.gateway is not None:
            self.gateway.stop()
        self.storage.stop()
        if self.hosts_dir is not None:
            shutil.rmtree(self.hosts_dir, ignore_errors=True)


def _hosts_dir(account: Account) -> Path:
    """A directory for the simulated hosts that their account can reach (the state
    directory, 0700, it cannot): 0711, the shared file system owned by that account."""
    hosts = Path(tempfile.mkdtemp(prefix="sca-sandbox-hosts-"))
    hosts.chmod(0o711)
    for shared in (hosts / "nodes", hosts / "filesystems", hosts / "filesystems" / "hpfs"):
        shared.mkdir()
        shared.chmod(0o711)
    os.chown(hosts / "filesystems" / "hpfs", account.uid, account.gid)
    hosts.joinpath("filesystems", "hpfs").chmod(0o755)
    return hosts


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``parent`` is no longer this process's parent: the run that started
    the sandbox was killed outright (SIGKILL, an OOM kill, a CI timeout), which no teardown
    of its own survives; the sandbox's own session kept it out of the run's process group."""
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(PARENT_POLL_S)


async def _serve(state_dir: Path, faults: tuple[Fault, ...], ready_file: Path | None,
                 parent: int | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watch = None if parent is None else asyncio.create_task(_watch_parent(parent, stop))
    sandbox = Sandbox(state_dir, faults)
    try:
        await sandbox.start()
        # The platform built at start-up lives as long as the sandbox: keep it out of every
        # later full garbage collection.
        gc.freeze()
        sandbox.write_outputs(ready_file)
        # The credentials stay in the env file (mode 600): printing them would put
        # secrets into terminal scroll-back and CI logs.
        print(f"sandbox ready: target file {sandbox.target_path}", flush=True)
        print(f"credentials: source {sandbox.env_path}", flush=True)
        print(f"evaluate it: source {sandbox.env_path} && "
              f"pytest --sca-target={sandbox.target_path}", flush=True)
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        await sandbox.stop()


class StateDirInUse(RuntimeError):
    """Another sandbox runs on the same state directory."""


def _lock_state_dir(directory: Path) -> int:
    """Hold an exclusive lock on the state dir for the life of this process."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateDirInUse(
            f"state dir {directory} is in use by another sandbox: stop it or use another --state"
        ) from None
    return fd


def serve(state_dir: Path | None, faults: tuple[Fault, ...], ready_file: Path | None,
          parent: int | None = None, callers_temporary: bool = False) -> int:
    """Run the sandbox until SIGINT/SIGTERM, or until process ``parent`` is no longer this
    one's parent (it exited: the sandbox is re-parented); a fresh temp state dir is removed
    at exit, and so is ``state_dir`` when it is the caller's temporary one
    (``callers_temporary``) and the caller is gone: it holds the sandbox's credentials, and
    nobody else would remove it."""
    temporary = state_dir is None
    # The state holds the admin key and every tenant's: only its owner may read anything
    # the sandbox writes (directories 0700, files 0600), whatever the caller's umask.
    os.umask(0o077)
    directory = Path(tempfile.mkdtemp(prefix="sca-sandbox-")) if state_dir is None else state_dir
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    lock = _lock_state_dir(directory)
    parent_gone = False
    try:
        asyncio.run(_serve(directory.resolve(), faults, ready_file, parent))
        parent_gone = parent is not None and os.getppid() != parent
    finally:
        os.close(lock)
        if temporary or (parent_gone and callers_temporary):
            shutil.rmtree(directory, ignore_errors=True)
        if ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                ready_file.unlink()
    return 0



