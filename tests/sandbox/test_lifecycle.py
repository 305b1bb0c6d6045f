"""Start-up, shutdown (nothing left running), restart with the same state, start errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_sca.sandbox import SandboxStartError, launch
from pytest_sca.sandbox.procs import pid_alive, processes_in_session

from .helpers import start_sandbox


@pytest.mark.slow
def test_stop_leaves_nothing_running() -> None:
    # Start-up time is measured in benchmarks/bench_sandbox.py, not asserted here.
    box = start_sandbox()
    state_dir = box.process.state_dir
    job = box.admin.ok("POST", "/jobs", 201, json={
        "name": "long", "image": "pytorch", "command": ["sh", "-c", "sleep 60 & sleep 60"]})
    worker_pid = box.admin.wait_job(job["id"], ("running",))["workers"][0]["pid"]
    session = processes_in_session(box.process.pid)
    assert {box.process.pid, worker_pid} <= {p.pid for p in session}
    assert len(session) >= 4, "serve, sh and two sleeps expected in the session"

    box.process.stop()
    box.process.stop()  # idempotent

    assert not pid_alive(box.process.pid)
    assert box.process.returncode == 0, "SIGTERM is a clean shutdown"
    assert not pid_alive(worker_pid)
    assert processes_in_session(box.process.pid) == []
    assert not state_dir.exists(), "a temporary state dir is removed at stop"


@pytest.mark.slow
def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start_sandbox(state_dir=state)
    try:
        tenant_id, member = first.admin.new_tenant("durable")
        job = member.ok("POST", "/jobs", 201, json={
            "name": "kept", "image": "pytorch", "command": ["echo", "persisted"]})
        member.wait_job(job["id"], ("succeeded",))
        usage_before = member.ok("GET", "/usage", params={"job_id": job["id"]})["items"]
        running = first.admin.ok("POST", "/jobs", 201, json={
            "name": "cut", "image": "pytorch", "command": ["sleep", "60"]})
        first.admin.wait_job(running["id"], ("running",))
        token = first.process.env["SCA_SANDBOX_TOKEN"]
    finally:
        first.process.stop()
    second = start_sandbox(state_dir=state)
    try:
        assert second.process.env["SCA_SANDBOX_TOKEN"] == token
        assert second.admin.ok("GET", f"/tenants/{tenant_id}")["name"] == "durable"
        kept = member.as_key(member.token or "")
        kept.base = second.admin.base
        assert kept.ok("GET", f"/jobs/{job['id']}")["status"] == "succeeded"
        assert "persisted" in kept.ok("GET", f"/jobs/{job['id']}/logs")
        assert kept.ok("GET", "/usage", params={"job_id": job["id"]})["items"] == usage_before
        cut = second.admin.ok("GET", f"/jobs/{running['id']}")
        assert cut["status"] == "stopped", "a job running at shutdown is recorded as stopped"
        actions = {e["action"] for e in second.admin.ok("GET", "/audit")["items"]}
        assert {"tenant.create", "user.create", "job.create"} <= actions
    finally:
        second.process.stop()


def test_start_error_names_the_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """...and leaves nothing behind: the simulated hosts' directory, made outside the state
    (in the temporary directory) before the state's database is opened, goes too."""
    (tmp_path / "platform.sqlite3").write_bytes(b"this is not a database" * 100)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    with pytest.raises(SandboxStartError, match=r"sandbox exited with status 1: .*not a database"):
        launch(state_dir=tmp_path, timeout=20)
    assert not (tmp_path / "ready").exists()
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_cli_serve_prints_target_and_env_and_exits_0_on_ctrl_c(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    out = tmp_path / "stdout"
    with out.open("wb") as stdout:
        serve = subprocess.Popen(
            [sys.executable, "-m", "pytest_sca.sandbox", "serve", "--ready-file", str(ready)],
            stdout=stdout, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert serve.poll() is None and time.monotonic() < deadline, "serve never got ready"
            time.sleep(0.02)
        target = Path(ready.read_text().strip())
        lines = out.read_text().splitlines()
        assert lines[0] == f"sandbox ready: target file {target}"
        assert lines[1] == f"credentials: source {target.parent / 'sandbox.env'}"
        assert "sk-sca-" not in out.read_text(), "serve must not print the credentials"
        env = (target.parent / "sandbox.env").read_text()
        assert env.startswith("export SCA_SANDBOX_TOKEN=sk-sca-")
        assert (target.parent / "sandbox.env").stat().st_mode & 0o777 == 0o600
        os.kill(serve.pid, signal.SIGINT)
        assert serve.wait(timeout=15) == 0
        assert not target.parent.exists(), "the temporary state dir is removed at exit"
        assert processes_in_session(serve.pid) == []
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=5)


@pytest.mark.slow
def test_a_state_dir_serves_one_sandbox_at_a_time(tmp_path: Path) -> None:
    first = start_sandbox(state_dir=tmp_path)
    try:
        with pytest.raises(SandboxStartError, match="is in use by another sandbox"):
            launch(state_dir=tmp_path, timeout=20)
        assert first.admin.ok("GET", "/whoami")["role"] == "platform_admin"
    finally:
        first.process.stop()


#: A process that starts a sandbox, says its pid and state, and waits to be killed.
LAUNCHING_RUN = """
import sys, time
from pytest_sca.sandbox import launch
started = launch()
print(started.pid, started.state_dir, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_run_killed_outright_leaves_no_sandbox_running(tmp_path: Path) -> None:
    """The run that started the sandbox is SIGKILLed (no teardown, no ``stop()``): the
    sandbox sees its parent gone and stops, with everything it started (it runs in a session
    of its own, which the run's process group kill does not reach), and removes the run's
    temporary state directory, credentials and all."""
    run = subprocess.Popen([sys.executable, "-c", LAUNCHING_RUN], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    sandbox_pid, state = 0, ""
    try:
        assert run.stdout is not None
        pid, state = run.stdout.readline().split()
        sandbox_pid = int(pid)
        assert processes_in_session(sandbox_pid), "the sandbox runs in a session of its own"
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 20
        while pid_alive(sandbox_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(sandbox_pid), "the sandbox outlived the run that started it"
        assert processes_in_session(sandbox_pid) == []
        assert not Path(state).exists(), "the run's temporary state (credentials) stayed"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        if sandbox_pid and pid_alive(sandbox_pid):
            os.killpg(sandbox_pid, signal.SIGKILL)
        if state:  # the launcher's temporary state: its stop() was never called
            shutil.rmtree(state, ignore_errors=True)
