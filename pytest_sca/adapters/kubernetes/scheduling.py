"""``scheduling``: priority queues through Kueue, or through Volcano where the cluster
serves it and not Kueue (the target file's ``batch_scheduler`` may name either).

Kueue (https://kueue.sigs.k8s.io/docs/concepts/): a queued job is a ``batch/v1`` Job
created suspended with the labels ``kueue.x-k8s.io/queue-name`` (a LocalQueue the run
creates in its namespace, pointing at the ClusterQueue the target file names) and
``kueue.x-k8s.io/priority-class`` (a WorkloadPriorityClass of that value the run creates);
Kueue admits it by unsuspending it, in priority order, and says why it waits in the
Workload's ``QuotaReserved``/``Admitted`` conditions
(https://kueue.sigs.k8s.io/docs/concepts/workload/).

Volcano (:mod:`.volcano`, https://volcano.sh/en/docs/queue/): a queued job is a Volcano Job
in a Queue of the run (or the target file's ``volcano_queue``) with the ``priorityClassName``
of a PriorityClass of that value the run creates; the scheduler moves its PodGroup from
``Pending`` to ``Inqueue`` and binds all its pods at once, higher priority first.

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

from . import volcano
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
        scheduler = adapter.batch_scheduler()
        if scheduler is None:
            kinds = {"auto": ("localqueue", "vcjob", "podgroup"), "kueue": ("localqueue",),
                     "volcano": ("vcjob", "podgroup")}[adapter.config.batch_scheduler]
            adapter.require(*kinds, what="queued jobs with priorities (Kueue or Volcano)")
            # Served, but not wholly (a Volcano without its PodGroups).
            raise Unsupported(f"the cluster serves no whole batch scheduler of "
                              f"batch_scheduler {adapter.config.batch_scheduler}")
        if scheduler == "volcano":
            adapter.ensure_namespace()
            vcjob = (volcano.ensure_queue(adapter, queue),
                     volcano.ensure_priority_class(adapter, priority))
            job = KubeJobs(adapter).create(name, image, command, resources, workers=workers,
                                           labels=labels, vcjob=vcjob)
            return {**job, "priority": priority}
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

    def podgroup(self, job_id: str) -> dict[str, Any] | None:
        """The Volcano PodGroup of a queued job (its phase and conditions), or None."""
        adapter = self.subject
        found = KubeJobs(adapter)._read(job_id)[1]
        return volcano.podgroup(adapter, found) if found is not None else None

    def workload(self, job_id: str) -> dict[str, Any] | None:
        """The Kueue Workload of a queued job (owned by it), or None."""
        adapter = self.subject
        for item in adapter.list_objects("workload", adapter.namespace):
            owners = item.get("metadata", {}).get("ownerReferences") or []
            if any(o.get("kind") == "Job" and o.get("name") == job_id for o in owners):
                return dict(item)
        return None
