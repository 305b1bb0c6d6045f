"""The Slurm adapter against a real cluster (22.05.8 daemons on loopback, no mocks): what
each capability reads and does, refusals, undo and the sweep of a killed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import SlurmConfig
from pytest_sca.adapters.slurm import SlurmAdapter
from pytest_sca.capabilities import (
    RUN_LABEL,
    RefusalReason,
    Refused,
    TargetError,
    Unsupported,
    wait_for,
)

from .cluster import ACCOUNT, PRINCIPAL, SlurmCluster, free_port
from .conftest import needs_slurm

pytestmark = needs_slurm

SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}


def _cap(adapter: SlurmAdapter, name: str) -> Any:
    return adapter.capability(name)


@pytest.mark.slow
def test_inventory_reads_nodes_cards_and_partitions(slurm_adapter: SlurmAdapter,
                                                    slurm_cluster: SlurmCluster) -> None:
    compute = _cap(slurm_adapter, "compute")
    info = compute.platform_info()
    assert info["name"] == "slurm" and info["version"].startswith("22.05")
    assert info["api_version"] == "v0.0.38"
    nodes = {n["id"]: n for n in compute.list_nodes()}
    assert set(nodes) == {"n1", "n2", "n3", "n4"}
    assert nodes["n1"]["cluster_id"] == "gpu" and nodes["n3"]["cluster_id"] == "npu"
    assert nodes["n1"]["cpu"] == 4 and nodes["n1"]["memory_gib"] == 16
    cards = {(n, c["index"]): (c["vendor"], c["model"]) for n, node in nodes.items()
             for c in node["accelerators"]}
    assert cards[("n1", 1)] == ("nvidia", "a100")
    assert cards[("n4", 0)] == ("cambricon", "mlu370") and cards[("n4", 1)] == ("hygon", "k100")
    assert [n["id"] for n in compute.list_nodes(cluster_id="npu")] == ["n3", "n4"]
    with pytest.raises(Refused) as missing:
        compute.get_node("nosuch")
    assert missing.value.reason is RefusalReason.NOT_FOUND
    slurm_cluster.scontrol("update", "nodename=n4", "state=drain", "reason=sca-test")
    try:
        assert compute.get_node("n4")["health"] == "unhealthy"
    finally:
        slurm_cluster.scontrol("update", "nodename=n4", "state=resume")
    wait_for(lambda: compute.get_node("n4"), lambda n: n["health"] == "healthy", 10,
             lambda n: f"n4 still {n['health']} after resume")


def test_a_job_runs_its_command_as_given_on_two_workers(slurm_adapter: SlurmAdapter) -> None:
    jobs, usage = _cap(slurm_adapter, "jobs"), _cap(slurm_adapter, "usage")
    run_id = slurm_adapter.context.run_id
    awkward = ["python", "-c", "import os, sys; print('argv', sys.argv[1:], os.environ['RANK'],"
               " os.environ['WORLD_SIZE'], os.environ['SCA_VISIBLE_ACCELERATORS'])",
               "a b", "it's $HOME `x`", ""]
    job = jobs.submit(f"sca-{run_id}-argv", jobs.probe_image(), awkward,
                      {**SMALL, "accelerators": 1, "accelerator_model": "a100"}, workers=2,
                      labels={RUN_LABEL: run_id, "team": "x"})
    assert job["labels"] == {RUN_LABEL: run_id, "team": "x"} and job["world_size"] == 2
    running = jobs.wait(job["id"], until={"running", "succeeded", "failed"}, timeout=30)
    done = jobs.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded" and done["exit_code"] == 0, done
    placed = sorted(w["node_id"] for w in done["workers"])
    assert placed == ["n1", "n2"], running
    for rank in (0, 1):
        log = jobs.logs(job["id"], worker=rank)
        assert f"argv ['a b', \"it's $HOME `x`\", ''] {rank} 2 " in log, log
    times = [done["created_at"], done["started_at"], done["finished_at"]]
    assert all(times) and times == sorted(times)
    kinds = [e["type"] for e in jobs.events(job["id"])]
    assert kinds[:3] == ["Created", "Scheduled", "Started"] and kinds[-1] == "Completed"
    assert [j["id"] for j in jobs.list_jobs(label=f"{RUN_LABEL}={run_id}")] == [job["id"]]
    assert jobs.list_jobs(label=f"{RUN_LABEL}=another-run") == []
    records = wait_for(lambda: usage.records(job_id=job["id"]), lambda r: len(r) == 3, 10,
                       lambda r: f"usage records {r}")
    seconds = records[0]["run_seconds"]
    assert {r["resource"]: r["quantity"] for r in records} == {
        "cpu": 2 * seconds, "memory": 2 * seconds, "accelerator": 2 * seconds}


def test_a_failing_job_reports_its_exit_code(slurm_adapter: SlurmAdapter) -> None:
    jobs = _cap(slurm_adapter, "jobs")
    job = jobs.submit(f"sca-{slurm_adapter.context.run_id}-exit", jobs.probe_image(),
                      ["python", "-c", "import sys; print('bye'); sys.exit(3)"], SMALL)
    done = jobs.wait(job["id"], timeout=30)
    assert (done["status"], done["exit_code"]) == ("failed", 3)
    assert "bye" in jobs.logs(job["id"])
    assert jobs.events(job["id"])[-1]["type"] == "Failed"


@pytest.mark.slow
def test_stop_holds_restart_releases_delete_cancels(slurm_adapter: SlurmAdapter,
                                                    slurm_cluster: SlurmCluster) -> None:
    jobs = _cap(slurm_adapter, "jobs")
    job = jobs.submit(f"sca-{slurm_adapter.context.run_id}-life", jobs.probe_image(),
                      ["python", "-c", "import time; print('up', flush=True); time.sleep(60)"],
                      SMALL)
    jobs.wait(job["id"], until={"running"}, timeout=30)
    jobs.stop(job["id"])
    assert jobs.wait(job["id"], until={"stopped"}, timeout=15)["status"] == "stopped"
    assert "Stopped" in [e["type"] for e in jobs.events(job["id"])]
    jobs.restart(job["id"])
    again = jobs.wait(job["id"], until={"running"}, timeout=40)
    assert again["attempt"] == 2
    jobs.delete(job["id"])
    gone = jobs.wait(job["id"], until={"stopped"}, timeout=30)
    assert gone["status"] == "stopped"  # Slurm keeps the record of a cancelled job
    folder = slurm_cluster.jobs_dir / f"sca-{slurm_adapter.context.run_id}"
    assert not list(folder.glob(f"{job['id']}.*")), "delete left the job's output files"


@pytest.mark.slow
def test_tenants_users_roles_and_quotas(slurm_adapter: SlurmAdapter) -> None:
    tenancy, jobs = _cap(slurm_adapter, "tenancy"), _cap(slurm_adapter, "jobs")
    run_id = slurm_adapter.context.run_id
    assert tenancy.whoami() == {"user_id": PRINCIPAL, "tenant_id": ACCOUNT,
                                "role": "platform_admin"}
    first = tenancy.create_tenant(f"sca-{run_id}-a", labels={RUN_LABEL: run_id})
    second = tenancy.create_tenant(f"sca-{run_id}-b")
    assert first["labels"][RUN_LABEL] == run_id
    member = tenancy.create_user(first["id"], "m", "member")
    reader = tenancy.create_user(first["id"], "r", "readonly")
    stranger = tenancy.create_user(second["id"], "s", "member")
    assert {u["id"]: u["role"] for u in tenancy.list_users(first["id"])} == {
        member["id"]: "member", reader["id"]: "readonly"}
    own = jobs.acting_as(member["api_key"])
    assert tenancy.acting_as(member["api_key"]).whoami() == {
        "user_id": member["id"], "tenant_id": first["id"], "role": "member"}
    job = own.submit(f"sca-{run_id}-mine", jobs.probe_image(),
                     ["python", "-c", "import time; time.sleep(30)"], SMALL)
    assert job["tenant_id"] == first["id"] and job["owner"] == member["id"]
    other = jobs.acting_as(stranger["api_key"])
    for call in (lambda: other.get(job["id"]), lambda: other.logs(job["id"]),
                 lambda: other.stop(job["id"]),
                 lambda: tenancy.acting_as(stranger["api_key"]).list_users(first["id"])):
        with pytest.raises(Refused) as refused:
            call()
        assert refused.value.reason in (RefusalReason.NOT_FOUND, RefusalReason.FORBIDDEN)
    assert job["id"] not in [j["id"] for j in other.list_jobs()]
    with pytest.raises(Refused) as read_only:
        jobs.acting_as(reader["api_key"]).submit(f"sca-{run_id}-ro", jobs.probe_image(),
                                                 ["true"], SMALL)
    assert read_only.value.status == 403
    tenancy.set_quota(first["id"], accelerators=1)
    assert tenancy.get_quota(first["id"])["accelerators"] == 1
    with pytest.raises(Refused) as over:
        own.submit(f"sca-{run_id}-over", jobs.probe_image(), ["true"],
                   {**SMALL, "accelerators": 2})
    assert over.value.reason is RefusalReason.QUOTA
    for credential in ("", "sk-sca-invalid-credential"):
        with pytest.raises(Refused) as wrong:
            tenancy.acting_as(credential).whoami()
        assert wrong.value.status == 401
    with pytest.raises(Unsupported):
        tenancy.storage_credentials(first["id"])


def test_no_login_node_no_output_dir_is_unsupported(slurm_cluster: SlurmCluster,
                                                    slurm_token: str) -> None:
    settings = {**slurm_cluster.adapter_settings(), "token": slurm_token, "login": None,
                "output_dir": None, "probe_users": []}
    adapter = SlurmAdapter(SlurmConfig.model_validate(settings),
                           AdapterContext("t", None, "bare"))
    try:
        assert _cap(adapter, "compute").list_nodes()  # REST alone serves the inventory
        jobs, tenancy = _cap(adapter, "jobs"), _cap(adapter, "tenancy")
        with pytest.raises(Unsupported, match="output_dir"):
            jobs.submit("sca-bare-x", jobs.probe_image(), ["true"], SMALL)
        with pytest.raises(Unsupported, match="adapters.slurm.login"):
            tenancy.create_tenant("sca-bare-t")
        with pytest.raises(Unsupported, match="image"):
            jobs.submit("sca-bare-x", "pytorch:2.5", ["true"], SMALL)
    finally:
        adapter.close()


def test_an_unreachable_cluster_is_an_error() -> None:
    settings = {"url": f"http://127.0.0.1:{free_port()}", "user": "u", "token": "t" * 20,
                "timeout": 2}
    adapter = SlurmAdapter(SlurmConfig.model_validate(settings), AdapterContext("t", None, "x"))
    with pytest.raises(TargetError, match="cannot reach slurmrestd"):
        _cap(adapter, "compute").list_nodes()
    assert "t" * 20 not in str(adapter.context.redact("t" * 20))


#: A run that creates one of everything through the adapter, then is killed (SIGKILL).
KILLED_RUN = r"""
import json, os, signal, sys
from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import SlurmConfig
from pytest_sca.adapters.slurm import SlurmAdapter
settings, run_id = json.loads(sys.argv[1]), sys.argv[2]
adapter = SlurmAdapter(SlurmConfig.model_validate(settings), AdapterContext("t", None, run_id))
tenancy, jobs = adapter.capability("tenancy"), adapter.capability("jobs")
tenant = tenancy.create_tenant(f"sca-{run_id}-t", labels={"sca-run": run_id})
user = tenancy.create_user(tenant["id"], "u", "member")
mine = jobs.acting_as(user["api_key"])
mine.submit(f"sca-{run_id}-j", jobs.probe_image(), ["sleep", "60"], {"cpu": 1},
            labels={"sca-run": run_id})
