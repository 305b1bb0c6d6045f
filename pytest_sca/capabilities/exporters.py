"""What exporters call each dimension of load: the one table of metric names.

Metric names differ per exporter; :data:`METRIC_NAMES` is the documented table of
what each load dimension is called by the exporters platforms commonly run (the
reference platform's names, node-exporter, NVIDIA DCGM, Huawei Ascend npu-exporter,
Cambricon, Hygon). A target extends or overrides it with
``"<exporter>.<dimension>": "<metric name>"`` entries (``adapters.prometheus.metric_names``
or ``capabilities.metrics.names``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: The dimensions of load a platform monitors (6.4.d), plus the card memory.
DIMENSIONS = ("cpu", "memory", "disk", "network", "accelerator")

#: What a metric's value measures: a share of 0..1 (``ratio``) or 0..100 (``percent``), a
#: counter that only grows (``counter``), a size in bytes or in MiB.
Scale = Literal["ratio", "percent", "counter", "bytes", "mib"]


@dataclass(frozen=True)
class Exporter:
    """How one exporter names a dimension's metric and which label tells the node / card."""

    node_label: str
    card_label: str | None
    names: dict[str, str]
    #: dimension → the scale of its metric, where the exporter documents it.
    scales: dict[str, Scale] = field(default_factory=dict)


#: exporter → its node label, card label and dimension → metric name. ``<dimension>_total``
#: names the metric of the capacity a ``bytes`` dimension is a part of (same labels): the
#: load rate is the value over it, so the value lies within 0..total.
METRIC_NAMES: dict[str, Exporter] = {
    "sca": Exporter("node", "index", {
        "cpu": "sca_node_cpu_utilization_ratio", "memory": "sca_node_memory_used_bytes",
        "memory_total": "sca_node_memory_total_bytes",
        "disk": "sca_node_disk_used_bytes", "disk_total": "sca_node_disk_total_bytes",
        "network": "sca_node_network_receive_bytes",
        "accelerator": "sca_accelerator_utilization_ratio",
        "accelerator_memory": "sca_accelerator_memory_used_bytes"},
        {"cpu": "ratio", "accelerator": "ratio", "accelerator_memory": "bytes",
         "memory": "bytes", "disk": "bytes", "network": "counter"}),
    "node-exporter": Exporter("instance", None, {
        "cpu": "node_cpu_seconds_total", "memory": "node_memory_MemAvailable_bytes",
        "memory_total": "node_memory_MemTotal_bytes",
        "disk": "node_filesystem_avail_bytes", "disk_total": "node_filesystem_size_bytes",
        "network": "node_network_receive_bytes_total"},
        {"cpu": "counter", "memory": "bytes", "disk": "bytes", "network": "counter"}),
    "dcgm": Exporter("Hostname", "gpu", {
        "accelerator": "DCGM_FI_DEV_GPU_UTIL", "accelerator_memory": "DCGM_FI_DEV_FB_USED"},
        {"accelerator": "percent", "accelerator_memory": "mib"}),
    "ascend": Exporter("instance", "id", {
        "accelerator": "npu_chip_info_utilization",
        "accelerator_memory": "npu_chip_info_hbm_used_memory"},
        {"accelerator": "percent", "accelerator_memory": "mib"}),
    "cambricon": Exporter("instance", "mlu", {
        "accelerator": "mlu_utilization", "accelerator_memory": "mlu_memory_used"},
        {"accelerator": "percent"}),
    "hygon": Exporter("instance", "device_id", {
        "accelerator": "dcu_utilizationrate", "accelerator_memory": "dcu_usedmemory_bytes"},
        {"accelerator": "percent", "accelerator_memory": "bytes"}),
}


#: Labels an exporter adds to a series for the workload that holds the node or card, and
#: changes when the card changes hands: DCGM exporter's Kubernetes mode (``pod``,
#: ``namespace``, ``container``) and HPC mode (``hpc_job``), Prometheus' renames of them
#: (``exported_*``), the reference platform's ``job`` and ``tenant``. A series is the same
#: series whoever holds its card: these labels are not part of its identity.
ATTRIBUTION_LABELS = frozenset({"pod", "namespace", "container", "hpc_job", "exported_pod",
                                "exported_namespace", "exported_container", "job", "tenant"})


def metric_table(overrides: Mapping[str, str] | None = None) -> dict[str, Exporter]:
    """:data:`METRIC_NAMES` with ``"<exporter>.<dimension>": name`` overrides applied
    (a new exporter takes ``instance`` as node label and ``id`` as card label)."""
    table = {name: Exporter(e.node_label, e.card_label, dict(e.names), dict(e.scales))
             for name, e in METRIC_NAMES.items()}
    for key, metric in (overrides or {}).items():
        exporter, _, dimension = key.partition(".")
        entry = table.setdefault(exporter, Exporter("instance", "id", {}))
        if entry.names.get(dimension) != metric:
            # Another metric: the documented scale was the old metric's.
            entry.scales.pop(dimension, None)
        entry.names[dimension] = metric
    return table
