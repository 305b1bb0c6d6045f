"""Bare-metal nodes over SSH (paramiko): run commands, read files, inspect sshd hardening.

The ``nodes`` capability. A check names a node by the ``name`` the target file
gives it; the adapter connects on first use (never in ``__init__``), keeps one
connection per node and closes them in :meth:`SshAdapter.close`. Host keys are
checked against ``known_hosts`` unless the target file turns strict checking off.
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from typing import Any, ClassVar

import paramiko

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import SshConfig, SshNode
from pytest_sca.capabilities import CommandResult, TargetError

#: OpenSSH's compiled-in defaults of the settings the hardening checks read
#: (sshd_config(5), OpenSSH 7–9): a setting the file leaves out has this value.
SSHD_DEFAULTS: dict[str, str] = {
    "permitrootlogin": "prohibit-password",
    "passwordauthentication": "yes",
    "permitemptypasswords": "no",
    "pubkeyauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "x11forwarding": "no",
    "maxauthtries": "6",
    "protocol": "2",
}



def parse_sshd_config(text: str) -> dict[str, str]:
    """Settings of an sshd_config text, keys lower-case, the first value of each key winning.

    That is sshd's own rule. Lines after the first ``Match`` are conditional and
    left out; settings the text leaves out take :data:`SSHD_DEFAULTS`.
    """
    settings: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.replace("=", " ", 1).partition(" ")
        key = key.lower()
        if key == "match":
            break
        settings.setdefault(key, value.strip().strip('"').lower())
    return {**SSHD_DEFAULTS, **settings}


class SshAdapter(Adapter):
    """Connections to the target's nodes over SSH, and commands run through them."""

    transport: ClassVar[str] = "ssh"
    config_model: ClassVar[type[SshConfig]] = SshConfig

    def __init__(self, config: SshConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.config: SshConfig = config
        self._by_name: dict[str, SshNode] = {node.name: node for node in config.nodes}
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._jump: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        context.redact.add([n.password for n in config.nodes if n.password])

    # --- connections -------------------------------------------------------------------------

    def node(self, name: str) -> SshNode:
        """The configuration of node ``name``; KeyError naming the known nodes."""
        try:
            return self._by_name[name]
        except KeyError:
            known = [node.name for node in self.config.nodes]
            raise KeyError(f"unknown node {name!r}: the target lists {known}") from None

    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.config.known_hosts:
            client.load_host_keys(self.config.known_hosts)
        else:
            client.load_system_host_keys()
        if self.config.strict_host_key_checking:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            # The target file chose to trust on first use; nothing is written back.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        return client

    def _connect(self, node: SshNode, sock: Any = None) -> paramiko.SSHClient:
        client = self._new_client()
        try:
            client.connect(
                node.host, port=node.port, username=node.user, key_filename=node.key_file,
                password=node.password, timeout=self.config.timeout,
                banner_timeout=self.config.timeout, auth_timeout=self.config.timeout,
                allow_agent=False, look_for_keys=False, sock=sock,
            )
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            raise TargetError(
                f"ssh node {node.name} ({node.host}:{node.port}): cannot connect as "
                f"{node.user}: {type(exc).__name__}: {exc}") from None
        return client

    def jump_channel(self, node: SshNode) -> Any:
        """A channel to ``node`` through the jump host, or None without one."""
        jump = self.config.jump_host
        if jump is None:
            return None
        if self._jump is None:
            self._jump = self._connect(jump)
        transport = self._jump.get_transport()
        assert transport is not None
        return transport.open_channel("direct-tcpip", (node.host, node.port), ("127.0.0.1", 0),
                                      timeout=self.config.timeout)

    def client(self, name: str) -> paramiko.SSHClient:
        """The connected client of node ``name`` (connects on first use, reconnects if dead)."""
        node = self.node(name)
        with self._lock:
            client = self._clients.get(name)
            transport = client.get_transport() if client else None
            if client is None or transport is None or not transport.is_active():
                client = self._connect(node, self.jump_channel(node))
                self._clients[name] = client
            return client

    # --- commands and files ------------------------------------------------------------------

    def run(self, node: str, command: str, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        """Run ``command`` (a shell command line) on ``node``; bounded by ``timeout`` seconds.

        A command still running at the deadline is abandoned (channel closed) and
        :class:`TargetError` raised.
        """
        limit = self.config.timeout if timeout is None else timeout
        transport = self.client(node).get_transport()
        assert transport is not None
        try:
            channel = transport.open_session(timeout=limit)
            channel.settimeout(limit)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + limit
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif channel.exit_status_ready() and (channel.eof_received or channel.closed):
                    break
                elif time.monotonic() > deadline:
                    channel.close()
                    raise TargetError(f"ssh node {node}: command did not end within {limit} s")
                else:
                    time.sleep(0.005)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            status = channel.recv_exit_status()
            channel.close()
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise TargetError(f"ssh node {node}: command failed: {type(exc).__name__}: {exc}"
                              ) from None
        return CommandResult(status, out.decode(errors="replace"), err.decode(errors="replace"))

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: every node accepts the key (or password), its host key checked as the
        run checks it; through the jump host when there is one."""
        findings: list[Finding] = []
        jump: paramiko.SSHClient | None = None
        how = ("host key checked against "
               + (self.config.known_hosts or "the system's known_hosts")
               if self.config.strict_host_key_checking else "host key NOT checked")
        try:
            if self.config.jump_host is not None:
                jump_node = self.config.jump_host
                jump = self._new_client()
                jump.connect(jump_node.host, port=jump_node.port, username=jump_node.user,
                             key_filename=jump_node.key_file, password=jump_node.password,
                             timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                             allow_agent=False, look_for_keys=False)
            for node in self.config.nodes:
                client = self._new_client()
                try:
                    sock = None
                    if jump is not None:
                        transport = jump.get_transport()
                        assert transport is not None
                        sock = transport.open_channel("direct-tcpip", (node.host, node.port),
                                                      ("127.0.0.1", 0), timeout=timeout)
                    client.connect(node.host, port=node.port, username=node.user,
                                   key_filename=node.key_file, password=node.password,
                                   timeout=timeout, banner_timeout=timeout,
                                   auth_timeout=timeout, allow_agent=False,
                                   look_for_keys=False, sock=sock)
                    findings.append(Finding("credentials", "ok", f"node {node.name}: logged in "
                                            f"as {node.user} ({how})"))
                except (paramiko.SSHException, OSError) as exc:
                    findings.append(Finding("credentials", "fail", f"node {node.name} "
                                            f"({node.host}:{node.port}) as {node.user}: "
                                            f"{type(exc).__name__}: {exc}"))
                finally:
                    client.close()
        except (paramiko.SSHException, OSError) as exc:
            findings.append(Finding("credentials", "fail", f"jump host: {type(exc).__name__}: "
                                    f"{exc}"))
        finally:
            if jump is not None:
                jump.close()
        if not self.config.strict_host_key_checking:
            findings.append(Finding("tls", "warn", "strict_host_key_checking is off: host "
                                    "keys are trusted on first use"))
        return findings

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            if self._jump is not None:
                self._jump.close()
                self._jump = None

class SshNodes(Facade[SshAdapter]):
    """:class:`~pytest_sca.capabilities.Nodes` over SSH."""

    def nodes(self) -> list[str]:
        """Names of the nodes the target file lists, in its order."""
        return [node.name for node in self.subject.config.nodes]

    def run(self, node: str, command: str, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        """Run ``command`` (a shell command line) on ``node``; bounded by ``timeout`` seconds."""
        return self.subject.run(node, command, timeout, stdin)

    def read_file(self, node: str, path: str) -> str:
        """The text of ``path`` on ``node``; FileNotFoundError if it is not there."""
        status, out, err = self.run(node, f"cat -- {shlex.quote(path)}")
        if status != 0:
            if "No such file" in err:
                raise FileNotFoundError(f"{node}:{path}")
            raise TargetError(f"ssh node {node}: cannot read {path}: {err.strip()[:200]}")
        return out

    def sshd_settings(self, node: str) -> dict[str, str]:
        """The node's sshd settings, keys lower-case: ``sshd -T`` if it answers, else the file.

        ``sshd -T`` prints the effective configuration (defaults and Includes
        resolved) but needs the privileges to read the host keys; without them
        the configured file is parsed with :func:`parse_sshd_config`.
        """
        config = self.subject.config
        path = shlex.quote(config.sshd_config)
        status, out, _ = self.run(node, f"{config.sshd_binary} -T -f {path} 2>/dev/null")
        if status == 0 and out.strip():
            effective: dict[str, str] = {}
            for line in out.splitlines():
                key, _, value = line.partition(" ")
                effective.setdefault(key.lower(), value.strip().lower())
            return {**SSHD_DEFAULTS, **effective}
        return parse_sshd_config(self.read_file(node, self.subject.config.sshd_config))

    def auth_methods(self, node: str, user: str = "root") -> list[str]:
        """Authentication methods the node's SSH server offers to ``user`` (e.g. ``password``).

        Asked on a fresh connection with the ``none`` method, so nothing is logged in.
        """
        config = self.subject.node(node)
        try:
            sock = self.subject.jump_channel(config) or socket.create_connection(
                (config.host, config.port), timeout=self.subject.config.timeout)
            transport = paramiko.Transport(sock)
        except OSError as exc:
            raise TargetError(f"ssh node {node}: cannot connect: {exc}") from None
        try:
            transport.banner_timeout = self.subject.config.timeout
            transport.start_client(timeout=self.subject.config.timeout)
            try:
                transport.auth_none(user)
            except paramiko.BadAuthenticationType as offered:
                return sorted(offered.allowed_types)
            return ["none"]
        except paramiko.SSHException as exc:
            raise TargetError(f"ssh node {node}: handshake failed: {exc}") from None
        finally:
            transport.close()

    def world_writable(self, node: str, paths: list[str] | None = None,
                       max_depth: int = 3) -> list[str]:
        """Files and directories under the system ``paths`` that every user may write.

        Sticky directories (``/tmp``-like) are not counted: everyone may create
        there but not replace what others own.
        """
        roots = " ".join(shlex.quote(p) for p in (paths or self.subject.config.system_paths))
        command = (f"find {roots} -xdev -maxdepth {int(max_depth)} -perm -0002 "
                   r"\( -type f -o \( -type d ! -perm -1000 \) \) -print 2>/dev/null; true")
        _, out, _ = self.run(node, command)
        return [line for line in out.splitlines() if line]


#: The SSH adapter's capability (set here: its implementation needs the class).
SshAdapter.implementations = {"nodes": SshNodes}
