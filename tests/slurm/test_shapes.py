"""The Slurm adapter's reading of slurmrestd's answers, across plugin versions (no cluster).

The v0.0.38 answers are the 22.05.8 daemons' (the cluster tests exercise them live); the
v0.0.41 ones follow the OpenAPI document slurmrestd 24.05.4 generates (``GET /openapi/v3``),
field for field: structured numbers ``{"set", "infinite", "number"}``, state lists,
structured exit codes, ``job_resources.nodes.allocation``.
"""

from __future__ import annotations

import base64
import json

import pytest

from pytest_sca.adapters.slurm.accounting import usage_records
from pytest_sca.adapters.slurm.client import Api, legacy, token_user, version_key
from pytest_sca.adapters.slurm.devtools import FATAL_22_05
from pytest_sca.adapters.slurm.errors import REFUSALS, number_in
from pytest_sca.adapters.slurm.scheduling import qos_for
from pytest_sca.adapters.slurm.script import TASK_PRELUDE, batch_script
from pytest_sca.adapters.slurm.shapes import (
    decode_labels,
    encode_labels,
    exit_status,
    expand_hostlist,
    job_info,
    max_submit,
    node_info,
    parse_gres,
    partition_info,
    submit_body,
    tres_counts,
    tres_list,
    vendor_of,
)
from pytest_sca.adapters.slurm.topology import leaf_switches
from pytest_sca.capabilities import RefusalReason


def no_val(number: int) -> dict[str, object]:
    return {"set": True, "infinite": False, "number": number}


#: A running 2-node job as slurmrestd 24.05 (v0.0.41) answers it.
V41_JOB = {
    "job_id": 42, "name": "sca-run-x", "user_name": "scaprobe1", "account": "sca-t",
    "partition": "gpu", "qos": "normal", "job_state": ["RUNNING"], "state_reason": "None",
    "comment": "labels: sca-run=r1", "priority": no_val(7), "submit_time": no_val(100),
    "start_time": no_val(101), "end_time": no_val(701),
    "exit_code": {"status": ["SUCCESS"], "return_code": no_val(0)}, "restart_cnt": 1,
    "nodes": "n[1-2]", "gres_detail": ["gpu:a100:1(IDX:1)", "gpu:a100:1(IDX:0)"],
    "tres_per_node": "gres/gpu:a100:1", "tres_req_str": "cpu=2,mem=2G,node=2,gres/gpu=2",
    "tres_alloc_str": "cpu=2,mem=2G,node=2,gres/gpu=2", "cpus_per_task": no_val(1),
    "memory_per_node": no_val(1024), "node_count": no_val(2), "tasks": no_val(2),
    "standard_output": "/shared/sca-r1/%j.batch.log",
    "current_working_directory": "/shared/sca-r1",
    "job_resources": {"nodes": {"count": 2, "list": "n[1-2]", "allocation": [
        {"index": 0, "name": "n1"}, {"index": 1, "name": "n2"}]}, "cpus": 2},
}


def test_numbers_states_and_exit_codes_of_both_families() -> None:
    info = job_info(V41_JOB)
    assert (info.state, info.priority, info.start_time, info.restarts) == ("RUNNING", 7, 101, 1)
    assert info.nodes == ["n1", "n2"] and info.tasks == 2 and info.memory_per_node == 1024
    assert info.tres_alloc == {"cpu": 2.0, "mem": 2048.0, "node": 2.0, "gres/gpu": 2.0}
    assert exit_status({"status": ["SIGNALED"], "return_code": {"set": False},
                        "signal": {"id": no_val(9), "name": "KILL"}}) == 137
    # v0.0.38 answers the raw wait status: exit 3, and SIGKILL.
    assert (exit_status(768), exit_status(9), exit_status(0)) == (3, 137, 0)
    classic = job_info({"job_id": 7, "job_state": "PENDING", "state_reason": "Priority",
                        "submit_time": 5, "start_time": 0, "exit_code": 0,
                        "job_resources": {"allocated_nodes": [{"nodename": "n3"}]}})
    assert (classic.state, classic.reason, classic.nodes) == ("PENDING", "Priority", ["n3"])