jobs.submit(f"sca-{run_id}-k", jobs.probe_image(), ["sleep", "60"], {"cpu": 1},
            labels={"sca-run": run_id})
adapter.capability("devtools").mark_faulty("n4", "killed run")
print(json.dumps(sorted(adapter.context.ledger.kinds)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_sweep_finds_everything_a_killed_run_left(slurm_adapter: SlurmAdapter,
                                                  slurm_cluster: SlurmCluster,
                                                  slurm_token: str) -> None:
    run_id = f"killed{os.getpid()}"
    settings = {**slurm_cluster.adapter_settings(), "token": slurm_token}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, json.dumps(settings), run_id],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    created = set(json.loads(killed.stdout.strip().splitlines()[-1]))
    assert created <= SlurmAdapter.sweeps, created - SlurmAdapter.sweeps
    session = slurm_adapter.session
    assert any(j.name.startswith(f"sca-{run_id}-") for j in session.jobs())
    assert slurm_adapter.sweep(run_id) == []
    left = [j for j in session.jobs() if j.name.startswith(f"sca-{run_id}-")
            and j.state in ("PENDING", "RUNNING")]
    assert not left, left
    accounts = slurm_cluster.sacctmgr("-n", "-P", "list", "account", "format=name")
    assert f"sca-{run_id}-t" not in accounts
    claims = slurm_cluster.jobs_dir / ".sca-claims"
    assert not [c for c in claims.glob("*/run") if c.read_text() == run_id]
    assert not (slurm_cluster.jobs_dir / f"sca-{run_id}").exists()
    assert "drain" not in slurm_cluster.run(["sinfo", "-h", "-n", "n4", "-o", "%t"]).stdout
