"""6.6 分布式训练 Distributed training."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.capabilities import Refused, WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ._jobs_support import (
    ALLREDUCE_PROBE,
    CHECKPOINT_PROBE,
    ELASTIC_PROBE,
    STEADY_PROBE,
    cards_held_by,
    fields,
    lines,
    poll,
    python,
)

ONE_CARD = {"cpu": 1, "memory_gib": 1, "accelerators": 1}


@pytest.mark.clause("6.6.a")
@pytest.mark.mutating
def test_multi_worker_job_completes_an_all_reduce(sca: CheckContext, probe_tenant: Any,
                                                  probe_image: str, cleanup: Cleanup) -> None:
    """A 2-worker job, one card each, runs a TCP all-reduce at MASTER_ADDR:MASTER_PORT;
    both ranks must finish with the right sum."""
    user = probe_tenant("ddp")
    # Workers may start far apart on a real cluster (image pulls): the target may say how long.
    patience = sca.settings.training.rendezvous_timeout_s
    job = user.jobs.submit(sca.name("allreduce"), probe_image, python(ALLREDUCE_PROBE),
                           ONE_CARD, workers=2, env={"SCA_PROBE_TIMEOUT": str(patience)},
                           labels=sca.labels)
    done = user.jobs.wait(job["id"], timeout=float(patience) + 60)
    results = {rank: lines(user.jobs.logs(job["id"], worker=rank), "sca-allreduce")
               for rank in range(2)}
    sca.evidence("2-worker job", {"job": done, "all-reduce lines": results})
    finished = [rank for rank, found in results.items()
                if found and fields(found[-1]).get("sum") == "3"]
    assert done["status"] == "succeeded" and finished == [0, 1], (
        f"[6.6.a] 2-worker all-reduce did not complete on both ranks: job {done['status']}, "
        f"ranks with the right sum {finished}")


@pytest.mark.clause("6.6.b")
@pytest.mark.mutating
def test_gang_scheduling_all_or_nothing(sca: CheckContext, tenancy: Any, compute: Any,
                                        probe_tenant: Any, probe_image: str,
                                        cleanup: Cleanup) -> None:
    """A job needing one more whole node of cards than are free stays fully pending:
    no worker starts and no card is held for it."""
    user = probe_tenant("gang")
    try:
        nodes = compute.acting_as(user.user["api_key"]).list_nodes()
    except Refused:  # a tenant may not list nodes (Kubernetes RBAC): the operator's view
        nodes = compute.list_nodes()
    free: dict[str, list[int]] = {}
    for node in nodes:
        idle = [c for c in node.get("accelerators", []) if c.get("allocated_to") is None]
        if idle:
            free.setdefault(idle[0]["model"], []).append(len(idle))
    if not free:
        sca.not_assessed("no free accelerators to build a gang that cannot fit")
    model = min(free, key=lambda name: sum(free[name]))
    per_node = free[model]
    cards = max(per_node)
    workers = sum(1 for n in per_node if n >= cards) + 1
    tenancy.set_quota(user.tenant_id, accelerators=workers * cards,
                      cpu=max(64, workers * 2), memory_gib=max(512, workers * 2))
    job = user.jobs.submit(sca.name("gang"), probe_image, python("print('gang')"),
                           {"cpu": 1, "memory_gib": 1, "accelerators": cards,
                            "accelerator_model": model},
                           workers=workers, labels=sca.labels)
    try:
        seen = user.jobs.wait(job["id"], until={"running", "succeeded", "failed"}, timeout=3)
    except WaitTimeout as waited:
        seen = waited.last or job
    held = cards_held_by(compute.list_nodes(), job["id"])
    started = [w["rank"] for w in seen.get("workers", []) if w.get("status") != "pending"
               or w.get("accelerators")]
    sca.evidence("gang that cannot fit", {"model": model, "workers": workers,
                                          "cards per worker": cards, "job": seen,
                                          "cards held": held})
    assert seen["status"] == "pending" and not held and not started, (
        f"[6.6.b] a {workers}-worker job of {cards} {model} cards each, that cannot fit whole, "
        f"partly started: status {seen['status']}, workers placed {started}, "
        f"{len(held)} cards held")


@pytest.mark.clause("6.6.c")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_training_survives_one_nic_port_down(sca: CheckContext, operations: Any,
                                             probe_tenant: Any, probe_image: str,
                                             cleanup: Cleanup) -> None:
    """Take the active port of the NIC bond of a probe job's node down while it runs: the bond
    fails over and the job keeps running to success."""
    user = probe_tenant("bond")
    job = user.jobs.submit(sca.name("bond"), probe_image, python(STEADY_PROBE), ONE_CARD,
                           labels=sca.labels)
    running = user.jobs.wait(job["id"], until={"running", "succeeded", "failed", "stopped"},
                             timeout=30)
    assert running["status"] == "running", (
        f"[6.6.c] the probe job did not start: {running['status']}")
    node = running["workers"][0]["node_id"]
    bonds = [b for b in operations.node_network(node).get("bonds", [])
             if len(b.get("members", [])) >= 2]
    assert bonds, (f"[6.6.c] node {node} shows no NIC bond of two members: one port failure "
                   f"would cut it off")
    port = bonds[0].get("active_member") or bonds[0]["members"][0]
    operations.set_link(node, port, up=False)
    degraded = operations.node_network(node)
    during = poll(lambda: user.jobs.get(job["id"]), lambda j: j["status"] != "running", 1.5)
    operations.set_link(node, port, up=True)
    done = user.jobs.wait(job["id"], timeout=60) if during["status"] == "running" else during
    sca.evidence("port down during training", {"node": node, "port": port,
                                               "network while down": degraded, "job": done})
    bond_state = degraded.get("bonds", [{}])[0].get("state")
    assert done["status"] == "succeeded", (
        f"[6.6.c] training did not survive port {port} of node {node} going down: job "
        f"{done['status']}, bond {bond_state}")


@pytest.mark.clause("6.6.d")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_elastic_training_relaunches_with_fewer_workers(sca: CheckContext, training: Any,
                                                        probe_image: str,
                                                        cleanup: Cleanup) -> None:
    """An elastic job (min 2, max 3) whose last worker dies is relaunched with 2 workers
    and finishes."""
    job = training.submit(sca.name("elastic"), probe_image, python(ELASTIC_PROBE), ONE_CARD,
                          workers=3, min_workers=2, max_restarts=2,
                          env={"SCA_PROBE_MAX_WORKERS": "3"}, labels=sca.labels)
    done = training.wait(job["id"], timeout=90)
    sca.evidence("elastic training job", done)
    sizes = [a.get("world_size") for a in done.get("attempts", [])]
    assert done["status"] == "succeeded" and len(sizes) >= 2 and 2 <= sizes[-1] < 3, (
        f"[6.6.d] elastic job (min 2, max 3) did not continue after worker 2 died: "
        f"ended {done['status']} after attempts of sizes {sizes}")


@pytest.mark.clause("6.6.e")
@pytest.mark.mutating
def test_training_resumes_from_the_last_checkpoint(sca: CheckContext, training: Any,
                                                   jobs: Any, probe_image: str,
                                                   cleanup: Cleanup) -> None:
    """A checkpointing job killed at step 5 is relaunched by the platform and resumes
    after the last step saved in its checkpoint location, not from step 0."""
    job = training.submit(sca.name("resume"), probe_image, python(CHECKPOINT_PROBE),
                          {"cpu": 1, "memory_gib": 1, "accelerators": 0},
                          workers=1, max_restarts=1, checkpoint=True,
                          env={"SCA_PROBE_STEPS": "10", "SCA_PROBE_KILL_AT": "5"},
                          labels=sca.labels)
    done = training.wait(job["id"], timeout=90)
    attempts = done.get("attempts", [])
    logs = [jobs.logs(a["job_id"]) for a in attempts]
    sca.evidence("checkpointing training job", {"job": done, "logs": logs})
    assert len(attempts) >= 2, (
        f"[6.6.e] the interrupted job was not relaunched: {len(attempts)} attempt, "
        f"ended {done['status']}")
    saved = lines(logs[0], "sca-checkpoint:")
    resumed = lines(logs[1], "sca-resume-from:")
    last = int(saved[-1]) if saved else -1
    first = int(resumed[0]) if resumed else -1
    assert last >= 0 and first == last + 1, (
        f"[6.6.e] the relaunch started from step {first}, not after the last checkpoint "
        f"step {last} (checkpoint location {done.get('checkpoint_uri')})")
    assert done["status"] == "succeeded", (
        f"[6.6.e] the resumed job ended {done['status']}")