def test_nodes_and_partitions_of_both_families() -> None:
    old = node_info({"name": "n4", "hostname": "h4", "cpus": 4, "real_memory": 16384,
                     "gres": "gpu:mlu370:1,gpu:k100:1(S:0)", "gres_used":
                     "gpu:mlu370:0(IDX:N/A),gpu:k100:1(IDX:1)", "state": "mixed",
                     "state_flags": ["DRAIN"], "partitions": ["npu", "all"]})
    assert old.states == ["MIXED", "DRAIN"] and old.partitions == ["npu", "all"]
    assert [(g.type, g.count, g.sockets) for g in old.gres] == [("mlu370", 1, None),
                                                                ("k100", 1, "0")]
    assert [g.indices for g in old.gres_used] == [(), (1,)]
    new = node_info({"name": "n1", "cpus": 8, "real_memory": 1000, "gres": "gpu:h100:8",
                     "state": ["IDLE", "CLOUD"], "partitions": ["gpu"],
                     "features": ["ib", "nvlink"]})
    assert new.states == ["IDLE", "CLOUD"] and new.features == ["ib", "nvlink"]
    classic = partition_info({"name": "gpu", "nodes": "n[1-2]", "priority_tier": 10,
                              "flags": ["default"], "preemption_mode": ["requeue"],
                              "state": "UP"})
    assert (classic.nodes, classic.priority_tier, classic.default, classic.preempt_mode) == (
        ["n1", "n2"], 10, True, ["REQUEUE"])
    generated = partition_info({"name": "npu", "nodes": {"configured": "n[3-4]"},
                                "priority": {"tier": 1, "job_factor": 1},
                                "partition": {"state": ["DOWN"]}})
    assert (generated.nodes, generated.priority_tier, generated.state) == (
        ["n3", "n4"], 1, "DOWN")


def test_hostlists_gres_and_tres() -> None:
    assert expand_hostlist("n[1-3,7],gpu[08-10],login") == [
        "n1", "n2", "n3", "n7", "gpu08", "gpu09", "gpu10", "login"]
    assert [(g.name, g.type, g.count, g.indices) for g in parse_gres(
        "gpu:a100:2(IDX:0-1),shard:2(IDX:0)")] == [("gpu", "a100", 2, (0, 1)),
                                                     ("shard", None, 2, (0,))]
    assert [(g.name, g.count) for g in parse_gres("gres/gpu:4,gres:npu:2")] == [
        ("gpu", 4), ("npu", 2)]
    assert tres_counts("cpu=2,mem=3G,billing=2,gres/gpu=2") == {
        "cpu": 2, "mem": 3072, "billing": 2, "gres/gpu": 2}
    assert tres_list([{"type": "cpu", "count": 2}, {"type": "gres", "name": "gpu",
                                                     "count": 1}]) == {"cpu": 2, "gres/gpu": 1}
    assert max_submit({"max": {"jobs": {"total": 0}}}) == 0  # v0.0.38
    assert max_submit({"max": {"jobs": {"per": {"submitted": no_val(0)}}}}) == 0  # v0.0.41


@pytest.mark.parametrize(("gres", "model", "vendor"), [
    ("gpu", "a100", "nvidia"), ("gpu", "ascend910b", "huawei"), ("npu", None, "huawei"),
    ("gpu", "mlu370", "cambricon"), ("gpu", "k100", "hygon"), ("gpu", "mystery", None),
])
def test_vendors_of_gres(gres: str, model: str | None, vendor: str | None) -> None:
    assert vendor_of(gres, model, {}) == vendor
    assert vendor_of("gpu", "mystery9", {"mystery*": "acme"}) == "acme"


def test_labels_round_trip_and_refuse_what_slurm_cannot_keep() -> None:
    text = encode_labels({"sca-run": "20260101-ab12cd", "team": "x"})
    assert text == "labels: sca-run=20260101-ab12cd,team=x"
    assert decode_labels(text) == {"sca-run": "20260101-ab12cd", "team": "x"}
    assert decode_labels("a free comment") == {}
    with pytest.raises(ValueError, match="cannot keep"):
        encode_labels({"k": "a,b"})


def test_submit_bodies_of_both_families() -> None:
    job = {"name": "j", "comment": "labels: sca-run=r", "partition": "gpu,npu", "qos": None,
           "min_nodes": 2, "max_nodes": 2, "tasks": 2, "tasks_per_node": 1,
           "cpus_per_task": 1, "memory_per_node": 1024, "gres_per_node": "gpu:a100:1",
           "time_limit": 30, "cwd": "/s", "stdout": "/s/%j.batch.log",
           "environment": {"PATH": "/bin"}}
    old = submit_body("v0.0.38", "#!/bin/bash", job)["job"]
    assert old["environment"] == {"PATH": "/bin"} and old["nodes"] == [2, 2]
    assert old["gres"] == "gpu:a100:1" and old["memory_per_node"] == 1024
    assert "qos" not in old
    new = submit_body("v0.0.41", "#!/bin/bash", job)["job"]
    assert new["environment"] == ["PATH=/bin"]
    assert (new["minimum_nodes"], new["maximum_nodes"]) == (2, 2)
    assert new["tres_per_node"] == "gres/gpu:a100:1"
    assert new["memory_per_node"] == no_val(1024) and new["time_limit"] == no_val(30)


