"""Jobs really run as local processes: logs, status, exit codes, usage, stop, capacity."""

from __future__ import annotations

import time

import pytest

from pytest_sca.sandbox.procs import pid_alive

from .helpers import PRINT_AND_EXIT, RunningSandbox


def _job(command: list[str], **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "t", "image": "pytorch:2.5.1-py3.11", "command": command}
    body.update(extra)
    return body


@pytest.mark.slow
def test_job_runs_prints_and_is_metered(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin
    _, member = admin.new_tenant("runner")
    script = "import time; time.sleep(0.6); " + PRINT_AND_EXIT.format(code=0)
    job = member.ok("POST", "/jobs", 201, json=_job(
        ["python", "-c", script], workers=2,
        resources={"cpu": 2, "memory_gib": 3, "accelerators": 1}, labels={"sca-run": "r1"}))
    assert job["status"] in ("pending", "running")
    done = member.wait_job(job["id"], ("succeeded", "failed"))
    assert done["status"] == "succeeded", done
    assert done["exit_code"] == 0
    assert [w["exit_code"] for w in done["workers"]] == [0, 0]
    assert done["started_at"] and done["finished_at"]
    for rank in (0, 1):
        logs = member.ok("GET", f"/jobs/{job['id']}/logs", params={"worker": rank})
        assert f"hello from {rank}" in logs
    reasons = [e["type"] for e in member.ok("GET", f"/jobs/{job['id']}/events")["items"]]
    assert reasons[:3] == ["Created", "Scheduled", "Started"] and reasons[-1] == "Completed"

    usage = member.ok("GET", "/usage", params={"job_id": job["id"]})["items"]
    by_resource: dict[str, float] = {}
    for record in usage:
        resource = record["resource"]
        by_resource[resource] = by_resource.get(resource, 0) + record["quantity"]
    assert {r["unit"] for r in usage} == {"core_seconds", "gib_seconds", "card_seconds"}
    # Two workers each slept 0.6 s: run time per worker is 0.6 s plus start-up, well under 3 s.
    assert 2 * 0.6 * 2 <= by_resource["cpu"] <= 2 * 3.0 * 2
    assert abs(by_resource["memory"] / 3 - by_resource["cpu"] / 2) < 1e-3
    assert abs(by_resource["accelerator"] - by_resource["cpu"] / 2) < 1e-3

    listed = member.ok("GET", "/jobs", params={"label": "sca-run=r1"})["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    bill = member.ok("GET", "/bills")["items"][0]
    assert bill["total"] > 0 and {line["resource"] for line in bill["lines"]} >= {"accelerator"}


def test_failing_command_fails_with_its_code(sandbox: RunningSandbox) -> None:
    job = sandbox.admin.ok("POST", "/jobs", 201,
                           json=_job(["python", "-c", PRINT_AND_EXIT.format(code=3)]))
    done = sandbox.admin.wait_job(job["id"], ("succeeded", "failed"))
    assert (done["status"], done["exit_code"]) == ("failed", 3)
    missing = sandbox.admin.ok("POST", "/jobs", 201, json=_job(["/no/such/program"]))
    done = sandbox.admin.wait_job(missing["id"], ("succeeded", "failed"))
    assert (done["status"], done["exit_code"]) == ("failed", 127)


def test_job_environment_and_workdir(sandbox: RunningSandbox) -> None:
    script = ("import os; print(os.getcwd()); print(*[os.environ[k] for k in ('SCA_JOB_ID', 'RANK',"
              " 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'SCA_VISIBLE_ACCELERATORS',"
              " 'SCA_NODE_NAME', 'MINE')])")
    job = sandbox.admin.ok("POST", "/jobs", 201, json=_job(
        ["python", "-c", script], env={"MINE": "yes"},
        resources={"cpu": 1, "memory_gib": 1, "accelerators": 2}))
    done = sandbox.admin.wait_job(job["id"], ("succeeded",))
    cwd, values = sandbox.admin.ok("GET", f"/jobs/{job['id']}/logs").splitlines()[:2]
    assert cwd == str(sandbox.process.state_dir / "jobs" / job["id"] / "worker-0")
    job_id, rank, world, addr, port, cards, node, mine = values.split()
    assert (job_id, rank, world, addr, mine) == (job["id"], "0", "1", "127.0.0.1", "yes")
    assert int(port) > 0 and len(cards.split(",")) == 2
    # The worker is told where it runs, as its record says.
    worker = done["workers"][0]
    assert node == worker["node_id"] and cards == ",".join(map(str, worker["accelerators"]))


def test_stop_kills_the_processes_and_restart_runs_again(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin
    job = admin.ok("POST", "/jobs", 201, json=_job(["sleep", "30"]))
    running = admin.wait_job(job["id"], ("running",))
    pid = running["workers"][0]["pid"]
    assert pid_alive(pid)
    stopped = admin.ok("POST", f"/jobs/{job['id']}/stop")
    assert stopped["status"] == "stopped"
    assert not pid_alive(pid)
    assert admin.ok("GET", "/usage", params={"job_id": job["id"]})["items"], "no usage for stop"
    again = admin.ok("POST", f"/jobs/{job['id']}/restart")
    assert again["attempt"] == 2
    rerun = admin.wait_job(job["id"], ("running",))
    assert rerun["workers"][0]["pid"] != pid
    admin.ok("DELETE", f"/jobs/{job['id']}", 204)
    assert not pid_alive(rerun["workers"][0]["pid"])
    admin.ok("GET", f"/jobs/{job['id']}", 404)


def test_job_waits_unschedulable_until_capacity_frees(sandbox: RunningSandbox) -> None:
    admin = sandbox.admin
    _, member = admin.new_tenant("capacity", accelerators=64)
    full = {"cpu": 1, "memory_gib": 1, "accelerators": 8, "accelerator_model": "H100"}
    first = member.ok("POST", "/jobs", 201, json=_job(["sleep", "30"], resources=full))
    member.wait_job(first["id"], ("running",))
    second = member.ok("POST", "/jobs", 201, json=_job(["true"], resources=full))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = member.ok("GET", f"/jobs/{second['id']}/events")["items"]
        if any(e["type"] == "Unschedulable" for e in events):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no Unschedulable event for a job that cannot fit")
    assert member.ok("GET", f"/jobs/{second['id']}")["status"] == "pending"
    node = admin.ok("GET", "/nodes/ct-2")
    assert {a["allocated_to"] for a in node["accelerators"]} == {first["id"]}
    assert all(a["simulated"] for a in node["accelerators"]) and node["simulated"] is True
    member.ok("POST", f"/jobs/{first['id']}/stop")
    done = member.wait_job(second["id"], ("succeeded", "failed"))
    assert done["status"] == "succeeded"


def test_quota_is_enforced(sandbox: RunningSandbox) -> None:
    tenant_id, member = sandbox.admin.new_tenant("quota", accelerators=1)
    answer = member.call("POST", "/jobs", json=_job(
        ["true"], resources={"cpu": 1, "memory_gib": 1, "accelerators": 2}))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "quota_exceeded"
    assert member.ok("GET", "/jobs")["items"] == []
    quota = member.ok("GET", f"/tenants/{tenant_id}/quota")
    assert quota["accelerators"] == 1 and quota["used"]["accelerators"] == 0


def test_tenant_isolation(sandbox: RunningSandbox) -> None:
    _, alice = sandbox.admin.new_tenant("alice")
    bob_tenant, bob = sandbox.admin.new_tenant("bob")
    job = alice.ok("POST", "/jobs", 201, json=_job(["echo", "secret"]))
    alice.wait_job(job["id"], ("succeeded",))
    for path in (f"/jobs/{job['id']}", f"/jobs/{job['id']}/logs", f"/jobs/{job['id']}/events"):
        assert bob.call("GET", path).status_code in (403, 404), path
    assert job["id"] not in {j["id"] for j in bob.ok("GET", "/jobs")["items"]}
    assert bob.call("POST", f"/jobs/{job['id']}/stop").status_code in (403, 404)
    alice_tenant = alice.ok("GET", "/whoami")["tenant_id"]
    assert bob.call("GET", f"/tenants/{alice_tenant}/users").status_code in (403, 404)
    assert len(bob.ok("GET", f"/tenants/{bob_tenant}/users")["items"]) == 1


def test_audit_records_mutations(sandbox: RunningSandbox) -> None:
    tenant_id, boss = sandbox.admin.new_tenant("audited", role="tenant_admin")
    me = boss.ok("GET", "/whoami")["user_id"]
    job = boss.ok("POST", "/jobs", 201, json=_job(["sleep", "30"]))
    boss.ok("POST", f"/jobs/{job['id']}/stop")
    reader = boss.ok("POST", f"/tenants/{tenant_id}/users", 201,
                     json={"name": "reader", "role": "readonly"})
    assert boss.as_key(reader["api_key"]).call("DELETE", f"/jobs/{job['id']}").status_code == 403

    mine = boss.ok("GET", "/audit", params={"actor": me})["items"]
    seen = [(e["action"], e["resource"], e["result"]) for e in mine]
    assert seen == [("job.create", f"jobs/{job['id']}", "success"),
                    ("job.stop", f"jobs/{job['id']}", "success"),
                    ("user.create", f"tenants/{tenant_id}/users/{reader['id']}", "success")]
    denied = boss.ok("GET", "/audit", params={"actor": reader["id"]})["items"]
    assert [(e["action"], e["result"]) for e in denied] == [("job.delete", "denied")]
    assert all(e["tenant_id"] == tenant_id for e in mine + denied)


def test_readonly_role_cannot_write(sandbox: RunningSandbox) -> None:
    _, reader = sandbox.admin.new_tenant("reader", role="readonly")
    answer = reader.call("POST", "/jobs", json=_job(["true"]))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert reader.ok("GET", "/jobs")["items"] == []


def test_inventory_is_simulated_and_varied(sandbox: RunningSandbox) -> None:
    nodes = sandbox.admin.ok("GET", "/nodes")["items"]
    vendors = {a["vendor"] for n in nodes for a in n["accelerators"]}
    assert {"huawei", "cambricon", "hygon", "nvidia"} <= vendors
    assert all(n["simulated"] for n in nodes)
    kinds = {c["kind"] for c in sandbox.admin.ok("GET", "/clusters")["items"]}
    assert kinds == {"baremetal", "container"}
    presets = {i["framework"] for i in sandbox.admin.ok("GET", "/images")["items"] if i["preset"]}
    assert {"pytorch", "tensorflow", "mindspore"} <= presets
    ssh_nodes = [n for n in nodes if n["ssh"]]
    assert len(ssh_nodes) == 2 and all(n["ssh"]["host"] == "127.0.0.1" for n in ssh_nodes)



def test_request_models_name_every_simulated_accelerator() -> None:
    from typing import get_args

    from pytest_sca.sandbox.inventory import ACCELERATOR_MODELS
    from pytest_sca.sandbox.models import AcceleratorModelName

    assert set(get_args(AcceleratorModelName)) == set(ACCELERATOR_MODELS)


@pytest.mark.slow
def test_stop_kills_a_job_that_ignores_sigterm(sandbox: RunningSandbox) -> None:
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
              " print('ignoring', flush=True); time.sleep(60)")
    job = sandbox.admin.ok("POST", "/jobs", 201, json=_job(["python", "-c", script]))
    pid = sandbox.admin.wait_job(job["id"], ("running",))["workers"][0]["pid"]
    deadline = time.monotonic() + 10
    while "ignoring" not in sandbox.admin.ok("GET", f"/jobs/{job['id']}/logs"):
        assert time.monotonic() < deadline, "the job never installed its handler"
        time.sleep(0.05)
    started = time.monotonic()
    stopped = sandbox.admin.ok("POST", f"/jobs/{job['id']}/stop")
    assert time.monotonic() - started < 5
    assert stopped["workers"][0]["exit_code"] == 128 + 9
    assert not pid_alive(pid)


def test_a_finished_worker_leaves_no_background_process(sandbox: RunningSandbox) -> None:
    job = sandbox.admin.ok("POST", "/jobs", 201, json=_job(
        ["sh", "-c", "sleep 60 & echo $!"]))
    sandbox.admin.wait_job(job["id"], ("succeeded",))
    child = int(sandbox.admin.ok("GET", f"/jobs/{job['id']}/logs").strip())
    deadline = time.monotonic() + 5
    while pid_alive(child):
        assert time.monotonic() < deadline, "the worker's background child outlived it"
        time.sleep(0.05)
