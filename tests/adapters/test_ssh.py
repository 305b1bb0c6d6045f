"""The SSH adapter against real OpenSSH sshd (a hardened and a weak configuration) on loopback,
and against the sandbox's asyncssh nodes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import SshConfig
from pytest_sca.adapters.ssh import SshAdapter, SshNodes, parse_sshd_config
from pytest_sca.capabilities import TargetError

SSHD = "/usr/sbin/sshd"
needs_sshd = pytest.mark.skipif(
    not (os.path.exists(SSHD) and os.geteuid() == 0),
    reason="needs OpenSSH sshd (apt openssh-server) and root to log in as root")

HARDENED = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
"""
WEAK = """\
PermitRootLogin yes
PasswordAuthentication yes
PermitEmptyPasswords yes
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd ended: {process.stderr.read() if process.stderr else ''!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"sshd did not listen on {port} within {timeout} s")


@pytest.fixture
def real_sshd(tmp_path: Path) -> Iterator[Callable[[str], SshNodes]]:
    """Start OpenSSH sshd with a given policy text; returns its nodes capability (as root)."""
    started: list[tuple[subprocess.Popen[bytes], SshAdapter]] = []
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def start(policy: str) -> SshNodes:
        folder = tmp_path / f"sshd{len(started)}"
        folder.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(folder / "host_key")], check=True, timeout=30)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(folder / "client_key")], check=True, timeout=30)
        shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nUsePAM no\nStrictModes no\n"
            f"PidFile none\nSubsystem sftp internal-sftp\n{policy}")
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        public = (folder / "host_key.pub").read_text().split()[:2]
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(public)}\n")
        adapter = SshAdapter(SshConfig.model_validate({
            "nodes": [{"name": "n1", "host": "127.0.0.1", "port": port, "user": "root",
                       "key_file": str(folder / "client_key")}],
            "known_hosts": str(folder / "known_hosts"), "timeout": 10,
            "sshd_config": str(config), "system_paths": [str(folder / "sys")],
        }), AdapterContext("t", None, "run"))
        started.append((process, adapter))
        _wait_listening(port, process)
        return SshNodes(adapter)

    try:
        yield start
    finally:
        for process, adapter in started:
            adapter.close()
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if process.stderr:
                process.stderr.close()


def test_sshd_config_parsing_follows_first_value_and_defaults() -> None:
    settings = parse_sshd_config(
        "# c\nPermitRootLogin no\npermitrootlogin yes\nPasswordAuthentication=no\n"
        "Match User x\nPermitEmptyPasswords yes\n")
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["permitemptypasswords"] == "no"
    assert settings["pubkeyauthentication"] == "yes"


@needs_sshd
def test_run_and_read_file_on_real_sshd(real_sshd: Callable[[str], SshNodes],
                                        tmp_path: Path) -> None:
    adapter = real_sshd(HARDENED)
    assert adapter.nodes() == ["n1"]
    status, out, err = adapter.run("n1", "echo out; echo err >&2; exit 3")
    assert (status, out, err) == (3, "out\n", "err\n")
    (tmp_path / "f.txt").write_text("hello\n")
    assert adapter.read_file("n1", str(tmp_path / "f.txt")) == "hello\n"
    with pytest.raises(FileNotFoundError):
        adapter.read_file("n1", str(tmp_path / "missing"))
    with pytest.raises(TargetError, match="did not end"):
        adapter.run("n1", "sleep 5", timeout=0.5)
    with pytest.raises(KeyError, match="unknown node"):
        adapter.run("nope", "true")


@needs_sshd
def test_hardened_and_weak_sshd_are_told_apart(real_sshd: Callable[[str], SshNodes],
                                               tmp_path: Path) -> None:
    hardened, weak = real_sshd(HARDENED), real_sshd(WEAK)
    good = hardened.sshd_settings("n1")
    assert good["permitrootlogin"] in ("prohibit-password", "without-password")
    assert good["passwordauthentication"] == "no"
    assert "password" not in hardened.auth_methods("n1", "root")
    bad = weak.sshd_settings("n1")
    assert (bad["permitrootlogin"], bad["passwordauthentication"],
            bad["permitemptypasswords"]) == ("yes", "yes", "yes")
    assert "password" in weak.auth_methods("n1", "root")


@needs_sshd
def test_world_writable_paths_are_found(real_sshd: Callable[[str], SshNodes],
                                        tmp_path: Path) -> None:
    adapter = real_sshd(HARDENED)
    system = tmp_path / "sshd0" / "sys"
    (system / "bin").mkdir(parents=True)
    (system / "bin" / "tool").write_text("x")
    (system / "tmp").mkdir()
    os.chmod(system / "tmp", 0o1777)  # sticky: not counted
    assert adapter.world_writable("n1") == []
    os.chmod(system / "bin" / "tool", 0o666)
    assert adapter.world_writable("n1") == [str(system / "bin" / "tool")]


@needs_sshd
def test_unknown_host_key_is_refused(real_sshd: Callable[[str], SshNodes]) -> None:
    adapter = real_sshd(HARDENED)
    known_hosts = adapter.subject.config.known_hosts
    assert known_hosts is not None
    Path(known_hosts).write_text("")
    with pytest.raises(TargetError, match="cannot connect"):
        adapter.run("n1", "true")


@pytest.mark.slow
def test_sandbox_nodes_run_commands_and_show_their_hardening() -> None:
    from tests.sandbox.helpers import start_sandbox

    running = start_sandbox()
    connection = SshAdapter(SshConfig.model_validate(running.target["adapters"]["ssh"]),
                            AdapterContext("sandbox", None, "run"))
    adapter = SshNodes(connection)
    try:
        assert adapter.nodes() == ["bm-1", "bm-2"]
        status, out, _ = adapter.run("bm-2", "pwd")
        assert status == 0 and out.strip().endswith("nodes/bm-2")
        assert "password" not in adapter.auth_methods("bm-1", "root")
        assert adapter.sshd_settings("bm-1")["passwordauthentication"] == "no"
        assert adapter.world_writable("bm-1") == []
    finally:
        connection.close()
        running.process.stop()
