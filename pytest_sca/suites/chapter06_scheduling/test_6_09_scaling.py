"""6.9 集群扩缩容 Cluster scaling."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_sca.capabilities import (
    Clusters,
    Compute,
    TargetError,
    WaitTimeout,
    wait_for,
    wait_for_status,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser

#: How long the check still watches once the cluster says it is ready again.
SETTLED_GRACE_S = 10.0

#: (node ids listed by the node inventory, node ids recorded in the cluster, cluster status)
Views = tuple[frozenset[str], frozenset[str], str]


def _shown(views: Views) -> list[object]:
    return [sorted(views[0]), sorted(views[1]), views[2]]


def _scale_both_ways(item: str, kind: str, sca: CheckContext, clusters: Clusters,
                     compute: Compute, probe_tenant: MakeProbeUser) -> None:
    """Scale a fresh 1-node cluster out by one node and back in by that node; both the node
    inventory and the cluster record must follow, each time."""
    # A tenant's own cluster: no other work can land on the nodes the check removes.
    admin = probe_tenant(f"scale-{kind}", role="tenant_admin")
    key = admin.user["api_key"]
    clusters, compute = clusters.acting_as(key), compute.acting_as(key)
    cluster = clusters.create_cluster(sca.name(f"scale-{kind}"), kind, 1, labels=sca.labels)
    # The starting point is the cluster once ready: a node still joining is not the added one.
    # A cluster that never gets ready leaves nothing to scale: could not find out (6.2.d
    # judges creation).
    try:
        ready = wait_for_status(lambda: clusters.get_cluster(cluster["id"]),
                                {"ready", "failed", "error"},
                                sca.settings.clusters.ready_timeout_s,
                                f"{kind} cluster {cluster['id']}")
    except WaitTimeout as waited:
        raise TargetError(f"[{item}] nothing to scale: {waited}") from None
    if ready.get("status") != "ready":
        raise TargetError(f"[{item}] nothing to scale: the new {kind} cluster {cluster['id']} "
                          f"is {ready.get('status')}")
    timeout = sca.settings.clusters.scale_timeout_s

    def views() -> Views:
        listed = frozenset(str(n.get("id")) for n in compute.list_nodes(cluster_id=cluster["id"]))
        record = clusters.get_cluster(cluster["id"])
        return listed, frozenset(record.get("node_ids") or []), str(record.get("status"))

    def settle(changed: Callable[[Views], bool], what: str) -> Views:
        """Views once both changed, or once the cluster is ready again and a grace passed."""
        asked = time.monotonic()
        try:
            return wait_for(views, lambda v: changed(v) or (
                v[2] == "ready" and time.monotonic() - asked >= SETTLED_GRACE_S),
                timeout, lambda v: f"{what}: cluster {v[2]}, listed {sorted(v[0])}, "
                                   f"recorded {sorted(v[1])}")
        except WaitTimeout as waited:
            return waited.last or views()

    before = views()
    clusters.scale_out(cluster["id"], 1)
    grown = settle(lambda v: len(v[0]) > len(before[0]) and len(v[1]) > len(before[1]),
                   "scale-out")
    added = sorted(grown[0] - before[0])
    sca.evidence("scale out by 1", {"before (listed, recorded, status)": _shown(before),
                                    "after": _shown(grown)})
    assert len(added) == 1 and grown[0] == grown[1] and len(grown[0]) == len(before[0]) + 1, (
        f"[{item}] scale-out by 1 left the {kind} cluster at {len(grown[0])} listed and "
        f"{len(grown[1])} recorded node(s), was {len(before[0])}")
    clusters.scale_in(cluster["id"], added[0])
    shrunk = settle(lambda v: added[0] not in v[0] and added[0] not in v[1], "scale-in")
    sca.evidence("scale in by 1", {"removed": added[0], "after": _shown(shrunk)})
    assert added[0] not in shrunk[0] | shrunk[1] and shrunk[0] == shrunk[1] == before[0], (
        f"[{item}] scale-in of node {added[0]} left the {kind} cluster at {sorted(shrunk[0])} "
        f"listed and {sorted(shrunk[1])} recorded, expected {sorted(before[0])}")


@pytest.mark.clause("6.9.a")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_bare_metal_cluster_scales_out_and_in(sca: CheckContext, clusters: Clusters,
                                              compute: Compute,
                                              probe_tenant: MakeProbeUser) -> None:
    """A probe tenant's bare-metal cluster of 1 node gains a node on scale-out and loses it on
    scale-in, in the cluster record and in the node listing alike."""
    _scale_both_ways("6.9.a", "baremetal", sca, clusters, compute, probe_tenant)


@pytest.mark.clause("6.9.b")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_container_cluster_scales_out_and_in(sca: CheckContext, clusters: Clusters,
                                             compute: Compute,
                                             probe_tenant: MakeProbeUser) -> None:
    """A probe tenant's container cluster of 1 node gains a node on scale-out and loses it on
    scale-in, in the cluster record and in the node listing alike."""
    _scale_both_ways("6.9.b", "container", sca, clusters, compute, probe_tenant)
