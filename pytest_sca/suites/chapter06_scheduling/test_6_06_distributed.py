"""6.6 分布式训练 Distributed training."""

from __future__ import annotations

from typing import cast

import pytest

from pytest_sca.capabilities import (
    Compute,
    Job,
    Jobs,
    Node,
    NodeNetwork,
    Operations,
    Refused,
    Resources,
    TargetError,
    Tenancy,
    Training,
    TrainingAttempt,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser
from ..library import cards_held_by, fields, lines, python, run_allreduce
from .conftest import cards_listed
from .workloads import CHECKPOINT_PROBE, ELASTIC_PROBE, STEADY_PROBE

ONE_CARD: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 1}
#: How long a gang that cannot fit is watched for a partial start (reads back off within it).
GANG_WATCH_S = 5.0
#: How long the all-reduce job's ranks stay after the all-reduce, so that the platform's
#: record of the running job, which cards each worker holds, can be read: Slurm names a
#: job's cards only while it runs, and the 2-worker all-reduce ran a quarter of a second
#: there, ending between two reads of the job on a loaded host (6.6.a could not tell).
RECORD_LINGER_S = 3.0
#: Steps of the probe training job that runs through the link drill (0.15 s each).
DRILL_STEPS = 40
#: How long a bond is given to fail over to another member: Linux bonding's MII monitor sees a
#: link down within its miimon (100 ms is usual) and ARP monitoring within a few
#: arp_intervals; a vendor's reporting may lag a few seconds more.
FAILOVER_WAIT_S = 10.0


@pytest.mark.clause("6.6.a")
@pytest.mark.mutating
def test_multi_worker_job_completes_an_all_reduce(sca: CheckContext, probe_tenant: MakeProbeUser,
                                                  probe_image: str) -> None:
    """A 2-worker job, one card each, runs the all-reduce probe (torch.distributed/gloo, or
    TCP) over MASTER_ADDR:MASTER_PORT: both ranks finish with the sum of both random values."""
    user = probe_tenant("ddp")
    run = run_allreduce(sca, user.jobs, probe_image, "allreduce", ONE_CARD,
                        linger_s=RECORD_LINGER_S)
    cards = cards_listed(run.job)
    finished = run.ranks_with_the_sum()
    assert run.job.get("status") == "succeeded" and finished == [0, 1], (
        f"[6.6.a] 2-worker all-reduce did not complete on both ranks: job "
        f"{run.job.get('status')}, ranks with the right sum {finished} (expected "
        f"{run.expected:g}, printed {[r and r.get('sum') for r in run.results]})")
    # What the job asked for is no record of what its workers held: unknown is not one card.
    if None in cards:
        raise TargetError(f"[6.6.a] the records of the all-reduce job's workers do not say "
                          f"which cards they held ({cards}, None: not said)")
    assert cards == [1, 1], (
        f"[6.6.a] the 2 workers of the all-reduce job asked for one card each and held "
        f"{cards} card(s)")


def _free_cards_per_node(nodes: list[Node]) -> dict[str, list[int]]:
    """Accelerator model → the number of free cards of that model on each node that has any."""
    free: dict[str, list[int]] = {}
    for node in nodes:
        counts: dict[str, int] = {}
        for card in node.get("accelerators") or []:
            if card.get("allocated_to") is None and card.get("model"):
                counts[str(card["model"])] = counts.get(str(card["model"]), 0) + 1
        for model, count in counts.items():
            free.setdefault(model, []).append(count)
    return free


