"""6.5 资源调度 Resource scheduling."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_sca.capabilities import TargetError, WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from .conftest import CardPool, card_pools, sleeper
from .test_6_03_images import uncached_pulls

START_WAIT_S = 30.0
#: How long an unschedulable job may take to say why.
REASON_WAIT_S = 5.0


def _free_pool(compute: Any, *, single_node: bool = False) -> CardPool:
    """The smallest pool of one model whose cards are all free (on one node if asked)."""
    pools = [p for p in card_pools(compute.list_nodes())
             if p.free == p.cards and (len(p.nodes) == 1 or not single_node)]
    if not pools:
        raise TargetError("no accelerator model has all its cards free: the platform is busy, "
                          "evaluate it when one model is idle")
    return pools[0]


def _node_of(job: dict[str, Any]) -> str | None:
    return job["workers"][0].get("node_id") if job.get("workers") else None


@pytest.mark.clause("6.5.a")
@pytest.mark.mutating
def test_schedules_by_request(sca: CheckContext, jobs: Any, compute: Any, submit: Any
                              ) -> None:
    """A job requesting a card model lands on a node with that model; a request no node can
    hold stays pending with a reason."""
    pools = card_pools(compute.list_nodes())
    pool = next((p for p in pools if p.free), None)
    assert pool is not None, "[6.5.a] no free accelerator to schedule a probe on"
    placed = submit("by-model", sleeper(0.2), {"cpu": 1, "memory_gib": 1, "accelerators": 1,
                                               "accelerator_model": pool.model})
    placed = jobs.wait(placed["id"], until={"running", "succeeded", "failed"},
                       timeout=START_WAIT_S)
    node = compute.get_node(_node_of(placed))
    models = sorted({c.get("model") for c in node.get("accelerators") or []})
    widest = max(len(pool.of(n)) for n in pool.nodes)
    impossible = submit("impossible", sleeper(0.2), {
        "cpu": 1, "memory_gib": 1, "accelerators": widest + 1, "accelerator_model": pool.model})
    reasons = _reasons_within(jobs, impossible["id"], REASON_WAIT_S)
    waiting = jobs.get(impossible["id"])
    sca.evidence("placement", {"requested": pool.model, "node": node["id"], "models": models,
                               "impossible": waiting["status"], "reasons": reasons})
    assert pool.model in models, (
        f"[6.5.a] job requesting {pool.model} landed on {node['id']} ({', '.join(models)})")
    assert waiting["status"] == "pending", (
        f"[6.5.a] a request for {widest + 1} {pool.model} cards on one node is "
        f"{waiting['status']}, not pending")
    assert reasons, f"[6.5.a] job {impossible['id']} is pending without a reason"


@pytest.mark.clause("6.5.b")
@pytest.mark.disruptive
def test_higher_priority_admitted_first(sca: CheckContext, compute: Any, tenancy: Any,
                                        probe_tenant: Any, scheduling: Any, cleanup: Cleanup,
                                        probe_image: str) -> None:
    """With one card model's capacity held, a low- then a high-priority job wait in one
    queue; when capacity frees, the high-priority job starts first."""
    pool = _free_pool(compute, single_node=True)
    cards = pool.cards
    user = probe_tenant("prio")
    tenancy.set_quota(user.tenant_id, accelerators=cards * 3)
    queue = scheduling.acting_as(user.user["api_key"])
    wanted = {"cpu": 1, "memory_gib": 1, "accelerators": cards, "accelerator_model": pool.model}
    submitted = {}
    for name, priority in (("blocker", 0), ("low", 1), ("high", 100)):
        job = queue.submit_queued(sca.name(f"prio-{name}"), probe_image, sleeper(20), wanted,
                                  priority=priority, labels=sca.labels)
        submitted[name] = job
        if name == "blocker":
            user.jobs.wait(job["id"], until={"running"}, timeout=START_WAIT_S)
    user.jobs.stop(submitted["blocker"]["id"])
    try:
        first = _first_to_start(user.jobs, [submitted["low"]["id"], submitted["high"]["id"]])
    except WaitTimeout as exc:
        raise AssertionError(f"[6.5.b] neither queued job started: {exc}") from None
    states = {n: user.jobs.get(j["id"])["status"] for n, j in submitted.items()}
    sca.evidence("queue", {"model": pool.model, "cards": cards, "states": states})
    assert first == submitted["high"]["id"], (
        f"[6.5.b] the priority-1 job started before the priority-100 job: {states}")


def _reasons_within(jobs: Any, job_id: str, seconds: float) -> list[str]:
    """The job's events after ``Created`` as they appear within ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while True:
        reasons = [f"{e.get('reason')}: {e.get('message')}" for e in jobs.events(job_id)
                   if e.get("type") != "Created"]
        if reasons or time.monotonic() >= deadline:
            return reasons
        time.sleep(0.2)


def _first_to_start(jobs: Any, job_ids: list[str]) -> str:
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        for job_id in job_ids:
            if jobs.get(job_id)["status"] in ("running", "succeeded"):
                return job_id
        time.sleep(0.2)
    raise WaitTimeout(f"none of {job_ids} started in {START_WAIT_S:g} s", None)


