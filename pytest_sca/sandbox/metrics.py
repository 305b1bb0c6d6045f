"""``/metrics``: Prometheus exposition of nodes, simulated accelerators and jobs' real processes.

SSH nodes run on this machine, so their CPU, memory, disk and network are
the host's (``simulated="false"``); the other nodes and every accelerator
are simulated from what the scheduler allocated (``simulated="true"``).
Job figures (CPU seconds, RSS) are summed over each worker's real processes.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.scheduling_policy import cards_exported
from pytest_sca.sandbox.store import Store


def _host_cpu_busy_ratio() -> float:
    """Share of the host's CPU time that was not idle since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields) or 1.0
    return 1.0 - idle / total


def _host_memory_bytes() -> tuple[float, float]:
    """(total, available) memory of the host."""
    values = {}
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                key, _, rest = line.partition(":")
                values[key] = float(rest.split()[0]) * 1024
    except OSError:
        return 0.0, 0.0
    return values.get("MemTotal", 0.0), values.get("MemAvailable", 0.0)


def _host_network_bytes() -> tuple[float, float]:
    """(received, sent) bytes over every interface of the host."""
    received = sent = 0.0
    try:
        with open("/proc/net/dev") as netdev:
            for line in netdev.readlines()[2:]:
                numbers = line.split(":", 1)[1].split()
                received += float(numbers[0])
                sent += float(numbers[8])
    except (OSError, IndexError, ValueError):
        pass
    return received, sent


#: The sample period of the simulated cards' utilisation (seconds).
UTIL_PERIOD_S = 1.0


#: How long ago the exporters stopped sampling under ``exporters_stalled``.
STALLED_FOR_S = 15 * 60.0

#: The blank sentinels DCGM serves for a field it cannot read (DCGM_FP64_BLANK,
#: DCGM_INT64_BLANK): what every card series shows under ``card_series_blank``.
BLANK_SHARE = 140737488355328.0
BLANK_BYTES = float(0x7FFFFFFFFFFFFFF0)


