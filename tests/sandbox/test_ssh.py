"""The SSH nodes: key login with paramiko, real commands in the node's own directory."""

from __future__ import annotations

import io
from typing import Any

import paramiko
import pytest

from .helpers import RunningSandbox


def _client(
    sandbox: RunningSandbox, node: dict[str, Any], key: paramiko.PKey
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(sandbox.target["adapters"]["ssh"]["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(node["host"], port=node["port"], username=node["user"], pkey=key,
                   timeout=10, banner_timeout=10, auth_timeout=10,
                   allow_agent=False, look_for_keys=False)
    return client


def test_right_key_runs_commands_in_the_node_dir(sandbox: RunningSandbox) -> None:
    nodes = sandbox.target["adapters"]["ssh"]["nodes"]
    assert [n["name"] for n in nodes] == ["bm-1", "bm-2"]
    for node in nodes:
        key = paramiko.Ed25519Key.from_private_key_file(node["key_file"])
        client = _client(sandbox, node, key)
        try:
            _, stdout, stderr = client.exec_command("pwd; echo hi >&2; touch made-here; exit 7",
                                                    timeout=10)
            assert stdout.read().decode().strip() == str(
                sandbox.process.state_dir / "nodes" / node["name"])
            assert stderr.read().decode().strip() == "hi"
            assert stdout.channel.recv_exit_status() == 7
        finally:
            client.close()
        assert (sandbox.process.state_dir / "nodes" / node["name"] / "made-here").exists()


def test_wrong_key_is_rejected(sandbox: RunningSandbox) -> None:
    node = sandbox.target["adapters"]["ssh"]["nodes"][0]
    stranger = paramiko.Ed25519Key.from_private_key(io.StringIO(_fresh_ed25519_pem()))
    with pytest.raises(paramiko.AuthenticationException):
        _client(sandbox, node, stranger)


def _fresh_ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()


def test_stdin_reaches_the_command(sandbox: RunningSandbox) -> None:
    node = sandbox.target["adapters"]["ssh"]["nodes"][1]
    client = _client(sandbox, node, paramiko.Ed25519Key.from_private_key_file(node["key_file"]))
    try:
        stdin, stdout, _ = client.exec_command("tr a-z A-Z", timeout=10)
        stdin.write("upper me\n")
        stdin.channel.shutdown_write()
        assert stdout.read().decode() == "UPPER ME\n"
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()
