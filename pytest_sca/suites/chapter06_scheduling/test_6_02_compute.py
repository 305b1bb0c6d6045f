"""6.2 算力资源管理 Compute resource management."""

from __future__ import annotations

import shlex
import time
from typing import Any

import pytest

from pytest_sca.capabilities import Refused, WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from .conftest import (
    PRINT_VISIBLE_DEVICES,
    card_pools,
    sleeper,
    visible_devices,
)

#: Vendor names (as platforms spell them, lower case) of domestic accelerator makers.
DOMESTIC_VENDORS = {
    "huawei": ("huawei", "ascend"), "cambricon": ("cambricon", "mlu"),
    "hygon": ("hygon", "dcu"), "kunlunxin": ("kunlunxin", "kunlun"),
    "metax": ("metax",), "iluvatar": ("iluvatar",), "moorethreads": ("mthreads", "moore"),
    "enflame": ("enflame",), "biren": ("biren",), "sophgo": ("sophgo",),
}


def _domestic_vendor(vendor: str, model: str) -> str | None:
    text = f"{vendor} {model}".lower()
    return next((name for name, words in DOMESTIC_VENDORS.items()
                 if any(w in text for w in words)), None)


@pytest.mark.clause("6.2.a")
def test_inventory_manages_heterogeneous_resources(sca: CheckContext, compute: Any) -> None:
    """The inventory lists every node with CPU and memory, and accelerators with vendor and
    model: CPU, memory and cards of several kinds under one API."""
    nodes = compute.list_nodes()
    assert nodes, "[6.2.a] the inventory lists no node"
    without_cpu = [n["id"] for n in nodes if not (n.get("cpu") and n.get("memory_gib"))]
    cards = [(n["id"], c) for n in nodes for c in n.get("accelerators") or []]
    described = [c for _, c in cards if c.get("vendor") and c.get("model")]
    summary = {n["id"]: {"cpu": n.get("cpu"), "memory_gib": n.get("memory_gib"),
                         "accelerators": sorted({f"{c.get('vendor')} {c.get('model')}"
                                                 for c in n.get("accelerators") or []})}
               for n in nodes}
    sca.evidence("inventory", summary)
    sca.measure("accelerators managed", len(described), "cards")
    assert not without_cpu, f"[6.2.a] nodes listed without CPU or memory: {without_cpu}"
    assert described, (f"[6.2.a] the inventory lists no accelerator with vendor and model "
                       f"on any of {len(nodes)} nodes")


@pytest.mark.clause("6.2.b")
@pytest.mark.mutating
def test_allocation_by_whole_multiple_and_fractional_cards(
        sca: CheckContext, jobs: Any, submit: Any) -> None:
    """Jobs requesting 1 card, 2 cards and half a card each see exactly the cards they hold;
    two half-card jobs share one card."""
    seen: dict[str, Any] = {}
    for label, cards in (("whole", 1), ("multi", 2)):
        job = submit(f"alloc-{label}", PRINT_VISIBLE_DEVICES,
                     {"cpu": 1, "memory_gib": 1, "accelerators": cards})
        done = jobs.wait(job["id"], timeout=30)
        assert done["status"] == "succeeded", (
            f"[6.2.b] a job requesting {cards} card(s) ended {done['status']}")
        devices = visible_devices(jobs.logs(job["id"]))
        seen[label] = devices
        assert devices is not None and len(devices) == cards, (
            f"[6.2.b] a job requesting {cards} card(s) sees {devices}")
    halves = []
    for n in range(2):
        try:
            halves.append(submit(f"alloc-half{n}", sleeper(20), {
                "cpu": 0.5, "memory_gib": 0.5, "accelerators": 1,
                "accelerator_share": 0.5}))
        except Refused as refusal:
            raise AssertionError(f"[6.2.b] a half-card request was refused: {refusal}") from None
    running = [jobs.wait(h["id"], until={"running", "succeeded", "failed"}, timeout=30)
               for h in halves]
    held = [(j["workers"][0].get("node_id"), tuple(j["workers"][0].get("accelerators") or ()))
            for j in running]
    seen["halves"] = held
    for h in halves:
        jobs.stop(h["id"])
    sca.evidence("devices seen", seen)
    assert all(j["status"] == "running" for j in running), (
        f"[6.2.b] two half-card jobs did not run side by side: "
        f"{[j['status'] for j in running]}")
    assert held[0] == held[1] and len(held[0][1]) == 1, (
        f"[6.2.b] two half-card jobs do not share one card: they hold {held}")


