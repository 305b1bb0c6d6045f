"""The sandbox as a host: SSH nodes (key login with paramiko, real commands in the node's own
directory, never as root), its private state, and who may read its metrics."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import paramiko
import pytest
import requests

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
            home = Path(stdout.read().decode().strip())
            assert home.parts[-2:] == ("nodes", node["name"])
            assert stderr.read().decode().strip() == "hi"
            assert stdout.channel.recv_exit_status() == 7
        finally:
            client.close()
        assert (home / "made-here").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox switches user only as root")
def test_a_node_is_no_root_shell_on_the_sandbox_host(sandbox: RunningSandbox) -> None:
    node = sandbox.target["adapters"]["ssh"]["nodes"][0]
    client = _client(sandbox, node, paramiko.Ed25519Key.from_private_key_file(node["key_file"]))
    state = sandbox.process.state_dir
    try:
        _, stdout, _ = client.exec_command(
            f"id -u; cat {state / 'sandbox.env'} >/dev/null 2>&1 && echo READ-SECRETS; "
            f"ls {state} >/dev/null 2>&1 && echo LISTED-STATE", timeout=10)
        lines = stdout.read().decode().split()
    finally:
        client.close()
    assert lines[0] != "0", "node commands run as root"
    assert "READ-SECRETS" not in lines and "LISTED-STATE" not in lines
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for private in (state / "sandbox.env", state / "platform.sqlite3", state / "target.yaml"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private


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


def test_metrics_need_a_key_of_the_platform(sandbox: RunningSandbox) -> None:
    """/metrics names tenants and jobs: a caller without a key gets 401, a key reads them."""
    url = sandbox.admin.base.rstrip("/") + "/metrics"
    assert requests.get(url, timeout=10).status_code == 401
    answer = requests.get(url, timeout=10,
                          headers={"Authorization": f"Bearer {sandbox.admin.token}"})
    assert answer.status_code == 200 and "sca_node_cpu_utilization_ratio" in answer.text