class MetricsExporter:
    """Builds every metric family at scrape time from the platform's live state.

    Node and card samples carry the time they were taken (explicit exposition timestamps),
    as an exporter that samples on its own schedule says when it sampled.
    """

    def __init__(self, store: Store, runner: JobRunner, state_dir: Path, faults: Faults) -> None:
        self.store = store
        self.runner = runner
        self.state_dir = state_dir
        self.faults = faults
        #: job → (monotonic time, CPU seconds, run seconds) of earlier scrapes, newest last.
        self._busy: dict[str, list[tuple[float, float, float]]] = {}
        self._lock = threading.Lock()
        self._stalled: list[Metric] | None = None

    def _utilisation(self, job_id: str, cpu_seconds: float, run_seconds: float) -> float:
        """The share of the last sample period (the newest earlier scrape at least
        UTIL_PERIOD_S old, else the oldest) a job's processes were busy, as an exporter such
        as DCGM reports it; before a second scrape, the share since the job started."""
        now = time.monotonic()
        with self._lock:
            history = self._busy.setdefault(job_id, [])
            older = [h for h in history if now - h[0] >= UTIL_PERIOD_S]
            base = older[-1] if older else (history[0] if history else None)
            history.append((now, cpu_seconds, run_seconds))
            del history[:max(0, len(history) - 64)]
        if base is not None and run_seconds - base[2] > 0:
            return min(1.0, max(0.0, (cpu_seconds - base[1]) / (run_seconds - base[2])))
        return min(1.0, cpu_seconds / run_seconds) if run_seconds > 0 else 0.0

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def collect(self) -> Iterator[Metric]:
        job_families, cpu_seconds, run_seconds = self._job_families()
        if Fault.EXPORTERS_STALLED in self.faults:
            if self._stalled is None:
                self._stalled = self._node_families(cpu_seconds, run_seconds,
                                                    time.time() - STALLED_FOR_S)
            node_families = self._stalled
        else:
            node_families = self._node_families(cpu_seconds, run_seconds, time.time())
        yield from node_families
        yield from job_families

    def _job_families(self) -> tuple[list[Metric], dict[str, float], dict[str, float]]:
        """Job figures, and each running job's CPU seconds and seconds run (summed over
        its workers)."""
        job_labels = ["job", "tenant", "rank", "node"]
        job_cpu = GaugeMetricFamily("sca_job_cpu_seconds", "CPU seconds of a worker's processes",
                                    labels=job_labels)
        job_rss = GaugeMetricFamily("sca_job_memory_rss_bytes", "RSS of a worker's processes",
                                    labels=job_labels)
        job_progress = GaugeMetricFamily("sca_job_progress_ratio", "job progress (0..1)",
                                         labels=["job", "tenant"])
        job_status = GaugeMetricFamily("sca_job_running", "1 while the job runs",
                                       labels=["job", "tenant"])

        cpu_seconds: dict[str, float] = {}
        run_seconds: dict[str, float] = {}
        for job, rank, procs, ran in self.runner.process_stats():
            node = job["workers"][rank]["node_id"] or ""
            values = [job["id"], job["tenant_id"], str(rank), node]
            seconds = sum(p.cpu_seconds for p in procs)
            job_cpu.add_metric(values, seconds)
            job_rss.add_metric(values, float(sum(p.rss_bytes for p in procs)))
            cpu_seconds[job["id"]] = cpu_seconds.get(job["id"], 0.0) + seconds
            run_seconds[job["id"]] = run_seconds.get(job["id"], 0.0) + ran

        for job in self.store.list("job", status="running"):
            progress = self.runner.progress(job)
            job_progress.add_metric([job["id"], job["tenant_id"]], progress)
            job_status.add_metric([job["id"], job["tenant_id"]], 1.0)
        return [job_cpu, job_rss, job_progress, job_status], cpu_seconds, run_seconds

    def _node_families(self, cpu_seconds: dict[str, float], run_seconds: dict[str, float],
                       now: float) -> list[Metric]:
        """Node and card figures, each sample stamped ``now`` (when it was taken)."""
        node_labels = ["node", "simulated"]
        if Fault.CLUSTER_UNLABELLED_METRICS not in self.faults:
            node_labels.insert(1, "cluster")
        cpu = GaugeMetricFamily("sca_node_cpu_utilization_ratio", "node CPU busy share",
                                labels=node_labels)
        mem_total = GaugeMetricFamily("sca_node_memory_total_bytes", "node memory",
                                      labels=node_labels)
        mem_used = GaugeMetricFamily("sca_node_memory_used_bytes", "node memory in use",
                                     labels=node_labels)
        disk_total = GaugeMetricFamily("sca_node_disk_total_bytes", "node disk",
                                       labels=node_labels)
        disk_used = GaugeMetricFamily("sca_node_disk_used_bytes", "node disk in use",
                                      labels=node_labels)
        net_rx = GaugeMetricFamily("sca_node_network_receive_bytes", "node bytes received",
                                   labels=node_labels)
        net_tx = GaugeMetricFamily("sca_node_network_transmit_bytes", "node bytes sent",
                                   labels=node_labels)
        acc_labels = ["node", "index", "vendor", "model", "job", "simulated"]
        acc_util = GaugeMetricFamily("sca_accelerator_utilization_ratio",
                                     "accelerator busy share (simulated)", labels=acc_labels)
        acc_mem = GaugeMetricFamily("sca_accelerator_memory_used_bytes",
                                    "accelerator memory in use (simulated)", labels=acc_labels)
        acc_mem_total = GaugeMetricFamily("sca_accelerator_memory_total_bytes",
                                          "accelerator memory (simulated)", labels=acc_labels)

        busy_ratio = _host_cpu_busy_ratio()
        host_total, host_available = _host_memory_bytes()
        rx, tx = _host_network_bytes()
        disk = shutil.disk_usage(self.state_dir)
        # Memory, disk and network series are the node exporter's: under
        # load_series_on_one_node every node but the first adds its figures to families that
        # are never exported.
        node_exported = (mem_total, mem_used, disk_total, disk_used, net_rx, net_tx)
        scale_used = 1024.0 if Fault.MEMORY_LOAD_SCALED_TWICE in self.faults else 1.0
        for position, node in enumerate(self.store.list("node")):
            real = bool(node.get("ssh"))
            labels = [node["id"], "false" if real else "true"]
            if "cluster" in node_labels:
                labels.insert(1, node["cluster_id"])
            if position and Fault.LOAD_SERIES_ON_ONE_NODE in self.faults:
                mem_total, mem_used, disk_total, disk_used, net_rx, net_tx = (
                    GaugeMetricFamily(f.name, f.documentation, labels=node_labels)
                    for f in node_exported)
            held = [a for a in node["accelerators"] if a["allocated_to"]]
            share = len(held) / max(1, len(node["accelerators"]))
            if real:
                cpu.add_metric(labels, busy_ratio, timestamp=now)
                mem_total.add_metric(labels, host_total, timestamp=now)
                mem_used.add_metric(labels, (host_total - host_available) * scale_used,
                                    timestamp=now)
                disk_total.add_metric(labels, float(disk.total), timestamp=now)
                disk_used.add_metric(labels, float(disk.used), timestamp=now)
                if Fault.NETWORK_LOAD_UNMONITORED not in self.faults:
                    net_rx.add_metric(labels, rx, timestamp=now)
                    net_tx.add_metric(labels, tx, timestamp=now)
            else:
                gib = 1024.0**3
                cpu.add_metric(labels, share, timestamp=now)
                mem_total.add_metric(labels, node["memory_gib"] * gib, timestamp=now)
                mem_used.add_metric(labels, share * node["memory_gib"] * gib * scale_used,
                                    timestamp=now)
                disk_total.add_metric(labels, 3.84e12, timestamp=now)
                disk_used.add_metric(labels, 1.0e11, timestamp=now)
                if Fault.NETWORK_LOAD_UNMONITORED not in self.faults:
                    net_rx.add_metric(labels, 0.0, timestamp=now)
                    net_tx.add_metric(labels, 0.0, timestamp=now)
            for card in cards_exported(node, self.faults):
                job_id = card["allocated_to"] or ""
                values = [node["id"], str(card["index"]), card["vendor"], card["model"],
                          job_id, "true"]
                total = card["memory_gib"] * 1024.0**3
                # A held card is as busy as its job's real processes are on the CPU.
                util = 0.0
                if run_seconds.get(job_id):
                    util = self._utilisation(job_id, cpu_seconds[job_id], run_seconds[job_id])
                used = 0.5 * total if job_id else 0.0
                if Fault.CARD_SERIES_BLANK in self.faults:
                    util, used = BLANK_SHARE, BLANK_BYTES
                acc_util.add_metric(values, util, timestamp=now)
                acc_mem.add_metric(values, used, timestamp=now)
                acc_mem_total.add_metric(values, total, timestamp=now)

        return [cpu, *node_exported, acc_util, acc_mem, acc_mem_total]