@pytest.mark.clause("6.2.c")
@pytest.mark.mutating
def test_lifecycle_from_request_to_release(sca: CheckContext, probe_tenant: Any,
                                           compute: Any, billing: Any, usage: Any,
                                           probe_image: str, cleanup: Cleanup) -> None:
    """One probe job goes through apply → schedule → run → stop (govern) → meter/bill →
    release; each stage is observable, and after release no card is held and no usage
    accrues."""
    user = probe_tenant("life")
    job = user.jobs.submit(sca.name("life"), probe_image, sleeper(30),
                           {"cpu": 1, "memory_gib": 1, "accelerators": 1}, labels=sca.labels)
    stages: dict[str, Any] = {"applied": job["status"]}
    running = user.jobs.wait(job["id"], until={"running"}, timeout=30)
    stages["running on"] = running["workers"][0].get("node_id")
    time.sleep(0.5)  # a measurable run time before it is stopped
    stages["governed (stopped)"] = user.jobs.stop(job["id"])["status"]
    events = [e["type"] for e in user.jobs.events(job["id"])]
    stages["events"] = events
    metered = usage.records(job_id=job["id"])
    stages["usage records"] = len(metered)
    bill = billing.acting_as(user.user["api_key"]).bills()
    charged = sum(line.get("amount", 0) for b in bill for line in b.get("lines", [])
                  if line.get("resource") == "accelerator")
    stages["accelerator charge"] = charged
    user.jobs.delete(job["id"])
    held = [(n["id"], c["index"]) for n in compute.list_nodes()
            for c in n.get("accelerators") or [] if c.get("allocated_to") == job["id"]
            or job["id"] in (c.get("shares") or {})]
    time.sleep(1.0)
    later = usage.records(job_id=job["id"])
    stages["cards held after release"] = held
    sca.evidence("life cycle", stages)
    missing = [e for e in ("Created", "Scheduled", "Started", "Stopped") if e not in events]
    assert not missing, f"[6.2.c] life-cycle stages not observable: no {missing} event"
    assert metered, f"[6.2.c] no usage record metered for job {job['id']}"
    assert charged > 0, f"[6.2.c] the tenant's bill charges nothing for job {job['id']}"
    assert not held, f"[6.2.c] after release, cards still allocated to job {job['id']}: {held}"
    assert sum(r["quantity"] for r in later) == pytest.approx(
        sum(r["quantity"] for r in metered)), (
        f"[6.2.c] usage of job {job['id']} kept accruing after release")


@pytest.mark.clause("6.2.d")
@pytest.mark.mutating
def test_bare_metal_and_container_clusters_on_demand(
        sca: CheckContext, clusters: Any, compute: Any, probe_tenant: Any, probe_image: str,
        cleanup: Cleanup) -> None:
    """A tenant creates one bare-metal and one container cluster; each comes up with nodes of
    its kind, and a probe job pinned to each runs there."""
    admin = probe_tenant("clusters", role="tenant_admin")
    own = clusters.acting_as(admin.user["api_key"])
    seen: dict[str, Any] = {}
    for kind in ("baremetal", "container"):
        cluster = own.create_cluster(sca.name(f"ondemand-{kind}"), kind, 1, labels=sca.labels)
        cluster = own.get_cluster(cluster["id"])
        nodes = [compute.get_node(n) for n in cluster.get("node_ids") or []]
        assert cluster.get("status") == "ready" and nodes, (
            f"[6.2.d] {kind} cluster {cluster['id']} is {cluster.get('status')} with "
            f"{len(nodes)} node(s)")
        wrong = [n["id"] for n in nodes if n.get("kind") != kind]
        assert not wrong, f"[6.2.d] nodes {wrong} of the {kind} cluster are not {kind}"
        job = admin.jobs.submit(sca.name(f"ondemand-{kind}"), probe_image, sleeper(0.1),
                                {"cpu": 1, "memory_gib": 1, "accelerators": 1,
                                 "cluster_id": cluster["id"]}, labels=sca.labels)
        try:
            done = admin.jobs.wait(job["id"], until={"succeeded", "failed"}, timeout=10)
        except WaitTimeout as exc:
            raise AssertionError(f"[6.2.d] a job pinned to the new {kind} cluster "
                                 f"{cluster['id']} stayed {(exc.last or {}).get('status')}"
                                 ) from None
        placed = done["workers"][0].get("node_id")
        seen[kind] = {"cluster": cluster["id"], "nodes": [n["id"] for n in nodes],
                      "job": done["status"], "ran on": placed}
        assert done["status"] == "succeeded" and placed in cluster["node_ids"], (
            f"[6.2.d] a job pinned to the new {kind} cluster {cluster['id']} "
            f"{done['status']} on {placed}")
    sca.evidence("clusters created on demand", seen)


