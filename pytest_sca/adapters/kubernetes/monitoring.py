"""The cluster's own Prometheus, reached through the API server's service proxy
(``prometheus_service``; kube-prometheus runs it as ``monitoring/prometheus-k8s``), for what
the Kubernetes API keeps no history of:

- a job's metric series (``devtools.job_metrics``, 7.2.e): the kubelet's cAdvisor counter
  ``container_cpu_usage_seconds_total`` of each worker pod's container, its raw samples
  read with a range selector (https://prometheus.io/docs/prometheus/latest/querying/api/,
  "Instant queries" answering a ``matrix``; cAdvisor's labels ``namespace``, ``pod``,
  ``container``: https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md);
- fleet telemetry (``telemetry``, 9.4.2.d): the cards of every Node's allocatable
  device-plugin resources (the inventory is Kubernetes', so that a card no exporter reports
  is seen missing), and each card's samples from its vendor's exporter
  (:data:`~pytest_sca.capabilities.exporters.METRIC_NAMES`: DCGM exporter's ``Hostname``
  and ``gpu`` labels, https://github.com/NVIDIA/dcgm-exporter; the others by ``instance``,
  whose host is the node's address where the exporter DaemonSet runs on the host network).

Without ``prometheus_service`` both raise :class:`Unsupported`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    CardSeries,
    FleetNode,
    FleetPage,
    JobMetrics,
    MetricSeries,
    Node,
    TargetError,
    Unsupported,
    metric_table,
)

from .adapter import KubernetesAdapter, raw_request

#: The cAdvisor counter of a container's CPU time, in seconds.
CPU_COUNTER = "container_cpu_usage_seconds_total"
#: Card vendor (:data:`~.resources.VENDOR_RESOURCES`) → the exporter that reports its cards.
VENDOR_EXPORTERS: dict[str, str] = {"nvidia": "dcgm", "huawei": "ascend",
                                    "cambricon": "cambricon", "hygon": "hygon"}
#: How far back a card's samples are read: older ones cannot be fresh.
CARD_WINDOW_S = 60


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def prometheus_service(adapter: KubernetesAdapter) -> str:
    """``prometheus_service`` of the target file; :class:`Unsupported` when it names none."""
    where = adapter.config.prometheus_service
    if not where:
        raise Unsupported("the Kubernetes API keeps no metric series (metrics.k8s.io is "
                          "instantaneous): set adapters.kubernetes.prometheus_service to the "
                          "cluster's Prometheus (kube-prometheus: monitoring/prometheus-k8s:web)")
    return str(where)


def prometheus_query(adapter: KubernetesAdapter, promql: str, at: float) -> list[Any]:
    """The ``result`` of an instant query at ``at`` (epoch seconds) to the cluster's
    Prometheus; :class:`Unsupported` when the target names none, :class:`TargetError` when
    it does not answer a successful query."""
    where = prometheus_service(adapter)
    namespace, _, service = where.partition("/")
    path = (f"/api/v1/namespaces/{namespace}/services/{service}/proxy/api/v1/query?"
            + urlencode({"query": promql, "time": f"{at:.3f}"}))
    answer = raw_request(adapter, "GET", path, None, "application/json")
    try:
        body = json.loads(answer.text)
    except ValueError:
        body = None
    if answer.status != 200 or not isinstance(body, dict) or body.get("status") != "success":
        raise TargetError(f"the cluster's Prometheus ({where}) answered {answer.status} to "
                          f"{promql!r}: {answer.text[:160]}")
    return list((body.get("data") or {}).get("result") or [])


def job_series(adapter: KubernetesAdapter, job_id: str, since: str | None,
               until: str | None) -> JobMetrics:
    """Each worker's CPU-time series (``cpu_seconds``) over the window: the raw cAdvisor
    samples of the worker pod's first container."""
    from .jobs import KubeJobs

    prometheus_service(adapter)  # before anything is read: Unsupported without it
    jobs = KubeJobs(adapter)
    pods = sorted(jobs._pods(job_id), key=jobs._rank)
    if not pods:
        raise TargetError(f"job {job_id} has no pods to read metrics of")
    # Kubernetes times have one-second resolution: the window reaches one second past.
    end = (_epoch(until) if until else time.time()) + 1.0
    series: list[MetricSeries] = []
    for pod in pods:
        begin = _epoch(since) if since else (
            pod.status.start_time.timestamp() if pod.status and pod.status.start_time
            else end - 300)
        window = max(1, int(end - begin + 1))
        selector = (f'{CPU_COUNTER}{{namespace="{_escape(pod.metadata.namespace)}",'
                    f'pod="{_escape(pod.metadata.name)}",'
                    f'container="{_escape(pod.spec.containers[0].name)}"}}[{window}s]')
        points = [(float(t), float(v)) for found in prometheus_query(adapter, selector, end)
                  for t, v in found.get("values") or [] if begin - 1.0 <= float(t) <= end]
        series.append({"name": "cpu_seconds", "unit": "s", "worker": jobs._rank(pod),
                       "points": [{"time": _rfc3339(t), "value": v} for t, v in sorted(points)]})
    times = sorted(_epoch(p["time"]) for s in series for p in s.get("points") or [])
    steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    return {"job_id": job_id, "interval_s": sorted(steps)[len(steps) // 2] if steps else 0.0,
            "series": series}


class KubeTelemetry(Facade[KubernetesAdapter]):
    """Nodes' cards and their exporters' samples
    (:class:`~pytest_sca.capabilities.Telemetry`)."""

    def _fleet(self) -> list[Node]:
        from .compute import KubeCompute

        return sorted(KubeCompute(self.subject).list_nodes(), key=lambda n: str(n["id"]))

    def inventory_page(self, offset: int, limit: int) -> FleetPage:
        nodes = self._fleet()
        items: list[FleetNode] = [{"id": n["id"], "accelerators": n.get("accelerators") or []}
                                  for n in nodes[offset:offset + limit]]
        return {"items": items, "total": len(nodes), "offset": offset, "simulated": False}

    def card_series(self, cards: Sequence[str]) -> list[CardSeries]:
        adapter = self.subject
        table = metric_table()
        names: dict[str, str] = {}       # node address or name → node
        for read in adapter.call("list nodes", adapter.core().list_node).items:
            names[read.metadata.name] = read.metadata.name
            for address in (read.status.addresses or []) if read.status else []:
                names[address.address] = read.metadata.name
        where: dict[str, tuple[str, str, int]] = {}  # card → (exporter, node, ordinal)
        known: set[str] = set()
        for node in self._fleet():
            seen: dict[str, int] = {}
            for device in node.get("accelerators") or []:
                resource = str(device.get("resource"))
                # An exporter numbers the cards of its own kind from 0.
                ordinal = seen.get(resource, 0)
                seen[resource] = ordinal + 1
                name = f"{node['id']}/{device.get('index')}"
                known.add(name)
                exporter = VENDOR_EXPORTERS.get(str(device.get("vendor")))
                if exporter is not None:
                    where[name] = (exporter, str(node["id"]), ordinal)
        now = time.time()
        found: dict[tuple[str, str, int], list[list[float | str]]] = {}
        for exporter in sorted({where[c][0] for c in cards if c in where}):
            entry = table[exporter]
            wanted = sorted({a for a, n in names.items()
                             if any(where[c][:2] == (exporter, n) for c in cards if c in where)})
            pattern = "(" + "|".join(re.escape(a) for a in wanted) + ")(:[0-9]+)?"
            selector = (f'{entry.names["accelerator"]}{{{entry.node_label}=~'
                        f'"{_escape(pattern)}"}}[{CARD_WINDOW_S}s]')
            for result in prometheus_query(adapter, selector, now):
                labels = result.get("metric") or {}
                host = str(labels.get(entry.node_label, "")).rsplit(":", 1)[0] \
                    if entry.node_label == "instance" else str(labels.get(entry.node_label))
                node_id = names.get(host)
                try:
                    ordinal = int(labels.get(entry.card_label or "", ""))
                except ValueError:
                    continue
                if node_id is not None:
                    found[(exporter, node_id, ordinal)] = [
                        [float(t), float(v)] for t, v in result.get("values") or []]
        answer: list[CardSeries] = []
        for card in cards:
            if card not in where:
                # A card of a vendor no known exporter reports has no series to read.
                answer.append({"card": card, "found": card in known, "samples": [],
                               "last_sample_at": None, "simulated": False})
                continue
            samples = found.get(where[card], [])
            answer.append({"card": card, "found": True,
                           "metric": table[where[card][0]].names["accelerator"],
                           "samples": samples,
                           "last_sample_at": max((float(s[0]) for s in samples), default=None),
                           "simulated": False})
        return answer