@pytest.mark.clause("6.6.b")
@pytest.mark.mutating
def test_gang_scheduling_all_or_nothing(sca: CheckContext, tenancy: Tenancy, compute: Compute,
                                        probe_tenant: MakeProbeUser, probe_image: str) -> None:
    """A job needing one more whole node of free cards than there are is watched for a few
    seconds: it stays fully pending, no worker starts and no card is held for it."""
    nodes = compute.list_nodes()
    if not any(node.get("accelerators") for node in nodes):
        sca.not_assessed("the inventory lists no accelerator to build a gang of")
    free = _free_cards_per_node(nodes)
    if not free:
        raise TargetError("[6.6.b] every accelerator is busy: no free cards to build a gang "
                          "that cannot fit (run when the platform is idle)")
    model = min(free, key=lambda name: sum(free[name]))
    cards = max(free[model])
    workers = sum(1 for n in free[model] if n >= cards) + 1
    user = probe_tenant("gang")
    tenancy.set_quota(user.tenant_id, accelerators=workers * cards,
                      cpu=max(64, workers * 2), memory_gib=max(512, workers * 2))
    job = user.jobs.submit(sca.name("gang"), probe_image, python("print('gang')"),
                           {"cpu": 1, "memory_gib": 1, "accelerators": cards,
                            "accelerator_model": model},
                           workers=workers, labels=sca.labels)

    def observe() -> tuple[Job, list[str]]:
        return user.jobs.get(job["id"]), cards_held_by(compute.list_nodes(), job["id"])

    def placed(seen: tuple[Job, list[str]]) -> list[int]:
        return [int(w.get("rank", -1)) for w in seen[0].get("workers") or []
                if w.get("status") not in (None, "pending") or w.get("accelerators")]

    try:
        seen = wait_for(observe, lambda s: s[0].get("status") != "pending" or bool(s[1])
                        or bool(placed(s)), GANG_WATCH_S,
                        lambda s: f"job {job['id']} {s[0].get('status')}")
    except WaitTimeout as watched:
        seen = watched.last or (job, [])
    status, held, started = seen[0].get("status"), seen[1], placed(seen)
    sca.evidence("gang that cannot fit", {"model": model, "workers": workers,
                                          "cards per worker": cards, "job": seen[0],
                                          "cards held": held})
    if status in ("failed", "stopped") and not held and not started:
        raise TargetError(f"[6.6.b] the platform ended the gang job ({status}) instead of "
                          f"holding it: gang admission could not be observed")
    assert status == "pending" and not held and not started, (
        f"[6.6.b] a {workers}-worker job of {cards} {model} cards each, that cannot fit whole, "
        f"partly started: status {status}, workers placed {started}, {len(held)} cards held")


def _bond_of(network: NodeNetwork) -> tuple[str, list[str], str | None, str | None]:
    """(name, members, active member, state) of the node's first bond of two or more ports."""
    for bond in network.get("bonds") or []:
        members = [str(m) for m in bond.get("members") or []]
        if len(members) >= 2:
            return str(bond.get("name")), members, bond.get("active_member"), bond.get("state")
    return "", [], None, None


def _link_state(network: NodeNetwork, port: str) -> str | None:
    return next((str(i.get("state")) for i in network.get("interfaces") or []
                 if i.get("name") == port), None)


def _failed_over(network: NodeNetwork, name: str, port: str) -> bool | None:
    """Whether bond ``name`` carries traffic without ``port``: the bond reads up (where it says)
    and its active member is another member whose link is up, or, in a mode without one
    active member (802.3ad, balance-*), another member's link is up. ``None`` when the answer
    does not tell (no such bond, or neither its state nor an active member)."""
    bond = next((b for b in network.get("bonds") or [] if str(b.get("name")) == name), None)
    if bond is None:
        return None
    state, active = bond.get("state"), bond.get("active_member")
    members = [str(m) for m in bond.get("members") or []]
    if state is None and active is None and not str(bond.get("mode", "")).startswith(
            ("802.3ad", "balance", "broadcast")):
        return None
    if state is not None and str(state).lower() != "up":
        return False
    if active is not None:
        return str(active) != port and _link_state(network, str(active)) == "up"
    return any(_link_state(network, m) == "up" for m in members if m != port)


def _bond_shown(network: NodeNetwork, name: str) -> str:
    bond = next((b for b in network.get("bonds") or [] if str(b.get("name")) == name), None)
    if bond is None:
        return "no such bond"
    return (f"state {bond.get('state')}, active member {bond.get('active_member')}, links "
            f"{ {m: _link_state(network, str(m)) for m in bond.get('members') or []} }")


