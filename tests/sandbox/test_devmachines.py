"""The sandbox's model-development area: dev machines, frameworks, job series, terminals,
pre-flight checks and the console, on a real sandbox over loopback."""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest
import requests
import websocket

from pytest_sca.sandbox.procs import pid_alive

from .helpers import RunningSandbox

SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}


def _machine(sandbox: RunningSandbox, cards: int = 0) -> dict[str, Any]:
    return sandbox.admin.ok("POST", "/devmachines", 201, json={
        "name": "dm", "image": "pytorch:2.5.1-py3.11",
        "resources": {**SMALL, "accelerators": cards}})


@pytest.mark.slow
def test_devmachine_holds_cards_runs_commands_and_frees_everything(
        sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    machine = _machine(sandbox, cards=2)
    assert machine["status"] == "running" and len(machine["accelerators"]) == 2
    node = api.ok("GET", f"/nodes/{machine['node_id']}")
    held = [c["index"] for c in node["accelerators"] if c["allocated_to"] == machine["id"]]
    assert held == machine["accelerators"]
    script = "pwd; echo $JUPYTER_IMAGE $ASCEND_VISIBLE_DEVICES"
    done = api.ok("POST", f"/devmachines/{machine['id']}/exec",
                  json={"command": ["sh", "-c", script]})
    assert done["exit_code"] == 0
    assert machine["id"] in done["output"] and "pytorch:2.5.1-py3.11 0,1" in done["output"]
    slow = api.ok("POST", f"/devmachines/{machine['id']}/exec",
                  json={"command": ["sleep", "5"], "timeout": 0.3})
    assert slow["exit_code"] == 124
    background = api.ok("POST", f"/devmachines/{machine['id']}/exec",
                        json={"command": ["sleep", "60"], "background": True})
    assert pid_alive(background["pid"])
    api.ok("DELETE", f"/devmachines/{machine['id']}", 204)
    deadline = time.monotonic() + 5
    while pid_alive(background["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(background["pid"]), "deleting a dev machine kills its processes"
    node = api.ok("GET", f"/nodes/{machine['node_id']}")
    assert not [c for c in node["accelerators"] if c["allocated_to"] == machine["id"]]


def test_devmachine_quota_is_enforced(sandbox: RunningSandbox) -> None:
    _, member = sandbox.admin.new_tenant("dev-quota", accelerators=1)
    refused = member.call("POST", "/devmachines", json={
        "name": "big", "image": "pytorch", "resources": {**SMALL, "accelerators": 2}})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "quota_exceeded"


def test_port_is_forwarded_through_the_api(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    machine = _machine(sandbox)
    exposed = api.ok("POST", f"/devmachines/{machine['id']}/ports", json={})
    api.ok("POST", f"/devmachines/{machine['id']}/exec", json={"background": True, "command": [
        "sh", "-c", f"echo hi-there > f.txt; exec python3 -m http.server {exposed['port']} "
                    "--bind 127.0.0.1"]})
    headers = {"Authorization": f"Bearer {api.token}"}
    deadline = time.monotonic() + 10
    while True:
        answer = requests.get(exposed["url"] + "f.txt", headers=headers, timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        assert answer.status_code == 502, answer.text
        time.sleep(0.1)
    assert answer.text.strip() == "hi-there"
    assert requests.get(exposed["url"] + "f.txt", timeout=5).status_code == 401
    other = api.call("GET", f"//api/v1/devmachines/{machine['id']}/proxy/1/")
    assert other.status_code == 404, "only exposed ports are forwarded"
    api.ok("DELETE", f"/devmachines/{machine['id']}", 204)


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_docker_cli_builds_an_image(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    machine = _machine(sandbox)
    built = api.ok("POST", f"/devmachines/{machine['id']}/exec", json={"timeout": 120, "command": [
        "sh", "-c", "echo x > t && printf 'FROM scratch\\nCOPY t /t\\n' > Dockerfile && "
                    "docker build -q -t probe:1 . && docker images"]})
    assert built["exit_code"] == 0 and "localhost/probe" in built["output"], built["output"]
    api.ok("DELETE", f"/devmachines/{machine['id']}", 204)


def test_terminal_runs_commands_in_the_worker(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    job = api.ok("POST", "/jobs", 201, json={
        "name": "term", "image": "pytorch", "resources": SMALL,
        "command": ["python", "-c", "import time; time.sleep(30)"]})
    api.wait_job(job["id"], ("running",))
    url = api.base.replace("http", "ws", 1) + f"api/v1/jobs/{job['id']}/workers/0/terminal"
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url, timeout=5)
    ws = websocket.create_connection(url, header=[f"Authorization: Bearer {api.token}"],
                                     timeout=5)
    try:
        ws.send("echo $SCA_JOB_ID-$((6*7))\n")
        assert ws.recv().strip() == f"{job['id']}-42"
    finally:
        ws.close()
    api.ok("POST", f"/jobs/{job['id']}/stop")


def test_job_series_cover_the_run(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    job = api.ok("POST", "/jobs", 201, json={
        "name": "busy", "image": "pytorch", "resources": SMALL, "command": [
            "python", "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"]})
    done = api.wait_job(job["id"], ("succeeded",))
    series = api.ok("GET", f"/jobs/{job['id']}/metrics",
                    params={"since": done["started_at"], "until": done["finished_at"]})
    cpu = next(s for s in series["series"] if s["name"] == "cpu_seconds")
    values = [p["value"] for p in cpu["points"]]
    assert len(values) >= 3 and values == sorted(values) and values[-1] > values[0]


def test_preflight_reports_marked_node_and_scheduler_skips_it(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    report = api.ok("POST", "/preflight", json={})
    assert {"bm-1", "ct-2"} <= {i["node_id"] for i in report["items"]}
    assert all(i["healthy"] for i in report["items"] if i["node_id"] in ("bm-1", "bm-2"))
    api.ok("POST", "/preflight/faulty-nodes", json={"node_id": "bm-1", "reason": "ECC errors"})
    try:
        checked = api.ok("POST", "/preflight", json={"node_ids": ["bm-1"]})
        assert checked["items"][0]["healthy"] is False and checked["eligible"] == []
        job = api.ok("POST", "/jobs", 201, json={
            "name": "avoid", "image": "pytorch", "command": ["python", "-c", "pass"],
            "resources": {**SMALL, "accelerators": 1, "accelerator_model": "Ascend910B"}})
        done = api.wait_job(job["id"], ("succeeded", "failed"))
        assert done["workers"][0]["node_id"] == "bm-2"
    finally:
        api.ok("DELETE", "/preflight/faulty-nodes/bm-1")
    _, member = api.new_tenant("not-operator")
    assert member.call("POST", "/preflight/faulty-nodes",
                       json={"node_id": "bm-2"}).status_code == 403


def test_console_page_and_frameworks(sandbox: RunningSandbox) -> None:
    page = requests.get(sandbox.admin.base, timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    names = {f["name"] for f in sandbox.admin.ok("GET", "/frameworks")["items"]}
    assert {"pytorch", "tensorflow", "mpi", "deepspeed"} <= names


@pytest.mark.slow
def test_faults_break_the_console_and_error_bodies(faulty_sandbox: object) -> None:
    broken = faulty_sandbox("web_console_missing")  # type: ignore[operator]
    assert requests.get(broken.admin.base, timeout=5).status_code == 404
    leaky = faulty_sandbox("errors_leak_stacktrace")  # type: ignore[operator]
    answer = leaky.admin.call("POST", "/jobs", data=b"{bad",
                              headers={"Content-Type": "application/json"})
    assert answer.status_code == 500 and "Traceback" in answer.text
