"""SSH nodes: asyncssh servers on loopback that run real commands in a node's own directory.

Key authentication only. The host keys and one client key live in
``DIR/ssh/``; ``DIR/ssh/known_hosts`` lists each node's host key under
``[127.0.0.1]:PORT`` so that clients can check host keys strictly.

A node is not a shell on the sandbox's host: when the sandbox runs as root, commands run
as an unprivileged user (:data:`NODE_ACCOUNT`) in the node's directory, under a hosts
directory outside the sandbox's private state (which they cannot read).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.inventory import UNLISTED_SSH_NODE
from pytest_sca.sandbox.procs import own_process_group
from pytest_sca.sandbox.security import write_node_baseline

SSH_USER = "sca"
#: The local account node commands run as when the sandbox runs as root.
NODE_ACCOUNT = "nobody"


@dataclass(frozen=True)
class Account:
    """A local account: who node commands run as."""

    name: str
    uid: int
    gid: int


def node_account() -> Account | None:
    """The unprivileged account node commands run as; None when the sandbox cannot switch
    user (it does not run as root, or the account does not exist)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(NODE_ACCOUNT)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass
class SshNodeServer:
    """One running SSH node."""

    name: str
    port: int
    workdir: Path
    server: Any


class _NodeServer(asyncssh.SSHServer):
    """Accepts only public-key logins of user ``sca`` with the sandbox's client key."""

    def __init__(self, client_key: asyncssh.SSHKey, root_password: str | None = None) -> None:
        self._allowed = client_key.export_public_key()
        #: Set only under the ``root_password_login`` fault: root may log in with it.
        self._root_password = root_password

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == SSH_USER and key.export_public_key() == self._allowed

    def password_auth_supported(self) -> bool:
        return self._root_password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return (username == "root" and self._root_password is not None
                and secrets.compare_digest(password, self._root_password))

    def kbdint_auth_supported(self) -> bool:
        return False


def _load_or_create_key(path: Path) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    os.chmod(path, 0o600)
    return key


class SshNodes:
    """The sandbox's SSH-reachable nodes, served from one asyncio loop."""

    def __init__(self, state_dir: Path, node_names: tuple[str, ...],
                 faults: Faults = frozenset(), hosts_dir: Path | None = None,
                 account: Account | None = None) -> None:
        self.faults = faults
        self.ssh_dir = state_dir / "ssh"
        self.nodes_dir = (hosts_dir or state_dir) / "nodes"
        #: Who node commands run as (None: the sandbox's own user).
        self.account = account
        self.node_names = node_names
        self.client_key_path = self.ssh_dir / "id_ed25519"
        self.known_hosts_path = self.ssh_dir / "known_hosts"
        self.servers: list[SshNodeServer] = []
        self._children: set[asyncio.subprocess.Process] = set()

    async def start(self) -> None:
        """Create keys if missing, start one server per node, write known_hosts."""
        self.ssh_dir.mkdir(parents=True, exist_ok=True)
        client_key = _load_or_create_key(self.client_key_path)
        root_password = (secrets.token_urlsafe(16) if Fault.ROOT_PASSWORD_LOGIN in self.faults
                         else None)
        known_lines = []
        for name in self.node_names:
            host_key = _load_or_create_key(self.ssh_dir / f"host_{name}_ed25519")
            workdir = self.nodes_dir / name
            workdir.mkdir(parents=True, exist_ok=True)
            # Under ssh_node_unlisted the node left out of the target file is also weak.
            weak = Fault.SSH_NODE_UNLISTED in self.faults and name == UNLISTED_SSH_NODE
            write_node_baseline(workdir, self.faults | {Fault.ROOT_PASSWORD_LOGIN} if weak
                                else self.faults)
            password = root_password or (secrets.token_urlsafe(16) if weak else None)
            if self.account is not None:  # its home is the node user's; its /etc stays root's
                os.chown(workdir, self.account.uid, self.account.gid)
                workdir.chmod(0o755)
            server = await asyncssh.create_server(
                lambda password=password: _NodeServer(client_key, password),
                "127.0.0.1",
                0,
                server_host_keys=[host_key],
                process_factory=lambda process, workdir=workdir: self._run(process, workdir),
                allow_scp=False,
                sftp_factory=None,
                encoding=None,
            )
            port = server.sockets[0].getsockname()[1]
            self.servers.append(SshNodeServer(name, port, workdir, server))
            public = host_key.export_public_key().decode().strip()
            known_lines.append(f"[127.0.0.1]:{port} {public}")
        self.known_hosts_path.write_text("\n".join(known_lines) + "\n")

    async def _run(self, process: asyncssh.SSHServerProcess[bytes], workdir: Path) -> None:
        """Run the client's command with /bin/sh -c in the node's directory."""
        command = process.command
        if command is None:
            process.stderr.write(b"this node runs commands only, no interactive shell\n")
            process.exit(1)
            return
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("SCA_SANDBOX_", "AWS_"))
        }
        env.update(HOME=str(workdir), USER=SSH_USER, PWD=str(workdir))
        switch: dict[str, Any] = {}
        if self.account is not None:
            switch = {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}
        child = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command,
            cwd=workdir,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **own_process_group(),
            **switch,
        )
        self._children.add(child)
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        feeding = asyncio.create_task(_feed_stdin(process, child.stdin))
        try:
            # Forward every byte of output before reporting the exit status: the
            # client reads the channel until it sees the status, then stops.
            await asyncio.gather(
                _pump(child.stdout, process.stdout), _pump(child.stderr, process.stderr)
            )
            code = await child.wait()
        except (asyncssh.Error, OSError, asyncio.CancelledError):
            _kill_group(child.pid)
            code = 255
        finally:
            feeding.cancel()
            self._children.discard(child)
        process.exit(128 - code if code < 0 else code)

    async def stop(self) -> None:
        """Close every server and kill commands still running."""
        for child in list(self._children):
            _kill_group(child.pid)
        for node in self.servers:
            node.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(node.server.wait_closed(), timeout=2)
        self.servers.clear()


async def _pump(source: asyncio.StreamReader, sink: Any) -> None:
    while chunk := await source.read(65536):
        sink.write(chunk)
        await sink.drain()


async def _feed_stdin(process: Any, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError, ConnectionResetError):
        while chunk := await process.stdin.read(65536):
            sink.write(chunk)
            await sink.drain()
    with contextlib.suppress(OSError):
        sink.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
