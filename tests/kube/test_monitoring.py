"""The cluster's Prometheus through the service proxy (``prometheus_service``), on the
emulated cluster: the fleet inventory is the Nodes' cards, each card's samples come from its
vendor's exporter, a card the inventory lacks is ``found: false``, and without the setting
both job series and telemetry are ``Unsupported``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.capabilities import TargetError, Unsupported

from .cluster import NODES, emulated_kube


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubernetesAdapter]:
    with emulated_kube(tmp_path_factory.mktemp("monitoring")) as cluster:
        made = KubernetesAdapter(KubernetesConfig(**cluster.adapter_settings()),
                                 AdapterContext("monitoring", None, "run-monitoring"))
        yield made
        made.close()


def test_every_card_has_its_exporters_fresh_samples(adapter: KubernetesAdapter) -> None:
    telemetry: Any = adapter.capability("telemetry")
    first, rest = telemetry.inventory_page(0, 2), telemetry.inventory_page(2, 100)
    nodes = first["items"] + rest["items"]
    assert first["total"] == len(NODES) == len(nodes) and len(first["items"]) == 2
    cards = [f"{n['id']}/{c['index']}" for n in nodes for c in n["accelerators"]]
    deadline = time.monotonic() + 60
    while True:
        try:
            series = telemetry.card_series([*cards, "gpu-node-01/99"])
        except TargetError as down:
            # The controllers start the Prometheus pod after the cluster is up: until it
            # runs, the service proxy answers 503 "no endpoints available" (as a real one).
            if "no endpoints" not in str(down) or time.monotonic() > deadline:
                raise
            time.sleep(1)
            continue
        if all(s["samples"] for s in series[:-1]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    by_card = {s["card"]: s for s in series}
    assert not by_card["gpu-node-01/99"]["found"]
    empty = [card for card in cards if not by_card[card]["samples"]]
    assert not empty, empty
    assert by_card["gpu-node-01/0"]["metric"] == "DCGM_FI_DEV_GPU_UTIL"
    assert by_card["npu-node-1/0"]["metric"] == "npu_chip_info_utilization"
    assert all(time.time() - float(by_card[c]["last_sample_at"]) < 30 for c in cards)


def test_without_prometheus_service_it_is_unsupported(adapter: KubernetesAdapter) -> None:
    settings = adapter.config.model_dump()
    settings["prometheus_service"] = None
    bare = KubernetesAdapter(KubernetesConfig(**settings),
                             AdapterContext("monitoring", None, "run-monitoring-bare"))
    try:
        with pytest.raises(Unsupported, match="prometheus_service"):
            bare.capability("telemetry").card_series(["gpu-node-01/0"])  # type: ignore[attr-defined]
        with pytest.raises(Unsupported, match="prometheus_service"):
            bare.capability("devtools").job_metrics("any")  # type: ignore[attr-defined]
    finally:
        bare.close()
