"""The sandbox areas behind chapter 6.6–6.10: training jobs, services, reports, NIC bonds.

Behaviour end to end is shown by tests/suites/test_chapter06_workloads.py; these cover the edges:
refusals, what is kept out of answers, and the bookkeeping of each area.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import RunningSandbox

SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}


def _wait(read: Any, done: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.mark.slow
def test_training_job_refuses_a_minimum_above_its_size(sandbox: RunningSandbox) -> None:
    _, member = sandbox.admin.new_tenant("train-bad")
    body = {"name": "t", "image": "pytorch:2.5.1-py3.11", "command": ["python", "-c", "0"],
            "workers": 2, "min_workers": 3, "resources": SMALL}
    answer = member.call("POST", "/training-jobs", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_checkpoint_key_is_a_private_file_never_in_answers(sandbox: RunningSandbox) -> None:
    tenant_id, member = sandbox.admin.new_tenant("train-ckpt")
    body = {"name": "t", "image": "pytorch:2.5.1-py3.11",
            "command": ["python", "-c", "import os; print(os.environ['SCA_CHECKPOINT_URI'])"],
            "checkpoint": True, "resources": SMALL}
    training = member.ok("POST", "/training-jobs", 201, json=body)
    uri = training["checkpoint_uri"]
    assert uri.startswith("s3://") and tenant_id in uri
    done = _wait(lambda: member.ok("GET", f"/training-jobs/{training['id']}"),
                 lambda t: t["status"] != "running")
    assert done["status"] == "succeeded" and done["restarts"] == 0
    job = member.ok("GET", f"/jobs/{done['attempts'][0]['job_id']}")
    secret = sandbox.admin.ok("GET", f"/tenants/{tenant_id}/storage")["secret_key"]
    assert secret not in str(job) and secret not in str(done)
    key_file = Path(job["env"]["SCA_CHECKPOINT_CREDENTIALS"])
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    _, other = sandbox.admin.new_tenant("train-other")
    assert other.call("GET", f"/training-jobs/{training['id']}").status_code == 404
    member.ok("DELETE", f"/training-jobs/{training['id']}", 204)
    assert member.call("GET", f"/jobs/{job['id']}").status_code == 404


def test_service_answers_through_the_gateway_and_stops_with_its_delete(
        sandbox: RunningSandbox) -> None:
    _, member = sandbox.admin.new_tenant("svc")
    service = member.ok("POST", "/services", 201,
                        json={"name": "echo", "image": "pytorch:2.5.1-py3.11", "replicas": 1,
                              "resources": SMALL})
    ready = _wait(lambda: member.ok("GET", f"/services/{service['id']}"),
                  lambda s: s["status"] != "deploying")
    assert ready["status"] == "ready", ready
    answer = member.ok("POST", f"/services/{service['id']}/invoke", json={"q": 1})
    assert answer["replica"] == 0 and answer["echo"] == '{"q": 1}'
    pid = member.ok("GET", f"/jobs/{service['job_id']}")["workers"][0]["pid"]
    assert Path(f"/proc/{pid}").exists()
    member.ok("DELETE", f"/services/{service['id']}", 204)
    assert member.call("POST", f"/services/{service['id']}/invoke", json={}).status_code == 404
    assert not _wait(lambda: Path(f"/proc/{pid}").exists(), lambda alive: not alive, 10)


def test_report_and_network_drills_are_for_platform_admins(sandbox: RunningSandbox) -> None:
    _, member = sandbox.admin.new_tenant("ops")
    assert member.call("GET", "/reports/resources").status_code == 403
    assert member.call("GET", "/nodes/ct-1/network").status_code == 403
    assert sandbox.admin.call("GET", "/reports/resources?period=2026-13").status_code == 422
    report = sandbox.admin.ok("GET", "/reports/resources")
    nodes = sandbox.admin.ok("GET", "/nodes")["items"]
    assert report["accelerators"]["total"] == sum(len(n["accelerators"]) for n in nodes)
    assert report["recommendations"] and report["simulated"] is True


def test_a_bond_fails_over_and_comes_back(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin
    bond = admin.ok("GET", "/nodes/ct-2/network")["bonds"][0]
    assert bond["state"] == "up" and bond["members"] == ["eth0", "eth1"]
    down = admin.ok("POST", "/nodes/ct-2/network/links/eth0/down")
    assert down["bonds"][0] == {**bond, "active_member": "eth1"}
    both = admin.ok("POST", "/nodes/ct-2/network/links/eth1/down")
    assert both["bonds"][0]["state"] == "down"
    admin.ok("POST", "/nodes/ct-2/network/links/eth0/up")
    admin.ok("POST", "/nodes/ct-2/network/links/eth1/up")
    assert admin.ok("GET", "/nodes/ct-2/network")["bonds"][0]["state"] == "up"
    assert admin.call("POST", "/nodes/ct-2/network/links/eth9/down").status_code == 404
    assert admin.call("GET", "/nodes/nope/network").status_code == 404
