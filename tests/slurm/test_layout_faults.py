"""Faults of the cluster's node layout: a second, plainer cluster (its GPUs configured without
a model, one shard per card so no card is shared, no cloud node) on which the inventory,
sharing and burst checks fail. A cluster of its own: node definitions change only with a
restart of every daemon."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import PRINCIPAL, SlurmCluster
from .conftest import needs_slurm
from .evaluate import evaluate, write_target

pytestmark = needs_slurm

#: Every node: GPUs without a model (``gres.conf`` without ``Type``), one shard per card.
PLAIN_NODES: dict[str, tuple[str, dict[str, int], int]] = {
    "n1": ("gpu", {"": 2}, 1), "n2": ("gpu", {"": 2}, 1),
    "n3": ("npu", {"": 2}, 0), "n4": ("npu", {"": 2}, 0),
}

#: item → words of the fail reason on the plain cluster.
FAILS = {
    "6.2.a": "no accelerator with vendor and model",
    "6.2.e": "0 domestic accelerator vendor(s) managed",
    "6.2.b": "two half-card jobs do not share one card",
    "6.8.a": "not one shared card",
    "6.5.e": "declares no burst policy",
}


@pytest.fixture(scope="module")
def plain_cluster() -> Iterator[SlurmCluster]:
    folder = Path(tempfile.mkdtemp(prefix="sca-slurm-plain-"))
    cluster = SlurmCluster(folder, nodes=dict(PLAIN_NODES))
    cluster.settings["CloudNodes"] = "no"
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_plain_layout_fails_inventory_sharing_and_burst(plain_cluster: SlurmCluster,
                                                        tmp_path: Path) -> None:
    target = write_target(plain_cluster, tmp_path)
    verdicts = evaluate(target, FAILS, env={"SLURM_JWT": plain_cluster.token(PRINCIPAL)})
    wrong = {item: verdicts[item] for item, words in FAILS.items()
             if verdicts[item][0] != "fail" or words not in verdicts[item][1]}
    assert not wrong, wrong