@pytest.mark.clause("6.2.e")
def test_three_domestic_accelerator_vendors_managed(sca: CheckContext, compute: Any) -> None:
    """Accelerators of at least three domestic vendors appear in the managed inventory."""
    found: dict[str, set[str]] = {}
    for pool in card_pools(compute.list_nodes()):
        vendor = _domestic_vendor(pool.vendor, pool.model)
        if vendor:
            found.setdefault(vendor, set()).add(pool.model)
    sca.evidence("domestic vendors", {v: sorted(m) for v, m in found.items()})
    sca.measure("domestic accelerator vendors", len(found), "vendors", threshold=3)
    assert len(found) >= 3, (
        f"[6.2.e] {len(found)} domestic accelerator vendor(s) managed "
        f"({', '.join(sorted(found)) or 'none'}), at least 3 required")


@pytest.mark.clause("6.2.f")
@pytest.mark.mutating
def test_shared_filesystem_mounted_on_nodes(sca: CheckContext, nodes: Any,
                                            filesystems: Any, cleanup: Cleanup) -> None:
    """The platform's high-performance file system is mounted on two nodes: a file written
    on one is read back, byte for byte, on the other."""
    names = nodes.nodes()
    mounted = [f for f in filesystems.list_filesystems() if f.get("mount_path")]
    assert mounted, "[6.2.f] the platform lists no mounted file system"
    fs = mounted[0]
    on = [n for n in names if n in (fs.get("nodes") or names)]
    if len(on) < 2:
        sca.not_assessed(f"fewer than two SSH nodes of the target mount {fs.get('name')}: "
                         "list two of its nodes under adapters.ssh")
    writer, reader = on[:2]
    path = _shell_path(fs["mount_path"]) + "/" + shlex.quote(sca.name("fs-probe"))
    token = sca.name(f"fs-{time.time_ns()}")
    wrote = nodes.run(writer, f"printf %s {shlex.quote(token)} > {path}")
    cleanup.add(f"remove {path} on {writer}", lambda: nodes.run(writer, f"rm -f {path}"))
    assert wrote.exit_status == 0, (
        f"[6.2.f] cannot write under {fs['mount_path']} on {writer}: {wrote.stderr[:200]}")
    read = nodes.run(reader, f"cat {path}")
    sca.evidence("shared file", {"filesystem": fs, "written on": writer, "read on": reader,
                                 "read": read.stdout[:200], "status": read.exit_status})
    assert read.exit_status == 0 and read.stdout == token, (
        f"[6.2.f] a file written on {writer} under {fs['mount_path']} is not visible on "
        f"{reader}: {read.stderr.strip()[:200] or read.stdout[:200]}")


def _shell_path(mount_path: str) -> str:
    """A mount path for a shell command line; ``~/x`` stays relative to the home directory."""
    if mount_path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(mount_path[2:])
    return shlex.quote(mount_path)


@pytest.mark.clause("6.2.g")
@pytest.mark.mutating
def test_metering_matches_what_ran(sca: CheckContext, jobs: Any, usage: Any,
                                   submit: Any) -> None:
    """A probe holding 2 CPU, 3 GiB and 2 cards for ~2 s is metered per resource with
    quantities equal to its requests × its run time."""
    requests_ = {"cpu": 2, "memory_gib": 3, "accelerators": 2}
    job = submit("meter", sleeper(2), requests_)
    done = jobs.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded", f"[6.2.g] the metering probe ended {done['status']}"
    records = usage.records(job_id=job["id"])
    sca.evidence("usage records", records)
    assert records, f"[6.2.g] no usage record for job {job['id']}"
    by_resource: dict[str, float] = {}
    seconds = max(float(r.get("run_seconds") or 0) for r in records)
    for record in records:
        by_resource[record["resource"]] = by_resource.get(record["resource"], 0.0) + float(
            record["quantity"])
    wanted = {"cpu": requests_["cpu"], "memory": requests_["memory_gib"],
              "accelerator": requests_["accelerators"]}
    missing = sorted(set(wanted) - set(by_resource))
    assert not missing, f"[6.2.g] job {job['id']} was not metered for {missing}"
    assert 1.5 <= seconds <= 10, f"[6.2.g] metered run time {seconds:.2f} s for a 2 s probe"
    for resource, amount in wanted.items():
        sca.measure(f"{resource} metered", by_resource[resource], "per-second units")
        assert by_resource[resource] == pytest.approx(amount * seconds, rel=0.05), (
            f"[6.2.g] {resource} metered {by_resource[resource]:.2f} for {amount} × "
            f"{seconds:.2f} s")
