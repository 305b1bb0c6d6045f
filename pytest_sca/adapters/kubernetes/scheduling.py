"""``scheduling``: priority queues through Kueue.

Kueue (https://kueue.sigs.k8s.io/docs/concepts/): a queued job is a ``batch/v1`` Job
created suspended with the labels ``kueue.x-k8s.io/queue-name`` (a LocalQueue the run
creates in its namespace, pointing at the ClusterQueue the target file names) and
``kueue.x-k8s.io/priority-class`` (a WorkloadPriorityClass of that value the run creates);
Kueue admits it by unsuspending it, in priority order, and says why it waits in the
Workload's ``QuotaReserved``/``Admitted`` conditions
(https://kueue.sigs.k8s.io/docs/concepts/workload/).

Volcano's Queue and PodGroup kinds are known to discovery (the doctor names them) but not
yet driven: a Volcano-only cluster gets ``Unsupported`` naming Kueue.

Kueue offers no off-cloud burst policy: :meth:`burst_policy` is :class:`Unsupported`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import (
    BurstPolicy,
    Job,
    Labels,
    Resources,
    Unsupported,
)

from .adapter import KubernetesAdapter
from .jobs import KubeJobs
from .queues import ensure_local_queue, ensure_priority_class
from .resources import PRIORITY_LABEL, QUEUE_LABEL

#: How a Workload's conditions read as a job's queue state (Kueue's Workload API).
WORKLOAD_STATES = ("Finished", "Evicted", "Preempted", "Admitted", "QuotaReserved",
                   "Pending")


class KubeScheduling(Facade[KubernetesAdapter]):
    """Priority queues (:class:`~pytest_sca.capabilities.Scheduling`)."""

    def submit_queued(self, name: str, image: str, command: Sequence[str],
                      resources: Resources, *, priority: int, queue: str = "default",
                      workers: int = 1, labels: Labels | None = None) -> Job:
        adapter = self.subject
        adapter.require("localqueue", what="queued jobs with priorities (Kueue)")
        namespace = adapter.ensure_namespace()
        local_queue = ensure_local_queue(adapter, namespace, queue)
        priority_class = ensure_priority_class(adapter, priority)
        job = KubeJobs(adapter).create(
            name, image, command, resources, workers=workers, labels=labels,
            job_labels={QUEUE_LABEL: local_queue, PRIORITY_LABEL: priority_class},
            suspend=True)
        return {**job, "priority": priority, "queue": local_queue}

    def burst_policy(self) -> BurstPolicy:
        raise Unsupported(
            "Kubernetes (Kueue, Volcano) declares no off-cloud burst policy: add "
            "`adapters.platform` if the platform's own API has one")

    def workload(self, job_id: str) -> dict[str, Any] | None:
        """The Kueue Workload of a queued job (owned by it), or None."""
        adapter = self.subject
        for item in adapter.list_objects("workload", adapter.namespace):
            owners = item.get("metadata", {}).get("ownerReferences") or []
            if any(o.get("kind") == "Job" and o.get("name") == job_id for o in owners):
                return dict(item)
        return None
