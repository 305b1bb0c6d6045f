"""What a probe job says about where it runs (the visible-device probe of 6.2.b, 6.5.c and
9.4.2.c), and how 9.4.2.c compares it with the job's topology and record."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_sca.capabilities import Node, TargetError
from pytest_sca.suites.chapter09_performance.test_9_4_2_stability import (
    Placement,
    recorded_placement,
    shown_placement,
    workers_placement,
)
from pytest_sca.suites.library import (
    SeenByJob,
    inventory_node,
    print_visible_devices_then_sleep,
    seen_by_job,
)

NODES: list[Node] = [{"id": "bm-1", "hostname": "bm-1.dc.example"},
                     {"id": "gpu-node-03", "hostname": "gpu-node-03"}]


def _run_probe(env: dict[str, str]) -> str:
    command = print_visible_devices_then_sleep(0)
    done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout


def test_the_probe_prints_its_cards_and_node_and_says_which_variables_named_them() -> None:
    platform = seen_by_job(_run_probe({"SCA_VISIBLE_ACCELERATORS": "4,5",
                                       "CUDA_VISIBLE_DEVICES": "0,1", "SCA_NODE_NAME": "bm-1",
                                       "SLURMD_NODENAME": "other"}))
    assert platform == SeenByJob(["4", "5"], "SCA_VISIBLE_ACCELERATORS", "bm-1",
                                 "SCA_NODE_NAME")
    assert platform.devices_as_recorded
    # A runtime's variable and Slurm's node name; without any node variable, the host name.
    runtime = seen_by_job(_run_probe({"NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b",
                                      "SLURMD_NODENAME": "node7"}))
    assert (runtime.devices, runtime.node) == (["GPU-a", "GPU-b"], "node7")
    assert not runtime.devices_as_recorded
    bare = seen_by_job(_run_probe({}))
    assert bare.devices is None and bare.device_variable is None
    assert bare.node_variable == "hostname" and bare.node
    # NVIDIA's runtime reads `all` as every card of the host: no list of cards; the next
    # variable that names some counts.
    everything = seen_by_job(_run_probe({"NVIDIA_VISIBLE_DEVICES": "all",
                                         "HIP_VISIBLE_DEVICES": "0"}))
    assert (everything.devices, everything.device_variable) == (["0"], "HIP_VISIBLE_DEVICES")
    assert seen_by_job(_run_probe({"NVIDIA_VISIBLE_DEVICES": "void"})).devices is None


def test_a_node_name_is_resolved_by_id_then_host_name() -> None:
    assert inventory_node(NODES, "bm-1") == NODES[0]
    assert inventory_node(NODES, "bm-1.dc.example") == NODES[0]
    assert inventory_node(NODES, "gpu-node-03.cluster.local") == NODES[1]
    assert inventory_node(NODES, "sca-topo-job-0-x7k2p") is None
    assert inventory_node(NODES, None) is None


def _seen(node: str, cards: list[str], variable: str = "SCA_VISIBLE_ACCELERATORS"
          ) -> SeenByJob:
    return SeenByJob(cards, variable, node, "SCA_NODE_NAME")


def test_the_workers_placement_is_compared_by_name_or_by_count() -> None:
    workers = workers_placement({0: _seen("bm-1", ["0", "1"]), 1: _seen("bm-1", ["2", "3"])},
                                NODES)
    assert workers == Placement({0: "bm-1", 1: "bm-1"}, {"bm-1": ["0", "1", "2", "3"]})
    assert str(workers) == "bm-1 (ranks 0,1; cards 0,1,2,3)"
    shown = shown_placement({"nodes": [{"id": "bm-1", "workers": [0, 1], "accelerators": [
        {"index": i} for i in (3, 2, 1, 0)]}]})
    assert shown.matches(workers, by_name=True)
    moved = shown_placement({"nodes": [{"id": "bm-2", "workers": [0, 1], "accelerators": [
        {"index": i} for i in (0, 1, 2, 3)]}]})
    assert not moved.matches(workers, by_name=True)
    other_cards = Placement({0: "bm-1", 1: "bm-1"}, {"bm-1": ["4", "5", "6", "7"]})
    assert not other_cards.matches(workers, by_name=True)
    assert other_cards.matches(workers, by_name=False)  # a runtime's numbering: counts
    with pytest.raises(TargetError, match="names no node of the inventory"):
        workers_placement({0: _seen("sca-topo-job-0-x7k2p", ["0"])}, NODES)
    with pytest.raises(TargetError, match="is told of no card"):
        workers_placement({0: SeenByJob(None, None, "bm-1", "SCA_NODE_NAME")}, NODES)


def test_a_record_without_cards_is_compared_by_ranks_only() -> None:
    record, listed = recorded_placement({"workers": [
        {"rank": 0, "node_id": "bm-1", "accelerators": [0, 1]},
        {"rank": 1, "node_id": "bm-1", "accelerators": [2, 3]}]})
    assert listed and record == Placement({0: "bm-1", 1: "bm-1"},
                                          {"bm-1": ["0", "1", "2", "3"]})
    unlisted, listed = recorded_placement({"workers": [{"rank": 0, "node_id": "n"}]})
    assert not listed
    assert unlisted.matches(Placement({0: "n"}, {"n": ["0"]}), by_name=True, cards=False)
    assert not unlisted.matches(Placement({0: "m"}, {"m": ["0"]}), by_name=True, cards=False)