@pytest.mark.clause("6.5.c")
@pytest.mark.mutating
def test_multi_card_request_stays_in_one_topology_group(sca: CheckContext, jobs: Any,
                                                        compute: Any, submit: Any) -> None:
    """With one card of a node taken, a 4-card worker gets 4 cards of one PCIe switch / NUMA
    group, not the next four indices across groups."""
    pool = _free_pool(compute, single_node=True)
    node = pool.nodes[0]
    topology = {c["index"]: c.get("topology") for c in pool.of(node)}
    if not all(topology.values()):
        sca.not_assessed(f"node {node['id']} lists no topology (switch/NUMA) of its cards")
    wanted = {"cpu": 1, "memory_gib": 1, "accelerator_model": pool.model}
    one = submit("topo-one", sleeper(20), {**wanted, "accelerators": 1})
    jobs.wait(one["id"], until={"running"}, timeout=START_WAIT_S)
    four = submit("topo-four", sleeper(20), {**wanted, "accelerators": 4})
    four = jobs.wait(four["id"], until={"running", "failed"}, timeout=START_WAIT_S)
    held = four["workers"][0].get("accelerators") or []
    groups = sorted({str((topology.get(i) or {}).get("switch")) for i in held})
    sca.evidence("placement", {"node": node["id"], "cards": held, "switch groups": groups,
                               "topology": topology})
    jobs.stop(one["id"])
    jobs.stop(four["id"])
    assert len(held) == 4, f"[6.5.c] the 4-card worker holds {held}"
    assert len(groups) == 1, (f"[6.5.c] 4-card worker placed across switch groups {groups} "
                              f"(cards {held} of {node['id']})")


@pytest.mark.clause("6.5.d")
@pytest.mark.mutating
def test_one_endpoint_runs_work_on_either_cluster(sca: CheckContext, jobs: Any,
                                                  compute: Any, submit: Any) -> None:
    """Through the one job endpoint, work for a card model only cluster A has and work for one
    only cluster B has both run, each on its cluster."""
    nodes = compute.list_nodes()
    cluster_of = {n["id"]: n.get("cluster_id") for n in nodes}
    by_cluster: dict[str, CardPool] = {}
    for pool in card_pools(nodes):
        owners = {cluster_of[n["id"]] for n in pool.nodes}
        if len(owners) == 1 and pool.free:
            by_cluster.setdefault(owners.pop(), pool)
    if len(by_cluster) < 2:
        sca.not_assessed("fewer than two clusters have a card model of their own: declare "
                         "two clusters with distinct accelerator models")
    placed = {}
    for cluster_id, pool in list(by_cluster.items())[:2]:
        job = submit(f"xc-{pool.model.lower()}", sleeper(0.2), {
            "cpu": 1, "memory_gib": 1, "accelerators": 1, "accelerator_model": pool.model})
        try:
            done = jobs.wait(job["id"], until={"running", "succeeded"}, timeout=10)
        except WaitTimeout as exc:
            raise AssertionError(f"[6.5.d] job for cluster {cluster_id} stayed "
                                 f"{(exc.last or {}).get('status')}") from None
        placed[cluster_id] = cluster_of.get(_node_of(done) or "")
    sca.evidence("cross-cluster", placed)
    wrong = {c: p for c, p in placed.items() if c != p}
    assert not wrong, f"[6.5.d] work for a cluster ran elsewhere: {wrong}"


@pytest.mark.clause("6.5.e")
def test_burst_policy_is_declared(sca: CheckContext, scheduling: Any) -> None:
    """The platform API shows a burst policy: rules by which off-cloud work uses the
    platform's clusters, each with a weight or a threshold."""
    policy = scheduling.burst_policy()
    sca.evidence("burst policy", policy)
    rules = [r for r in policy.get("rules") or []
             if r.get("weight") is not None or r.get("threshold_utilization") is not None]
    assert policy.get("enabled") and rules, (
        "[6.5.e] the platform declares no burst policy with a weight or threshold")


@pytest.mark.clause("6.5.f")
@pytest.mark.mutating  # pulls images onto nodes
def test_lazy_pull_starts_faster(sca: CheckContext, compute: Any, images: Any,
                                 imagecache: Any) -> None:
    """On two nodes without the image, a lazy-pull start is faster than a full-pull start."""
    full = uncached_pulls(compute, images, imagecache, "full", 1)
    lazy = [p for p in uncached_pulls(compute, images, imagecache, "lazy", 2)
            if full and p["image"] == full[0]["image"]]
    if not full or not lazy:
        sca.not_assessed("no two nodes without the image to compare a full and a lazy start")
    sca.evidence("starts", {"full": full[0], "lazy": lazy[0]})
    sca.measure("full-pull start", full[0]["seconds"], "s")
    sca.measure("lazy-pull start", lazy[0]["seconds"], "s")
    assert lazy[0]["seconds"] < 0.5 * full[0]["seconds"], (
        f"[6.5.f] lazy-pull start of {full[0]['image']} took {lazy[0]['seconds']:.3f} s, "
        f"full pull {full[0]['seconds']:.3f} s")
