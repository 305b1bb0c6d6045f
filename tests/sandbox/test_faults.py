"""Each named fault makes the sandbox really misbehave (the healthy side is in test_jobs.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_sca.sandbox import Fault, launch

from .helpers import PRINT_AND_EXIT, RunningSandbox

StartFaulty = Callable[[str], RunningSandbox]
H100_NODE = {"cpu": 1, "memory_gib": 1, "accelerators": 8, "accelerator_model": "H100"}


def _job(command: list[str], **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "f", "image": "pytorch", "command": command}
    body.update(extra)
    return body


def test_faults_cli_lists_every_fault() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest_sca.sandbox", "faults"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    listed = dict(line.split("\t") for line in out.splitlines())
    assert listed == {fault.value: fault.description for fault in Fault}


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown sandbox fault 'nope': known faults are .*"
                                         r"quota_not_enforced"):
        launch(faults=["nope"])


@pytest.mark.slow
def test_quota_not_enforced(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("quota_not_enforced")
    _, member = box.admin.new_tenant("q", accelerators=1)
    job = member.ok("POST", "/jobs", 201, json=_job(
        ["true"], resources={"cpu": 1, "memory_gib": 1, "accelerators": 2}))
    assert member.wait_job(job["id"], ("succeeded", "failed"))["status"] == "succeeded"


@pytest.mark.slow
def test_cross_tenant_read(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("cross_tenant_read")
    alice_tenant, alice = box.admin.new_tenant("alice")
    _, bob = box.admin.new_tenant("bob")
    job = alice.ok("POST", "/jobs", 201, json=_job(["echo", "alice-secret"]))
    alice.wait_job(job["id"], ("succeeded",))
    assert "alice-secret" in bob.ok("GET", f"/jobs/{job['id']}/logs")
    assert bob.ok("GET", f"/jobs/{job['id']}")["tenant_id"] == alice_tenant
    assert job["id"] in {j["id"] for j in bob.ok("GET", "/jobs")["items"]}
    assert bob.ok("GET", f"/tenants/{alice_tenant}/users")["items"]


@pytest.mark.slow
def test_logs_dropped(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("logs_dropped")
    command = ["python", "-c", PRINT_AND_EXIT.format(code=0)]
    job = box.admin.ok("POST", "/jobs", 201, json=_job(command))
    assert box.admin.wait_job(job["id"], ("succeeded",))["exit_code"] == 0
    assert box.admin.ok("GET", f"/jobs/{job['id']}/logs") == ""
    # The process really printed: the file is there, only the API drops it.
    log = box.process.state_dir / "jobs" / job["id"] / "worker-0.log"
    assert "hello from 0" in log.read_text()


@pytest.mark.slow
def test_usage_not_metered(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("usage_not_metered")
    job = box.admin.ok("POST", "/jobs", 201, json=_job(["sleep", "0.2"]))
    box.admin.wait_job(job["id"], ("succeeded",))
    assert box.admin.ok("GET", "/usage", params={"job_id": job["id"]})["items"] == []


@pytest.mark.slow
def test_audit_log_off(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("audit_log_off")
    box.admin.new_tenant("quiet")
    box.admin.ok("POST", "/jobs", 201, json=_job(["true"]))
    assert box.admin.ok("GET", "/audit")["items"] == []


@pytest.mark.slow
def test_readonly_role_can_write(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("readonly_role_can_write")
    _, reader = box.admin.new_tenant("reader", role="readonly")
    job = reader.ok("POST", "/jobs", 201, json=_job(["true"]))
    assert reader.wait_job(job["id"], ("succeeded", "failed"))["status"] == "succeeded"


@pytest.mark.slow
def test_capacity_not_checked(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("capacity_not_checked")
    _, member = box.admin.new_tenant("greedy", accelerators=64)
    first = member.ok("POST", "/jobs", 201, json=_job(["sleep", "30"], resources=H100_NODE))
    second = member.ok("POST", "/jobs", 201, json=_job(["sleep", "30"], resources=H100_NODE))
    a = member.wait_job(first["id"], ("running",))
    b = member.wait_job(second["id"], ("running",))
    assert a["workers"][0]["node_id"] == b["workers"][0]["node_id"] == "ct-2"
    assert set(a["workers"][0]["accelerators"]) == set(b["workers"][0]["accelerators"])


@pytest.mark.slow
def test_faulty_platform_admin_sees_its_faults(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("logs_dropped")
    assert box.admin.ok("GET", "/info")["faults"] == ["logs_dropped"]
    assert "faults" not in box.admin.as_key("").ok("GET", "/info")


@pytest.mark.slow
def test_api_key_secret_not_checked(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("api_key_secret_not_checked")
    _, member = box.admin.new_tenant("keyid")
    key = member.token or ""
    wrong = key[:-8] + ("A" if key[-8] != "A" else "B") * 8
    assert box.admin.as_key(wrong).ok("GET", "/whoami")
    assert box.admin.as_key("sk-sca-" + "x" * 32).call("GET", "/whoami").status_code == 401


@pytest.mark.slow
def test_auth_errors_leak_internals(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("auth_errors_leak_internals")
    for key in ("", "sk-sca-not-a-key"):
        answer = box.admin.as_key(key).call("GET", "/whoami")
        assert answer.status_code == 401
        assert "keys.py" in answer.text and "10.0.3.7:5432" in answer.text, answer.text


@pytest.mark.slow
def test_readonly_stop_carried_out(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("readonly_stop_carried_out")
    tenant, admin = box.admin.new_tenant("stopper", role="tenant_admin")
    reader = box.admin.ok("POST", f"/tenants/{tenant}/users", 201,
                          json={"name": "stopper-ro", "role": "readonly"})
    job = admin.ok("POST", "/jobs", 201, json=_job(["sleep", "30"]))
    admin.wait_job(job["id"], ("running",))
    assert box.admin.as_key(reader["api_key"]).call(
        "POST", f"/jobs/{job['id']}/stop").status_code == 403
    assert admin.ok("GET", f"/jobs/{job['id']}")["status"] == "stopped"


#: A worker that prints where it is told it runs (cards, node), then stays up.
PRINT_PLACE = ("import os, time; print(os.environ['SCA_VISIBLE_ACCELERATORS'], "
               "os.environ['SCA_NODE_NAME'], flush=True); time.sleep(30)")


def _told(api: Any, job: dict[str, Any]) -> tuple[list[int], str]:
    """The cards and node a running worker printed."""
    deadline = time.monotonic() + 15
    while not (log := api.ok("GET", f"/jobs/{job['id']}/logs").strip()):
        assert time.monotonic() < deadline, f"job {job['id']} printed nothing"
        time.sleep(0.1)
    cards, node = log.split()
    return [int(c) for c in cards.split(",")], node


@pytest.mark.slow
def test_job_record_cards_misreported(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("job_record_cards_misreported")
    h100 = {"cpu": 1, "memory_gib": 1, "accelerator_model": "H100"}
    one = box.admin.ok("POST", "/jobs", 201, json=_job(["sleep", "30"],
                                                       resources={**h100, "accelerators": 1}))
    box.admin.wait_job(one["id"], ("running",))
    four = box.admin.ok("POST", "/jobs", 201, json=_job(["python", "-c", PRINT_PLACE],
                                                        resources={**h100, "accelerators": 4}))
    record = box.admin.wait_job(four["id"], ("running",))["workers"][0]
    # The scheduler chose one switch group (and the record says so); the worker was handed
    # the lowest free cards, across two.
    assert record["accelerators"] == [4, 5, 6, 7]
    assert _told(box.admin, four) == ([1, 2, 3, 4], record["node_id"])


@pytest.mark.slow
def test_job_record_nodes_misreported(faulty_sandbox: StartFaulty) -> None:
    box = faulty_sandbox("job_record_nodes_misreported")
    job = box.admin.ok("POST", "/jobs", 201, json=_job(
        ["python", "-c", PRINT_PLACE], resources={"cpu": 1, "memory_gib": 1, "accelerators": 2,
                                                  "accelerator_model": "Ascend910B"}))
    record = box.admin.wait_job(job["id"], ("running",))["workers"][0]
    topology = box.admin.ok("GET", f"/jobs/{job['id']}/topology")
    assert record["node_id"] == "bm-1" and [n["id"] for n in topology["nodes"]] == ["bm-1"]
    assert _told(box.admin, job) == (record["accelerators"], "bm-2")
