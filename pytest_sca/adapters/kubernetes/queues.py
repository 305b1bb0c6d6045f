"""The queues a run creates in Kueue: a LocalQueue per namespace and queue name, pointing
at the ClusterQueue the target file names, and a WorkloadPriorityClass per priority
(https://kueue.sigs.k8s.io/docs/concepts/local_queue/, …/workload_priority_class/).
Both are created with the evaluator's credential (a tenant's role may not create them) and
removed at the end of the run's check."""

from __future__ import annotations

import contextlib

from pytest_sca.capabilities import RUN_LABEL, Refused

from .adapter import KubernetesAdapter
from .resources import dns_name


def ensure_local_queue(adapter: KubernetesAdapter, namespace: str, queue: str) -> str:
    """The run's LocalQueue for ``queue`` in ``namespace`` (created once)."""
    root = adapter._root
    name = dns_name(f"sca-{queue}")
    if not root.created_here("localqueue", namespace, name):
        try:
            root.create_object("localqueue", namespace, {
                "metadata": {"name": name},
                "spec": {"clusterQueue": adapter.config.cluster_queue}})
        except Refused as exc:
            if exc.status != 409:
                raise
    return name


def ensure_priority_class(adapter: KubernetesAdapter, priority: int) -> str:
    """A WorkloadPriorityClass of value ``priority`` for this run (created once)."""
    root = adapter._root
    name = dns_name(f"sca-{adapter.context.run_id}-p{priority}")
    if not root.created_here("workloadpriorityclass", "", name):
        with contextlib.suppress(Refused):
            root.create_object("workloadpriorityclass", None, {
                "metadata": {"name": name, "labels": {RUN_LABEL: adapter.context.run_id}},
                "value": priority, "description": "pytest-sca probe priority"})
    return name
