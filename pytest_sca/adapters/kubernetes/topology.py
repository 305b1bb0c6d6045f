"""``topology``: where a job's workers and cards are, read from its pods and their nodes."""

from __future__ import annotations

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import JobTopology, TopologyLink, TopologyNode

from .adapter import KubernetesAdapter
from .compute import KubeCompute
from .jobs import KubeJobs


class KubeTopology(Facade[KubernetesAdapter]):
    """Where a job's workers and cards are (:class:`~pytest_sca.capabilities.Topology`):
    the nodes of its pods, the cards each pod holds, linked node → card, and nodes linked
    to each other through the topology labels they share (zone, rack, switch group)."""

    def of_job(self, job_id: str) -> JobTopology:
        adapter = self.subject
        jobs = KubeJobs(adapter)
        pods = jobs._pods(job_id)
        listed = {n["id"]: n for n in KubeCompute(adapter._root).list_nodes()}
        nodes: dict[str, TopologyNode] = {}
        links: list[TopologyLink] = []
        for pod in pods:
            node_id = pod.spec.node_name if pod.spec else None
            if not node_id or node_id not in listed:
                continue
            entry = nodes.setdefault(node_id, {
                "id": node_id, "hostname": node_id,
                "cluster_id": listed[node_id].get("cluster_id") or "", "workers": [],
                "accelerators": []})
            entry["workers"].append(jobs._rank(pod))
            for card in listed[node_id]["accelerators"]:
                if card.get("pod") == pod.metadata.name:  # type: ignore[typeddict-item]
                    entry["accelerators"].append(card)
                    links.append({"from": node_id, "to": f"{node_id}/{card['index']}",
                                  "kind": "pcie"})
        ids = sorted(nodes)
        for i, first in enumerate(ids):
            for second in ids[i + 1:]:
                shared = [k for k, v in listed[first].get("topology", {}).items()
                          if listed[second].get("topology", {}).get(k) == v]
                links.append({"from": first, "to": second,
                              "kind": "same " + ", ".join(shared) if shared else "network"})
        return {"job_id": job_id, "nodes": list(nodes.values()), "links": links,
                "simulated": False}
