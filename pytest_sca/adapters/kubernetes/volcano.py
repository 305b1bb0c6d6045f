"""Jobs, queues and gangs through Volcano, where the cluster serves it and not Kueue (or the
target file's ``batch_scheduler`` names it).

A probe job is a Volcano Job (``batch.volcano.sh/v1alpha1``, a vcjob:
https://volcano.sh/en/docs/vcjob/; types in volcano-sh/apis ``pkg/apis/batch/v1alpha1/job.go``):
one task ``worker`` of ``workers`` replicas, ``minAvailable`` = ``workers`` (gang: the
scheduler binds all of them or none, https://volcano.sh/en/docs/plugins/#gang),
``schedulerName: volcano``, ``queue`` a Queue (``scheduling.volcano.sh/v1beta1``,
https://volcano.sh/en/docs/queue/) the run creates or the target file names, and
``priorityClassName`` a ``scheduling.k8s.io/v1`` PriorityClass of the run per priority
(the ``priority`` plugin orders jobs by it; volcano-sh/volcano
``docs/user-guide/how_to_configure_priorityclass_for_job.md``). The run's PriorityClasses
say ``preemptionPolicy: Never``: a queued probe job waits for capacity, it does not evict the
one holding it.

Volcano's job controller creates the job's PodGroup (``<job>-<job uid>``, the pods'
``scheduling.k8s.io/group-name`` annotation) and, once the scheduler moved it from
``Pending`` to ``Inqueue``, its pods ``<job>-worker-<index>`` (labels and annotations
``volcano.sh/job-name``, ``volcano.sh/task-index``: ``pkg/controllers/job/
job_controller_util.go`` ``createJobPod``). The ``env`` plugin gives each pod its index and
the ``svc`` plugin a headless Service named after the job, each pod's hostname its name and
its subdomain the job (``pkg/controllers/job/plugins/svc``): rank 0 is
``<job>-worker-0.<job>``. The job's state is ``status.state.phase`` (Pending, Running,
Completing, Completed, Aborting, Aborted, Restarting, Terminating, Terminated, Failed); why
it waits is the PodGroup's ``status.phase`` (Pending, Inqueue, Running) and its
``Unschedulable`` condition (https://volcano.sh/en/docs/podgroup/).

Stop and restart are what ``vcctl job suspend`` and ``vcctl job resume`` do
(``pkg/cli/util/util.go`` ``CreateJobCommand``): a ``bus.volcano.sh/v1alpha1`` Command
``AbortJob`` / ``ResumeJob`` targeting the job, which the job controller consumes
(``pkg/controllers/job/state``: Running → Aborting → Aborted, Aborted → Restarting →
Pending).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_sca.capabilities import RUN_LABEL, Refused, wait_for

from .adapter import KubernetesAdapter
from .resources import KINDS, dns_name

SCHEDULER = "volcano"
#: The task every probe job has, and what Volcano names its pods by
#: (volcano-sh/apis ``pkg/apis/batch/v1alpha1/labels.go``).
TASK = "worker"
JOB_NAME = "volcano.sh/job-name"
TASK_INDEX = "volcano.sh/task-index"
#: How long a Queue the run created may take to be ``Open`` (Volcano's admission admits
#: jobs only into an Open queue: ``pkg/webhooks/admission/jobs/validate/admit_job.go``).
QUEUE_OPEN_S = 30.0
#: vcjob phase → the contract's job status, for the phases that say it alone (the rest:
#: running where a worker runs, else pending).
PHASES = {"Completing": "succeeded", "Completed": "succeeded", "Aborting": "stopped",
          "Aborted": "stopped", "Terminating": "failed", "Terminated": "failed",
          "Failed": "failed"}


def ensure_queue(adapter: KubernetesAdapter, queue: str) -> str:
    """The Volcano Queue jobs of ``queue`` go to: the target file's ``volcano_queue``, else
    one the run creates (weight 1, not reclaimable) and waits for its controller to open."""
    if adapter.config.volcano_queue:
        return adapter.config.volcano_queue
    root = adapter._root
    name = dns_name(f"sca-{root.context.run_id}-{queue}")
    if not root.created_here("vcqueue", "", name):
        try:
            root.create_object("vcqueue", None, {
                "metadata": {"name": name},
                "spec": {"weight": 1, "reclaimable": False}})
        except Refused as exc:
            if exc.status != 409:
                raise
        wait_for(lambda: root.get_object("vcqueue", None, name),
                 lambda q: (q.get("status") or {}).get("state") == "Open", QUEUE_OPEN_S,
                 lambda q: f"Volcano queue {name} is "
                           f"{(q.get('status') or {}).get('state') or 'without a state'}, "
                           "not Open")
    return name


def ensure_priority_class(adapter: KubernetesAdapter, priority: int) -> str:
    """A PriorityClass of value ``priority`` for this run (created once), that never preempts."""
    root = adapter._root
    name = dns_name(f"sca-{root.context.run_id}-p{priority}")
    if not root.created_here("priorityclass", "", name):
        try:
            root.create_object("priorityclass", None, {
                "metadata": {"name": name, "labels": {RUN_LABEL: root.context.run_id}},
                "value": priority, "preemptionPolicy": "Never", "globalDefault": False,
                "description": "pytest-sca probe priority"})
        except Refused as exc:
            if exc.status != 409:
                raise
    return name


def vcjob_body(name: str, labels: Mapping[str, str], annotations: Mapping[str, str],
               pod_spec: Mapping[str, Any], workers: int, queue: str,
               priority_class: str | None) -> dict[str, Any]:
    """A Volcano Job of one task of ``workers`` pods that start together or not at all."""
    plugins: dict[str, list[str]] = {"env": []}
    if workers > 1:
        plugins["svc"] = []
    return {"apiVersion": KINDS["vcjob"].api_version, "kind": "Job",
            "metadata": {"name": name, "labels": dict(labels),
                         **({"annotations": dict(annotations)} if annotations else {})},
            "spec": {"schedulerName": SCHEDULER, "minAvailable": workers, "queue": queue,
                     **({"priorityClassName": priority_class} if priority_class else {}),
                     "plugins": plugins,
                     "tasks": [{"name": TASK, "replicas": workers,
                                "template": {"metadata": {"labels": dict(labels)},
                                             "spec": dict(pod_spec)}}]}}


def master_address(name: str, workers: int) -> str:
    """Where rank 0 listens: its pod's hostname in the job's subdomain (the ``svc`` plugin)."""
    return f"{name}-{TASK}-0.{name}" if workers > 1 else "127.0.0.1"


def command(adapter: KubernetesAdapter, job: Mapping[str, Any], action: str) -> None:
    """Send the job controller ``action`` (``AbortJob``, ``ResumeJob``) for ``job``, as
    ``vcctl`` does; the controller consumes the Command (it is owned by the job)."""
    meta = job["metadata"]
    spec = KINDS["vccommand"]
    target = {"apiVersion": KINDS["vcjob"].api_version, "kind": "Job", "name": meta["name"],
              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}
    body = {"apiVersion": spec.api_version, "kind": spec.kind,
            "metadata": {"generateName": f"{meta['name']}-{action.lower()}-",
                         "namespace": meta["namespace"],
                         "labels": {RUN_LABEL: adapter.context.run_id},
                         "ownerReferences": [target]},
            "action": action, "target": target}
    adapter.require("vccommand", what=f"{action} of a Volcano job (bus.volcano.sh Commands)")
    adapter.call(f"create command {action}", adapter.custom().create_namespaced_custom_object,
                 spec.group, spec.version, meta["namespace"], spec.plural, body)


def podgroup(adapter: KubernetesAdapter, job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The PodGroup Volcano's job controller made for ``job`` (``<job>-<uid>``), or None."""
    meta = job["metadata"]
    try:
        return dict(adapter.get_object("podgroup", meta["namespace"],
                                       f"{meta['name']}-{meta['uid']}"))
    except Refused as exc:
        if exc.status != 404:
            raise
    return None


def status_of(job: Mapping[str, Any], workers_running: bool) -> str:
    """The contract's status of a vcjob: its phase where that says it, else running where a
    worker runs (a gang starts whole), else pending (its PodGroup Pending or Inqueue)."""
    phase = ((job.get("status") or {}).get("state") or {}).get("phase") or "Pending"
    if phase in PHASES:
        return PHASES[phase]
    return "running" if workers_running else "pending"


def phase_time(job: Mapping[str, Any], *phases: str) -> str | None:
    """When the vcjob first entered one of ``phases`` (its ``status.conditions``)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") in phases and condition.get("lastTransitionTime"):
            return str(condition["lastTransitionTime"])
    return None