def test_batch_script_quotes_the_command() -> None:
    script = batch_script(["python3", "-c", "print('a b'); $HOME `x`", "it's"], "/s/r",
                          cpus_per_task=2, run_id="r1", name="n")
    assert "python3 -c 'print('\"'\"'a b'\"'\"'); $HOME `x`' 'it'\"'\"'s'" in script
    assert "--cpus-per-task=2" in script and "--output=/s/r/%j.%t.log" in script
    assert 'RANK="$SLURM_PROCID"' in TASK_PRELUDE


def test_api_versions_and_paths() -> None:
    assert legacy("v0.0.38") and not legacy("v0.0.39")
    assert version_key("v0.0.41") > version_key("v0.0.38")
    old = Api("v0.0.38", frozenset({"/slurm/v0.0.38/jobs", "/slurm/v0.0.38/job/{job_id}"}))
    assert old.path("slurm", "jobs") == "/slurm/v0.0.38/jobs"
    new = Api("v0.0.41", frozenset({"/slurm/v0.0.41/jobs/", "/slurmdb/v0.0.41/jobs/",
                                    "/slurm/v0.0.41/job/{job_id}"}))
    assert new.path("slurm", "jobs") == "/slurm/v0.0.41/jobs/"
    assert new.path("slurm", "job/42") == "/slurm/v0.0.41/job/42"
    assert new.serves("slurmdb", "jobs") and not old.serves("slurmdb", "jobs")


def test_token_user_reads_the_sun_claim() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"sun": "alice", "exp": 1}).encode())
    assert token_user(f"e30.{payload.decode().rstrip('=')}.sig") == "alice"
    assert token_user("sk-not-a-jwt") is None


def test_error_numbers_classify() -> None:
    assert REFUSALS[2002][1] is RefusalReason.FORBIDDEN
    assert REFUSALS[2017] == (404, RefusalReason.NOT_FOUND)
    assert REFUSALS[1007][1] is RefusalReason.UNAUTHENTICATED
    assert REFUSALS[2050][1] is RefusalReason.QUOTA
    assert number_in("sacctmgr: error: Access/permission denied") == 2002
    assert number_in("all went well") is None


def test_qos_for_priorities() -> None:
    qos = [("normal", 0), ("high", 100), ("low", -5)]
    assert (qos_for(qos, 0), qos_for(qos, 1), qos_for(qos, 100), qos_for(qos, 500)) == (
        "normal", "normal", "high", "high")
    assert qos_for(qos, -10) == "low" and qos_for([], 3) is None


def test_usage_records_of_a_v41_accounting_record() -> None:
    run = {"job_id": 42, "account": "sca-t", "time": {"elapsed": 3, "start": 100, "end": 103,
                                                       "submission": 99},
           "tres": {"allocated": [{"type": "cpu", "count": 2}, {"type": "mem", "count": 3072},
                                  {"type": "gres", "name": "gpu", "count": 2}]},
           "state": {"current": ["COMPLETED"]}}
    records = {r["resource"]: r for r in usage_records(run, 0, ["gres/gpu"])}
    assert {k: r["quantity"] for k, r in records.items()} == {
        "cpu": 6.0, "memory": 9.0, "accelerator": 6.0}
    assert records["cpu"]["run_seconds"] == 3.0 and records["cpu"]["tenant_id"] == "sca-t"


def test_requests_that_kill_slurmrestd_22_05_are_known() -> None:
    assert FATAL_22_05.match("/slurmdb/v0.0.38/job/sca-no-such-id")
    assert not FATAL_22_05.match("/slurmdb/v0.0.38/job/42")
    assert not FATAL_22_05.match("/slurmdb/v0.0.41/job/sca-no-such-id")


def test_leaf_switches_of_scontrol_show_topology() -> None:
    shown = ("SwitchName=leaf-gpu Level=0 LinkSpeed=1 Nodes=n[1-2]\n"
             "SwitchName=spine Level=1 LinkSpeed=1 Nodes=n[1-4] Switches=leaf-gpu,leaf-npu\n")
    assert leaf_switches(shown) == {"leaf-gpu": ["n1", "n2"]}
