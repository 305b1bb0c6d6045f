"""``topology``: where a job's workers and cards are, and the switches that link its nodes.

The nodes, ranks and cards come from the job's placement (``nodes`` and ``gres_detail`` of
slurmctld, as :mod:`.jobs` reads them); the links from ``scontrol show topology`` on the login
node when the cluster uses a topology plugin (``topology/tree``): two of the job's nodes under
one leaf switch are linked through it. Without a topology plugin there are no links.
"""

from __future__ import annotations

import re
from itertools import combinations

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.jobs import job_record
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.adapters.slurm.shapes import expand_hostlist
from pytest_sca.capabilities import JobTopology, TopologyLink, TopologyNode

_SWITCH = re.compile(r"SwitchName=(\S+)\s+Level=(\d+).*?(?:Nodes=(\S+))?$")


def leaf_switches(text: str) -> dict[str, list[str]]:
    """Leaf switch → its nodes, from ``scontrol show topology``."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _SWITCH.search(line.strip())
        if match and match.group(2) == "0" and match.group(3):
            found[match.group(1)] = expand_hostlist(match.group(3))
    return found


class SlurmTopology(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Topology` over slurmrestd and ``scontrol``."""

    def of_job(self, job_id: str) -> JobTopology:
        session = self.subject
        info = session.job(job_id)
        record = job_record(session, info)
        nodes: dict[str, TopologyNode] = {}
        for worker in record["workers"]:
            node = worker.get("node_id")
            if not node:
                continue
            entry = nodes.setdefault(node, {"id": node, "hostname": node,
                                            "cluster_id": record["queue"], "workers": [],
                                            "accelerators": []})
            entry["workers"].append(worker["rank"])
            entry["accelerators"] += [{"index": int(i)} for i in worker.get("accelerators") or []]
        links: list[TopologyLink] = []
        if len(nodes) > 1 and session.config.login is not None:
            shown = session.slurm(["scontrol", "show", "topology"], "the switch topology")
            switches = leaf_switches(shown)
            for first, second in combinations(sorted(nodes), 2):
                for switch, members in switches.items():
                    if first in members and second in members:
                        links.append({"from": first, "to": second, "kind": f"switch {switch}"})
        return {"job_id": str(info.job_id), "nodes": list(nodes.values()), "links": links,
                "simulated": False}