@pytest.mark.clause("6.6.c")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_training_survives_one_nic_port_down(sca: CheckContext, operations: Operations,
                                             probe_tenant: MakeProbeUser,
                                             probe_image: str) -> None:
    """Take the active port of the NIC bond of a running probe training job's node down and
    keep it down: the port is seen down, the bond fails over (within FAILOVER_WAIT_S it reads
    up on another member whose link is up), and the job runs to success. The port is brought
    up again and seen up (the adapter also restores it on any failure)."""
    user = probe_tenant("bond")
    job = user.jobs.submit(sca.name("bond"), probe_image, python(STEADY_PROBE), ONE_CARD,
                           env={"SCA_PROBE_STEPS": str(DRILL_STEPS)}, labels=sca.labels)
    running = user.jobs.wait(job["id"], until={"running", "succeeded", "failed", "stopped"},
                             timeout=60)
    node = ((running.get("workers") or [{}])[0]).get("node_id")
    if running.get("status") != "running" or not node:
        raise TargetError(f"[6.6.c] the probe job did not start on a named node: "
                          f"{running.get('status')}, node {node}")
    before = operations.node_network(node)
    name, members, active, _ = _bond_of(before)
    assert members, (f"[6.6.c] node {node} shows no NIC bond of two members: one port "
                     f"failure would cut it off")
    port = active or members[0]
    try:
        degraded = operations.set_link(node, port, up=False)
    except Refused as refused:
        if not refused.is_authorization:
            raise
        sca.not_assessed(f"the target's principal may not take a link down ({refused}): run "
                         "with an operator key, or declare the item by evidence")
    if _link_state(degraded, port) != "down":
        degraded = operations.node_network(node)
    if _link_state(degraded, port) != "down":
        raise TargetError(f"[6.6.c] the link drill did not take port {port} of node {node} "
                          f"down (it reads {_link_state(degraded, port)})")
    _, _, now_active, bond_state = _bond_of(degraded)
    try:
        if user.jobs.get(job["id"]).get("status") == "succeeded":
            raise TargetError(f"[6.6.c] the probe job ended before port {port} went down: the "
                              f"drill came too late to observe anything")
        try:
            failed_over = wait_for(
                lambda: operations.node_network(node),
                lambda network: _failed_over(network, name, port) is not False,
                FAILOVER_WAIT_S, lambda network: f"bond {name}: {_bond_shown(network, name)}")
        except WaitTimeout as timeout:
            failed_over = cast(NodeNetwork, timeout.last)
        # The port stays down until the job ends: training must not be interrupted at all.
        done = user.jobs.wait(job["id"], timeout=60)
    finally:
        restored = operations.set_link(node, port, up=True)
    log = user.jobs.logs(job["id"])
    progress = lines(log, "sca-progress:")
    sca.evidence("port down during training", {
        "node": node, "bond": name, "port": port, "network before": before,
        "network while down": degraded, "network after fail-over": failed_over,
        "network after": restored, "job": done, "last progress": progress[-1:]})
    assert done.get("status") == "succeeded" and progress[-1:] == ["1.000"], (
        f"[6.6.c] training did not survive port {port} of node {node} going down: job "
        f"{done.get('status')} at progress {progress[-1:] or 'none'}, bond {name} "
        f"{bond_state} with active member {now_active}")
    verdict = _failed_over(failed_over, name, port)
    if verdict is None:
        raise TargetError(f"[6.6.c] the network answer for node {node} while port {port} was "
                          f"down does not tell whether bond {name} failed over (no such bond, "
                          f"or neither its state nor an active member): {failed_over}")
    assert verdict, (
        f"[6.6.c] bond {name} of node {node} did not fail over within {FAILOVER_WAIT_S:g} s of "
        f"port {port} going down: {_bond_shown(failed_over, name)}")
    if _link_state(restored, port) != "up":
        raise TargetError(f"[6.6.c] port {port} of node {node} did not come up again after "
                          f"the drill: {_link_state(restored, port)}")


