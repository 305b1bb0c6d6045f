"""Volcano for the emulated cluster — a TEST DOUBLE of Volcano's controllers and scheduler
(https://volcano.sh/en/docs/; volcano-sh/volcano ``pkg/controllers/job``,
``pkg/scheduler``; types in volcano-sh/apis), moving the objects through the states they
describe:

- queue controller: a Queue without a state is ``Open`` (``status.state``); admission (the
  webhook ``pkg/webhooks/admission/jobs/validate/admit_job.go``) refuses a Job whose queue
  does not exist or is not Open, or whose ``minAvailable`` exceeds its replicas;
- job controller (``batch.volcano.sh/v1alpha1`` Jobs): a PodGroup ``<job>-<job uid>`` per
  job (``minMember`` = ``minAvailable``, its queue, ``priorityClassName``, ``minResources``
  the requests of its first ``minAvailable`` pods); once the scheduler moved the PodGroup off
  ``Pending``, the pods ``<job>-<task>-<index>`` with the ``volcano.sh/job-name``,
  ``volcano.sh/task-spec``, ``volcano.sh/task-index`` labels and annotations and
  ``scheduling.k8s.io/group-name`` (``createJobPod``), the job's ``schedulerName`` and
  ``priorityClassName``; the ``env`` plugin's ``VC_TASK_INDEX``/``VK_TASK_INDEX`` and the
  ``svc`` plugin's headless Service, hostname and subdomain; ``status.state.phase``
  Pending → Running (``minAvailable`` pods running) → Completed (every pod finished, at
  least ``minAvailable`` succeeded) or Failed, with ``status.conditions`` per phase;
  Commands (``bus.volcano.sh/v1alpha1``) ``AbortJob`` (pods and PodGroup deleted, Aborting →
  Aborted) and ``ResumeJob`` (Aborted → Restarting → Pending, ``retryCount`` + 1, Failed at
  ``maxRetry``), each consumed (deleted) once handled (``pkg/controllers/job/state``);
- scheduler (``pkg/scheduler``: the enqueue and allocate actions; the priority, gang,
  overcommit and capacity plugins): jobs ordered by their PriorityClass's value, then by
  creation; enqueue moves a PodGroup ``Pending`` → ``Inqueue`` while the cluster's
  allocatable × 1.2 (``overcommit-factor``) less what pods use and Inqueue jobs reserve holds
  its ``minResources`` (else a ``Unschedulable`` event "resource in cluster is overused"),
  within its queue's ``capability``; allocate binds a job's pending pods only if at least
  ``minMember`` of them (with those already running) fit the nodes' free resources at once
  (gang), else it binds none and sets the PodGroup's ``Unschedulable`` condition
  ("<n>/<m> tasks in gang unschedulable: …", reason ``NotEnoughResources``) and each pod's
  ``FailedScheduling`` event; a PodGroup whose ``minMember`` pods run is ``Running``.

Not emulated: preemption and reclaim (the run's PriorityClasses never preempt), hierarchical
queues, DRF/proportion shares between queues, task dependencies, policies other than the
defaults, the ``ssh`` plugin. DRA claims of a gang's pods are checked pod by pod.

Faults (named for the behaviour): ``volcano_gang_off`` — the scheduler places pods one by one
as resources free up (no gang: every PodGroup is enqueued and each pod that fits is bound);
``volcano_priority_ignored`` — jobs are enqueued and allocated first come, first served,
whatever their priority.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from . import controllers as kube
from .apiserver import ApiError, Principal, Served, now

BATCH, SCHEDULING, BUS = "batch.volcano.sh", "scheduling.volcano.sh", "bus.volcano.sh"
JOB_NAME = "volcano.sh/job-name"
JOB_NAMESPACE = "volcano.sh/job-namespace"
TASK_SPEC = "volcano.sh/task-spec"
TASK_INDEX = "volcano.sh/task-index"
QUEUE_NAME = "volcano.sh/queue-name"
GROUP_NAME = "scheduling.k8s.io/group-name"
SCHEDULER = "volcano"
#: The overcommit plugin's default factor (``pkg/scheduler/plugins/overcommit``).
OVERCOMMIT = 1.2
#: Phases after which a job holds nothing and nothing happens without a Command.
ENDED = {"Aborted", "Completed", "Failed", "Terminated"}


def _phase(job: dict[str, Any]) -> str:
    return str(((job.get("status") or {}).get("state") or {}).get("phase") or "")


class Volcano:
    """Volcano's controllers and scheduler, reconciled every tick of
    :class:`.controllers.Controllers`."""

    def __init__(self, host: kube.Controllers) -> None:
        self.host, self.store, self.faults = host, host.store, host.faults
        host.server.admission.append(self.admit)

    def serves(self) -> bool:
        return (BATCH, "jobs") in self.store.served

    def reconcile(self) -> None:
        if not self.serves():
            return
        self.queues()
        self.commands()
        self.jobs()
        self.schedule()
        self.podgroup_status()

    # admission --------------------------------------------------------------------------------

    def admit(self, verb: str, spec: Served, namespace: str | None, body: dict[str, Any],
              who: Principal | None) -> None:
        if verb != "create" or (spec.group, spec.plural) != (BATCH, "jobs"):
            return
        job_spec = body.get("spec") or {}
        queue_name = job_spec.get("queue") or "default"
        problems = []
        try:
            queue = self.store.get(SCHEDULING, "queues", None, queue_name)
            state = (queue.get("status") or {}).get("state")
            if state != "Open":
                problems.append(f" can only submit job to queue with state `Open`, queue "
                                f"`{queue_name}` status is `{state}`;")
        except ApiError:
            problems.append(f' unable to find job queue: queues.scheduling.volcano.sh '
                            f'"{queue_name}" not found;')
        replicas = sum(int(t.get("replicas") or 0) for t in job_spec.get("tasks") or [])
        if int(job_spec.get("minAvailable") or 0) > replicas:
            problems.append(" job 'minAvailable' should not be greater than total replicas "
                            "in tasks;")
        if problems:
            raise ApiError(400, "BadRequest", 'admission webhook "validatejob.volcano.sh" '
                                              "denied the request:" + "".join(problems))

    # queue controller -------------------------------------------------------------------------

    def queues(self) -> None:
        for queue in self.store.list(SCHEDULING, "queues", None):
            state = queue.setdefault("status", {})
            if not state.get("state"):
                state["state"] = "Open"

    # job controller ---------------------------------------------------------------------------

    def commands(self) -> None:
        for command in self.store.list(BUS, "commands", None):
            target = command.get("target") or {}
            namespace = command["metadata"]["namespace"]
            job = next((j for j in self.store.list(BATCH, "jobs", namespace)
                        if j["metadata"]["uid"] == target.get("uid")), None)
            self.host.delete(BUS, "commands", command)
            if job is None:
                continue
            action, phase = command.get("action"), _phase(job)
            if action == "AbortJob" and phase not in ENDED:
                self.kill(job)
                self.set_phase(job, "Aborting")
                self.host.event(job, "CommandIssued", "Start to execute action AbortJob")
            elif action == "ResumeJob" and phase in ("Aborted", "Aborting"):
                self.kill(job)
                job["status"]["retryCount"] = int(job["status"].get("retryCount") or 0) + 1
                self.set_phase(job, "Restarting")
                self.host.event(job, "CommandIssued", "Start to execute action ResumeJob")

    def kill(self, job: dict[str, Any]) -> None:
        """KillJob: the job's pods and its PodGroup go (a full kill deletes the PodGroup)."""
        for pod in self.host.owned("", "pods", job):
            if kube.live(pod):
                self.host.delete("", "pods", pod)
        for group in self.host.owned(SCHEDULING, "podgroups", job):
            self.host.delete(SCHEDULING, "podgroups", group)

    def set_phase(self, job: dict[str, Any], phase: str) -> None:
        state = job.setdefault("status", {})
        if _phase(job) == phase:
            return
        state["state"] = {"phase": phase, "lastTransitionTime": now()}
        state.setdefault("conditions", []).append({"status": phase,
                                                   "lastTransitionTime": now()})

    def jobs(self) -> None:
        for job in self.store.list(BATCH, "jobs", None):
            spec, phase = job["spec"], _phase(job)
            if not phase:
                self.set_phase(job, "Pending")
                job["status"]["minAvailable"] = int(spec.get("minAvailable") or 0)
                phase = "Pending"
            pods = self.host.owned("", "pods", job)
            if phase == "Aborting":
                if not any(kube.live(p) for p in pods):
                    self.set_phase(job, "Aborted")
                continue
            if phase == "Restarting":
                limit = int(spec.get("maxRetry", 3))
                if int(job["status"].get("retryCount") or 0) >= limit:
                    self.set_phase(job, "Failed")
                else:
                    self.set_phase(job, "Pending")
                continue
            if phase in ENDED:
                continue
            group = self.podgroup(job)
            if (group.get("status") or {}).get("phase") not in (None, "", "Pending"):
                self.create_pods(job, pods)
                pods = self.host.owned("", "pods", job)
            self.job_status(job, pods)

    def podgroup(self, job: dict[str, Any]) -> dict[str, Any]:
        meta, spec = job["metadata"], job["spec"]
        name = f"{meta['name']}-{meta['uid']}"
        with contextlib.suppress(ApiError):
            return self.store.get(SCHEDULING, "podgroups", meta["namespace"], name)
        minimum = int(spec.get("minAvailable") or 0)
        wanted: dict[str, float] = {}
        counted = 0
        for task in spec.get("tasks") or []:
            for _ in range(int(task.get("replicas") or 0)):
                if counted >= minimum:
                    break
                for resource, amount in kube.requests_of(task.get("template") or {}).items():
                    wanted[resource] = wanted.get(resource, 0.0) + amount
                counted += 1
        return self.store.create(SCHEDULING, "podgroups", meta["namespace"], {
            "metadata": {"name": name, "ownerReferences": [self.host.owner(job)],
                         "annotations": {}},
            "spec": {"minMember": minimum, "queue": spec.get("queue") or "default",
                     **({"priorityClassName": spec["priorityClassName"]}
                        if spec.get("priorityClassName") else {}),
                     "minResources": {k: f"{v:g}" for k, v in wanted.items()}},
            "status": {"phase": "Pending"}})

    def create_pods(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        meta, spec = job["metadata"], job["spec"]
        name, namespace = meta["name"], meta["namespace"]
        plugins = spec.get("plugins") or {}
        existing = {p["metadata"]["name"] for p in pods}
        if "svc" in plugins:
            with contextlib.suppress(ApiError):
                self.store.create("", "services", namespace, {
                    "metadata": {"name": name, "ownerReferences": [self.host.owner(job)]},
                    "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                             "selector": {JOB_NAME: name, JOB_NAMESPACE: namespace}}})
        for task in spec.get("tasks") or []:
            task_name = task.get("name") or "default"
            for index in range(int(task.get("replicas") or 0)):
                pod_name = f"{name}-{task_name}-{index}"
                if pod_name in existing:
                    continue
                template = copy.deepcopy(task.get("template") or {})
                pod_spec = template.setdefault("spec", {})
                pod_spec.setdefault("schedulerName", spec.get("schedulerName") or SCHEDULER)
                if spec.get("priorityClassName"):
                    pod_spec.setdefault("priorityClassName", spec["priorityClassName"])
                if "env" in plugins:
                    for container in pod_spec.get("containers") or []:
                        container.setdefault("env", []).extend(
                            [{"name": "VK_TASK_INDEX", "value": str(index)},
                             {"name": "VC_TASK_INDEX", "value": str(index)}])
                extra = {"hostname": pod_name, "subdomain": name} if "svc" in plugins else {}
                tags = {JOB_NAME: name, TASK_SPEC: task_name, TASK_INDEX: str(index),
                        QUEUE_NAME: spec.get("queue") or "default"}
                pod = self.host.create_pod(
                    job, pod_name, template, {**tags, JOB_NAMESPACE: namespace},
                    {**tags, GROUP_NAME: f"{name}-{meta['uid']}"}, extra)
                if pod is not None:
                    self.host.event(job, "SuccessfulCreate", f"Created pod: {pod_name}")

    def job_status(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        counts = {"Pending": 0, "Running": 0, "Succeeded": 0, "Failed": 0}
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            counts[phase] = counts.get(phase, 0) + 1
        state = job["status"]
        state.update(pending=counts["Pending"], running=counts["Running"],
                     succeeded=counts["Succeeded"], failed=counts["Failed"])
        total = sum(int(t.get("replicas") or 0) for t in job["spec"].get("tasks") or [])
        minimum = int(job["spec"].get("minAvailable") or 0)
        if total and counts["Succeeded"] + counts["Failed"] >= total:
            self.set_phase(job, "Completed" if counts["Succeeded"] >= minimum
                           and not counts["Failed"] else "Failed")
        elif _phase(job) == "Pending" and counts["Running"] + counts["Succeeded"] >= minimum \
                and counts["Running"]:
            self.set_phase(job, "Running")

    # scheduler --------------------------------------------------------------------------------

    def priority(self, group: dict[str, Any]) -> int:
        name = group["spec"].get("priorityClassName")
        if not name:
            return 0
        with contextlib.suppress(ApiError):
            return int(self.store.get("scheduling.k8s.io", "priorityclasses", None, name)
                       .get("value") or 0)
        return 0

    def schedule(self) -> None:
        groups = [g for g in self.store.list(SCHEDULING, "podgroups", None)
                  if self.owner_job(g) is not None
                  and _phase(self.owner_job(g) or {}) not in ENDED | {"Aborting"}]
        fifo = "volcano_priority_ignored" in self.faults
        groups.sort(key=lambda g: (0 if fifo else -self.priority(g),
                                   g["metadata"]["creationTimestamp"],
                                   int(g["metadata"]["resourceVersion"])))
        nodes = self.store.list("", "nodes", None)
        pods = self.store.list("", "pods", None)
        self.enqueue(groups, nodes, pods)
        for group in groups:
            if (group.get("status") or {}).get("phase") in ("Inqueue", "Running"):
                self.allocate(group, nodes, pods)

    def owner_job(self, group: dict[str, Any]) -> dict[str, Any] | None:
        for ref in group["metadata"].get("ownerReferences") or []:
            with contextlib.suppress(ApiError):
                job = self.store.get(BATCH, "jobs", group["metadata"]["namespace"], ref["name"])
                if job["metadata"]["uid"] == ref["uid"]:
                    return job
        return None

    def members(self, group: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        name, namespace = group["metadata"]["name"], group["metadata"]["namespace"]
        return [p for p in pods if p["metadata"].get("namespace") == namespace
                and (p["metadata"].get("annotations") or {}).get(GROUP_NAME) == name]

    def enqueue(self, groups: list[dict[str, Any]], nodes: list[dict[str, Any]],
                pods: list[dict[str, Any]]) -> None:
        """Pending → Inqueue while the overcommitted idle resources hold the job's minimum
        (the overcommit plugin), within its queue's capability (the capacity plugin)."""
        idle: dict[str, float] = {}
        for node in nodes:
            for resource, amount in ((node.get("status") or {}).get("allocatable") or {}).items():
                idle[resource] = idle.get(resource, 0.0) + kube.quantity(amount) * OVERCOMMIT
        by_queue: dict[str, dict[str, float]] = {}
        for pod in pods:
            if pod["spec"].get("nodeName") and kube.live(pod):
                queue = (pod["metadata"].get("annotations") or {}).get(QUEUE_NAME)
                for resource, amount in kube.requests_of(pod).items():
                    idle[resource] = idle.get(resource, 0.0) - amount
                    if queue:
                        used = by_queue.setdefault(queue, {})
                        used[resource] = used.get(resource, 0.0) + amount
        for group in groups:
            if (group.get("status") or {}).get("phase") == "Inqueue":
                for resource, amount in self.minimum(group).items():
                    idle[resource] = idle.get(resource, 0.0) - amount
        gang = "volcano_gang_off" not in self.faults
        for group in groups:
            state = group.setdefault("status", {})
            if state.get("phase") not in (None, "", "Pending"):
                continue
            wanted = self.minimum(group)
            over = sorted(r for r, amount in wanted.items()
                          if amount > 0 and amount > idle.get(r, 0.0) + 1e-9)
            queue_name = group["spec"].get("queue") or "default"
            capability: dict[str, Any] = {}
            with contextlib.suppress(ApiError):
                capability = self.store.get(SCHEDULING, "queues", None, queue_name) \
                    .get("spec", {}).get("capability") or {}
            used = by_queue.get(queue_name, {})
            beyond = sorted(r for r, limit in capability.items() if r in wanted
                            and used.get(r, 0.0) + wanted[r] > kube.quantity(limit) + 1e-9)
            if gang and (over or beyond):
                message = (f"resource in cluster is overused: overused {', '.join(over)}"
                           if over else f"queue resource quota insufficient: "
                                        f"insufficient {', '.join(beyond)}")
                self.unschedulable(group, "NotEnoughResources", message, event=True)
                continue
            state["phase"] = "Inqueue"
            for resource, amount in wanted.items():
                idle[resource] = idle.get(resource, 0.0) - amount
                use = by_queue.setdefault(queue_name, {})
                use[resource] = use.get(resource, 0.0) + amount

    @staticmethod
    def minimum(group: dict[str, Any]) -> dict[str, float]:
        return {k: kube.quantity(v)
                for k, v in (group["spec"].get("minResources") or {}).items()}

    def allocate(self, group: dict[str, Any], nodes: list[dict[str, Any]],
                 pods: list[dict[str, Any]]) -> None:
        """Bind the group's pending pods all together if with those already placed they make
        ``minMember`` (gang), else none."""
        members = self.members(group, pods)
        waiting = [p for p in members if not p["spec"].get("nodeName") and kube.live(p)
                   and (p.get("status") or {}).get("phase") == "Pending"]
        placed_before = sum(1 for p in members if p["spec"].get("nodeName")
                            or (p.get("status") or {}).get("phase") == "Succeeded")
        minimum = int(group["spec"].get("minMember") or 0)
        if not waiting:
            return
        free: dict[str, dict[str, float]] = {}
        for node in nodes:
            name = node["metadata"]["name"]
            free[name] = {k: kube.quantity(v) for k, v in
                          ((node.get("status") or {}).get("allocatable") or {}).items()}
        for pod in pods:
            where = pod["spec"].get("nodeName")
            if where in free and kube.live(pod):
                for resource, amount in kube.requests_of(pod).items():
                    free[where][resource] = free[where].get(resource, 0.0) - amount
        plan: list[tuple[dict[str, Any], str]] = []
        reasons: list[str] = []
        for pod in sorted(waiting, key=lambda p: int(
                (p["metadata"].get("annotations") or {}).get(TASK_INDEX) or 0)):
            chosen = self.fit(pod, nodes, free, reasons)
            if chosen is None:
                continue
            plan.append((pod, chosen))
            for resource, amount in kube.requests_of(pod).items():
                free[chosen][resource] = free[chosen].get(resource, 0.0) - amount
        gang = "volcano_gang_off" not in self.faults
        if gang and placed_before + len(plan) < minimum:
            unready = minimum - placed_before - len(plan)
            fit_error = (f"0/{len(nodes)} nodes are unavailable: "
                         + ", ".join(sorted(set(reasons))) + ".") if reasons else \
                "pod group is not ready"
            self.unschedulable(group, "NotEnoughResources",
                               f"{unready}/{len(members)} tasks in gang unschedulable: "
                               f"pod group is not ready, {len(waiting)} Pending, {minimum} "
                               f"minAvailable; {fit_error}", event=True)
            for pod in waiting:
                self.pod_unschedulable(pod, fit_error)
            return
        for pod, where in plan:
            self.host.dra.allocate(pod, where, commit=True)
            pod["spec"]["nodeName"] = where
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
            self.host.event(pod, "Scheduled", f"Successfully assigned "
                                              f"{pod['metadata']['namespace']}/"
                                              f"{pod['metadata']['name']} to {where}")
        for pod in waiting:
            if not pod["spec"].get("nodeName"):
                self.pod_unschedulable(pod, f"0/{len(nodes)} nodes are unavailable: "
                                       + ", ".join(sorted(set(reasons))) + ".")
        if plan:
            state = group.setdefault("status", {})
            state["conditions"] = [c for c in state.get("conditions") or []
                                   if c.get("type") != "Unschedulable"] + [
                {"type": "Scheduled", "status": "True", "lastTransitionTime": now(),
                 "reason": "tasks in gang are ready to be scheduled", "message": ""}]

    def fit(self, pod: dict[str, Any], nodes: list[dict[str, Any]],
            free: dict[str, dict[str, float]], reasons: list[str]) -> str | None:
        wanted = kube.requests_of(pod)
        for node in nodes:
            name = node["metadata"]["name"]
            refusal = kube.node_refusal(pod, node)
            if refusal:
                reasons.append(refusal)
                continue
            short = [k for k, v in wanted.items() if v > free[name].get(k, 0.0) + 1e-9]
            if short:
                reasons.append(f"Insufficient {short[0]}")
                continue
            unclaimed = self.host.dra.allocate(pod, name, commit=False)
            if unclaimed is not None:
                reasons.append(unclaimed)
                continue
            return str(name)
        return None

    def unschedulable(self, group: dict[str, Any], reason: str, message: str, *,
                      event: bool) -> None:
        state = group.setdefault("status", {})
        old = next((c for c in state.get("conditions") or []
                    if c.get("type") == "Unschedulable"), None)
        if old is not None and old.get("message") == message:
            return
        state["conditions"] = [c for c in state.get("conditions") or []
                               if c.get("type") not in ("Unschedulable", "Scheduled")] + [
            {"type": "Unschedulable", "status": "True", "lastTransitionTime": now(),
             "reason": reason, "message": message}]
        if event:
            self.host.event(group, "Unschedulable", message, "Warning")

    def pod_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        if any(c.get("message") == message for c in pod["status"].get("conditions") or []):
            return
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False",
                                        "reason": "Unschedulable", "message": message}]
        self.host.event(pod, "FailedScheduling", message, "Warning")

    def podgroup_status(self) -> None:
        """The scheduler's job updater: counts, and Running once ``minMember`` pods run."""
        pods = self.store.list("", "pods", None)
        for group in self.store.list(SCHEDULING, "podgroups", None):
            members = self.members(group, pods)
            state = group.setdefault("status", {})
            running = sum(1 for p in members if (p.get("status") or {}).get("phase")
                          == "Running")
            succeeded = sum(1 for p in members if (p.get("status") or {}).get("phase")
                            == "Succeeded")
            failed = sum(1 for p in members if (p.get("status") or {}).get("phase") == "Failed")
            state.update(running=running, succeeded=succeeded, failed=failed)
            bound = sum(1 for p in members if p["spec"].get("nodeName") and kube.live(p))
            minimum = int(group["spec"].get("minMember") or 0)
            if state.get("phase") in ("Inqueue", "Running") and minimum and \
                    bound + succeeded >= minimum:
                state["phase"] = "Running"
            if members and succeeded + failed == len(members) and \
                    state.get("phase") == "Running":
                state["phase"] = "Completed"
