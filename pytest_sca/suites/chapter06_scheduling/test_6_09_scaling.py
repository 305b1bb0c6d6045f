"""6.9 集群扩缩容 Cluster scaling."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext


def _scale_both_ways(item: str, kind: str, sca: CheckContext, clusters: Any, compute: Any,
                     probe_tenant: Any, cleanup: Cleanup) -> None:
    # A tenant's own cluster: no other work can land on the nodes the check removes.
    admin = probe_tenant(f"scale-{kind}", role="tenant_admin")
    key = admin.user["api_key"]
    clusters, compute = clusters.acting_as(key), compute.acting_as(key)
    cluster = clusters.create_cluster(sca.name(f"scale-{kind}"), kind, 1, labels=sca.labels)

    def node_ids() -> set[str]:
        listed = {n["id"] for n in compute.list_nodes(cluster_id=cluster["id"])}
        return listed | set(clusters.get_cluster(cluster["id"]).get("node_ids", []))

    before = node_ids()
    clusters.scale_out(cluster["id"], 1)
    grown = node_ids()
    added = sorted(grown - before)
    sca.evidence("scale out by 1", {"before": sorted(before), "after": sorted(grown)})
    assert len(added) == 1 and len(grown) == len(before) + 1, (
        f"[{item}] scale-out by 1 left the {kind} cluster at {len(grown)} node(s), "
        f"was {len(before)}")
    clusters.scale_in(cluster["id"], added[0])
    shrunk = node_ids()
    sca.evidence("scale in by 1", {"removed": added[0], "after": sorted(shrunk)})
    assert added[0] not in shrunk and len(shrunk) == len(before), (
        f"[{item}] scale-in of node {added[0]} left the {kind} cluster at {len(shrunk)} "
        f"node(s), expected {len(before)}")


@pytest.mark.clause("6.9.a")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_bare_metal_cluster_scales_out_and_in(sca: CheckContext, clusters: Any, compute: Any,
                                              probe_tenant: Any, cleanup: Cleanup) -> None:
    """A probe tenant's bare-metal cluster of 1 node gains a node on scale-out and loses it on
    scale-in, in the cluster record and in the node listing."""
    _scale_both_ways("6.9.a", "baremetal", sca, clusters, compute, probe_tenant, cleanup)


@pytest.mark.clause("6.9.b")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_container_cluster_scales_out_and_in(sca: CheckContext, clusters: Any, compute: Any,
                                             probe_tenant: Any, cleanup: Cleanup) -> None:
    """A probe tenant's container cluster of 1 node gains a node on scale-out and loses it on
    scale-in, in the cluster record and in the node listing."""
    _scale_both_ways("6.9.b", "container", sca, clusters, compute, probe_tenant, cleanup)