@pytest.mark.clause("6.6.d")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_elastic_training_relaunches_with_fewer_workers(sca: CheckContext, training: Training,
                                                        jobs: Jobs, probe_image: str) -> None:
    """An elastic job (min 2, max 3) whose last worker dies is relaunched with 2 workers and
    finishes; the relaunched workers' own output confirms they ran as a world of 2."""
    job = training.submit(sca.name("elastic"), probe_image, python(ELASTIC_PROBE), ONE_CARD,
                          workers=3, min_workers=2, max_restarts=2,
                          env={"SCA_PROBE_MAX_WORKERS": "3"}, labels=sca.labels)
    done = training.wait(job["id"], timeout=90)
    attempts: list[TrainingAttempt] = list(done.get("attempts") or [])
    sizes = [a.get("world_size") for a in attempts]
    seen: list[dict[str, str]] = []
    last = attempts[-1] if attempts else None
    if last is not None and done.get("status") == "succeeded":
        if not last.get("job_id"):
            raise TargetError(f"[6.6.d] training job {job['id']} names no job for its attempts")
        for rank in range(int(last.get("world_size") or 0)):
            found = lines(jobs.logs(str(last["job_id"]), worker=rank), "sca-elastic")
            seen += [fields(found[-1])] if found else []
    sca.evidence("elastic training job", {"job": done, "relaunched workers saw": seen})
    assert done.get("status") == "succeeded" and len(sizes) >= 2 and sizes[0] == 3 \
        and isinstance(sizes[-1], int) and 2 <= sizes[-1] < 3, (
            f"[6.6.d] elastic job (min 2, max 3) did not continue after worker 2 died: "
            f"ended {done.get('status')} after attempts of sizes {sizes}")
    assert sorted((s.get("rank"), s.get("world")) for s in seen) == [("0", "2"), ("1", "2")], (
        f"[6.6.d] the relaunch is recorded with {sizes[-1]} workers, but its workers printed "
        f"{seen}")


@pytest.mark.clause("6.6.e")
@pytest.mark.mutating
def test_training_resumes_from_the_last_checkpoint(sca: CheckContext, training: Training,
                                                   jobs: Jobs, probe_image: str) -> None:
    """A checkpointing job killed at step 5 is relaunched by the platform and resumes after
    the last step saved in its checkpoint location, not from step 0, then finishes."""
    job = training.submit(sca.name("resume"), probe_image, python(CHECKPOINT_PROBE),
                          {"cpu": 1, "memory_gib": 1, "accelerators": 0},
                          workers=1, max_restarts=1, checkpoint=True,
                          env={"SCA_PROBE_STEPS": "10", "SCA_PROBE_KILL_AT": "5"},
                          labels=sca.labels)
    done = training.wait(job["id"], timeout=90)
    attempts = list(done.get("attempts") or [])
    if any(not a.get("job_id") for a in attempts):
        raise TargetError(f"[6.6.e] training job {job['id']} names no job for an attempt")
    logs = [jobs.logs(str(a["job_id"])) for a in attempts]
    sca.evidence("checkpointing training job", {"job": done, "log tails": [t[-800:]
                                                                           for t in logs]})
    assert len(attempts) >= 2, (
        f"[6.6.e] the interrupted job was not relaunched: {len(attempts)} attempt, "
        f"ended {done.get('status')}")
    saved = lines(logs[0], "sca-checkpoint:")
    resumed = lines(logs[1], "sca-resume-from:")
    last = int(saved[-1]) if saved else -1
    first = int(resumed[0]) if resumed else -1
    if last < 0:
        raise TargetError(f"[6.6.e] the first attempt saved no checkpoint step (log tail: "
                          f"{logs[0][-300:]!r})")
    assert first == last + 1, (
        f"[6.6.e] the relaunch started from step {first}, not after the last checkpoint "
        f"step {last} (checkpoint location {done.get('checkpoint_uri')})")
    assert done.get("status") == "succeeded", (
        f"[6.6.e] the resumed job ended {done.get('status')}")
