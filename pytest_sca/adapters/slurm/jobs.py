"""``jobs``: probe jobs as Slurm batch jobs.

- submit: ``POST …/job/submit`` of the script of :mod:`~pytest_sca.adapters.slurm.script`;
  ``workers`` nodes, one task (worker) each, every worker with the requested CPUs, memory
  and cards (``gres``: ``gpu:<model>:<n>``; half a card is a share of ``shard`` GRES). A
  request naming a card model and no cluster goes to every partition with that model (Slurm
  starts it in the first that can). The job's ``comment`` carries its labels
  (``labels: sca-run=<run id>,…``), its name the run id (``sca-<run id>-…``).
- stop: ``scontrol requeuehold`` (a running job leaves its nodes and waits, held) or
  ``scontrol hold`` (a pending one); restart: ``scontrol release`` (held) or
  ``scontrol requeue`` (finished); delete: ``DELETE …/job/{id}`` (Slurm's cancel — the
  record stays in slurmctld for ``MinJobAge`` and in accounting: Slurm deletes no job
  record) and the job's output files.
- logs: the worker's output file, read on the login node after the caller's own REST view
  of the job proved it may see the job (``PrivateData``).
- events: from slurmctld's times and pending reason, and from the accounting records of
  each run (requeues) when slurmdbd is there.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.script import batch_log, batch_script, worker_log
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.adapters.slurm.shapes import (
    JobInfo,
    decode_labels,
    encode_labels,
    iso,
    max_submit,
    number,
    parse_gres,
    states,
    submit_body,
)
from pytest_sca.capabilities import (
    RUN_LABEL,
    TERMINAL_JOB_STATUSES,
    Job,
    JobEvent,
    Labels,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    Unsupported,
    WaitTimeout,
    Worker,
    wait_for,
    wait_for_status,
)

#: The "image" of a Slurm probe job: jobs run on the nodes' own software, with their Python.
HOST_IMAGE = "host"
#: States in which a job's tasks may still run (or be being killed).
ACTIVE_STATES = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT",
                           "SUSPENDED"})
#: How long a delete waits for a cancelled job's tasks to be gone.
SETTLE_WAIT_S = 10.0
#: How long ``stop`` waits for a running job's workers to be gone before answering.
STOP_WAIT_S = 5.0
#: Pending reasons that mean the job waits for a hold to be released.
HELD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin"})
#: Slurm job state → the contract's status (pending and held are told apart by reason).
STATUSES: dict[str, str] = {
    "PENDING": "pending", "REQUEUED": "pending", "REQUEUE_FED": "pending",
    "REQUEUE_HOLD": "stopped", "CONFIGURING": "running", "RUNNING": "running",
    "COMPLETING": "running", "RESIZING": "running", "SIGNALING": "running",
    "STAGE_OUT": "running", "SUSPENDED": "stopped", "STOPPED": "stopped",
    "COMPLETED": "succeeded", "CANCELLED": "stopped", "PREEMPTED": "stopped",
    "FAILED": "failed", "TIMEOUT": "failed", "NODE_FAIL": "failed", "BOOT_FAIL": "failed",
    "DEADLINE": "failed", "OUT_OF_MEMORY": "failed", "LAUNCH_FAILED": "failed",
    "SPECIAL_EXIT": "failed", "REVOKED": "stopped",
}
#: How an accounting record's final state reads as an event type.
RUN_ENDS: dict[str, str] = {
    "COMPLETED": "Completed", "FAILED": "Failed", "TIMEOUT": "Failed", "NODE_FAIL": "Failed",
    "OUT_OF_MEMORY": "Failed", "BOOT_FAIL": "Failed", "DEADLINE": "Failed",
    "CANCELLED": "Stopped", "PREEMPTED": "Stopped", "REQUEUED": "Stopped",
    "REQUEUE_HOLD": "Stopped", "SUSPENDED": "Stopped",
}


def status_of(info: JobInfo) -> str:
    """The contract's status of a Slurm job."""
    if info.state == "PENDING" and info.reason in HELD_REASONS:
        return "stopped"
    return STATUSES.get(info.state, "pending")


def _megabytes(gib: float) -> int:
    return max(1, math.ceil(gib * 1024))


def _cards(detail: str, names: Collection[str]) -> list[int]:
    """The cards a worker holds on its node: whole cards, and those it holds shards of."""
    return sorted({i for item in parse_gres(detail) if item.name in names or item.name ==
                   "shard" for i in item.indices})


def job_record(session: SlurmSession, info: JobInfo) -> Job:
    """A Slurm job in the contract's shape."""
    status = status_of(info)
    world = int(info.tasks or info.node_count or max(1, len(info.nodes)))
    waiting = info.state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED")
    started = None if waiting else info.start_time
    finished = info.end_time if status in TERMINAL_JOB_STATUSES and not waiting else None
    names = session.config.accelerator_gres
    details = [*info.gres_detail, *[""] * (len(info.nodes) - len(info.gres_detail))]
    placed = [(node, _cards(detail, names)) for node, detail
              in zip(info.nodes, details, strict=False)]
    #: Whether the workers' cards are known: Slurm forgets the cards of an ended job.
    known = True
    with session.root.lock:
        if status == "running":
            if any(cards for _, cards in placed):
                session.root.placements[info.job_id] = placed
        elif started is not None:
            # Keep what Slurm said while the job ran; a job that ended before the adapter
            # saw it running held cards no one can name now (not: none).
            recorded = session.root.placements.get(info.job_id)
            known = recorded is not None
            placed = recorded or [(node, []) for node in info.nodes]
        else:
            placed = []
    asked = parse_gres(info.tres_per_node.replace("gres:", "").replace("gres/", ""))
    wanted = [item for item in asked if item.name in names]
    shards = [item for item in asked if item.name == "shard"]
    workers: list[Worker] = []
    for rank in range(world):
        node, cards = placed[rank] if rank < len(placed) else (None, [])
        worker: Worker = {
            "rank": rank, "status": status, "node_id": node,
            "exit_code": info.exit_code if status in ("succeeded", "failed") else None,
            "pid": None, "started_at": iso(started), "finished_at": iso(finished)}
        if known or not wanted:
            worker["accelerators"] = cards
        workers.append(worker)
    nodes = max(1, int(info.node_count or world))
    resources: Resources = {
        "cpu": float(info.tres_req.get("cpu", 0) / nodes or info.cpus_per_task or 1),
        "memory_gib": round(float(info.memory_per_node or info.tres_req.get("mem", 0) / nodes)
                            / 1024, 3),
        "accelerators": sum(item.count for item in wanted)}
    if wanted and wanted[0].type:
        resources["accelerator_model"] = wanted[0].type
    if shards and not wanted:
        # A share of one card: the shards asked for over the shards one card counts.
        per_card = shards_per_card(session.nodes(), names, shards[0].type)
        if per_card:
            resources["accelerators"] = 1
            resources["accelerator_share"] = round(sum(i.count for i in shards) / per_card, 3)
            if shards[0].type:
                resources["accelerator_model"] = shards[0].type
    if info.partition:
        resources["cluster_id"] = info.partition.split(",")[0]
    return {
        "id": str(info.job_id), "tenant_id": info.account, "name": info.name,
        "image": f"{HOST_IMAGE}:{session.config.python}", "command": [],
        "status": status,
        "exit_code": info.exit_code if finished else None,
        "workers": workers, "world_size": world, "resources": resources,
        "labels": decode_labels(info.comment),
        "created_at": iso(info.submit_time) or "",
        "started_at": iso(started), "finished_at": iso(finished),
        "attempt": info.restarts + 1, "owner": info.user,
        "priority": int(info.priority) if info.priority is not None else 0,
        "queue": info.partition, "simulated": False,
    }


class Submitter:
    """Turns a probe request into a Slurm job of the session's principal."""

    def __init__(self, session: SlurmSession) -> None:
        self.session = session

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int = 1, min_workers: int | None = None,
               env: Mapping[str, str] | None = None, labels: Labels | None = None,
               qos: str | None = None, partition: str | None = None) -> Job:
        session = self.session
        if image.split(":", 1)[0] != HOST_IMAGE:
            raise Unsupported(f"Slurm runs jobs on the nodes' own software, not in image "
                              f"{image!r}: probe jobs use {HOST_IMAGE}:<python>")
        if workers < 1:
            raise Refused("slurm submit", 422, "invalid", f"{workers} workers")
        folder = session.run_folder()
        argv = list(command)
        if argv and argv[0] == "python":
            argv[0] = session.config.python
        all_labels = {**(labels or {}), RUN_LABEL: session.context.run_id}
        cpus = max(1, math.ceil(float(resources.get("cpu") or 1)))
        environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                       "HOME": folder, **(env or {})}
        gres, shards_per_card = self._gres(resources)
        if shards_per_card:
            environment["SCA_SHARDS_PER_CARD"] = str(shards_per_card)
        job: dict[str, Any] = {
            "name": name, "comment": encode_labels(all_labels),
            "account": session.config.account if session.is_principal else None,
            "partition": partition or self._partition(resources),
            "qos": qos, "min_nodes": min_workers or workers, "max_nodes": workers,
            "tasks": workers, "tasks_per_node": 1, "cpus_per_task": cpus,
            "memory_per_node": _megabytes(float(resources.get("memory_gib") or 1)),
            "gres_per_node": gres, "time_limit": session.config.time_limit_min,
            "cwd": folder, "stdout": batch_log(folder, "%j"), "environment": environment,
            "requeue": True,
        }
        script = batch_script(argv, folder, cpus_per_task=cpus, run_id=session.context.run_id,
                              name=name)
        body = submit_body(session.rest.api.version, script, job)
        try:
            answer = session.rest.post("slurm", "job/submit", body)
        except Refused as refusal:
            if refusal.code == "2050" and self._may_not_submit(job.get("account")):
                raise Refused(refusal.what, 403, "2050", f"{refusal.message} (the caller's "
                              "association has MaxSubmitJobs=0: it may not submit)",
                              RefusalReason.FORBIDDEN) from None
            raise
        job_id = answer.get("job_id")
        if not isinstance(job_id, int):
            raise TargetError(f"slurmrestd accepted job {name} but answered no job id")
        remember_job(session, str(job_id), folder)
        return job_record(session, session.job(str(job_id)))

    def _may_not_submit(self, account: str | None) -> bool:
        """Whether the caller's association withholds the right to submit (MaxSubmitJobs=0:
        Slurm's read-only user), which Slurm reports as an accounting-policy refusal."""
        session = self.session
        try:
            answer = session.rest.get("slurmdb", "associations", {"user": session.user},
                                      empty_ok=True)
        except (Refused, TargetError):
            return False
        mine = [a for a in answer.get("associations") or [] if a.get("user") == session.user
                and (account is None or a.get("account") == account)]
        return bool(mine) and all(max_submit(a) == 0 for a in mine)

    def _gres(self, resources: Resources) -> tuple[str | None, int | None]:
        """The GRES per worker (``gpu:a100:2``, ``shard:4``) and, for a share, the shards of
        one card."""
        cards = int(resources.get("accelerators") or 0)
        share = resources.get("accelerator_share")
        model = resources.get("accelerator_model")
        if not cards and not share:
            return None, None
        nodes = self.session.nodes()
        if share is not None and float(share) < 1:
            per_card = shards_per_card(nodes, self.session.config.accelerator_gres, model)
            shards = max(1, round(float(share) * (per_card or 1)))
            return (f"shard:{model}:{shards}" if model and per_card else f"shard:{shards}",
                    per_card)
        name = next((item.name for node in nodes for item in node.gres
                     if item.name in self.session.config.accelerator_gres
                     and (model is None or item.type == model)), "gpu")
        return (f"{name}:{model}:{cards}" if model else f"{name}:{cards}"), None

    def _partition(self, resources: Resources) -> str | None:
        if resources.get("cluster_id"):
            return str(resources["cluster_id"])
        model = resources.get("accelerator_model")
        if model:
            having = []
            for node in self.session.nodes():
                if any(item.type == model for item in node.gres):
                    having += [p for p in node.partitions if p not in having]
            if having:
                return ",".join(having)
        return self.session.config.partition


def shards_per_card(nodes: Sequence[Any], names: Collection[str], model: str | None
                    ) -> int | None:
    """How many ``shard`` GRES one card of a node counts (the node's shards over its cards);
    None when no node offers shards."""
    for node in nodes:
        shards = sum(item.count for item in node.gres if item.name == "shard"
                     and (model is None or item.type in (None, model)))
        cards = sum(item.count for item in node.gres if item.name in names
                    and (model is None or item.type == model))
        if shards and cards:
            return shards // cards
    return None


def remember_job(session: SlurmSession, job_id: str, folder: str) -> None:
    """Register the cancel of a job the run submitted, and the removal of its files (as the
    target's principal: a probe user may be gone by then)."""
    principal = session.root_principal()

    def undo() -> None:
        cancel(principal, job_id)
        settle(principal, job_id)
        remove_files(principal, folder, job_id)

    session.remember("jobs", job_id, f"cancel Slurm job {job_id}", undo)


def cancel(session: SlurmSession, job_id: str) -> None:
    """Cancel a job (``DELETE …/job/{id}``); one already over is fine."""
    try:
        session.rest.delete("slurm", f"job/{job_id}")
    except Refused as refusal:
        if refusal.code not in ("2017", "2021", "2084"):
            raise


def settle(session: SlurmSession, job_id: str) -> None:
    """Wait (bounded) until a cancelled job's tasks are gone: slurmstepd writes their last
    words to the output files while it kills them."""
    def state() -> str:
        try:
            return session.job(job_id).state
        except Refused:
            return "GONE"

    # On a timeout the files go all the same; a late line stays until the run's folder goes.
    with contextlib.suppress(WaitTimeout):
        wait_for(state, lambda s: s not in ACTIVE_STATES, SETTLE_WAIT_S,
                 lambda s: f"job {job_id} still {s}", first=0.1, longest=0.5)


def remove_files(session: SlurmSession, folder: str, job_id: str) -> None:
    """Remove the output files of a job."""
    if session.config.login is None or not str(job_id).isdigit():
        return
    session.shell("job files").run(f"rm -f -- {shlex.quote(folder)}/{int(job_id)}.*")


def job_folder(info: JobInfo) -> str:
    """The folder a job writes to (its batch output's folder)."""
    return os.path.dirname(info.standard_output) or info.working_directory


class SlurmJobs(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Jobs` over slurmrestd (and the login node)."""

    def probe_image(self) -> str:
        return f"{HOST_IMAGE}:{self.subject.config.python}"

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int = 1, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> Job:
        return Submitter(self.subject).submit(name, image, command, resources,
                                              workers=workers, env=env, labels=labels)

    def list_jobs(self, status: str | None = None, label: str | None = None) -> list[Job]:
        session = self.subject
        key, _, value = (label or "").partition("=")
        found = []
        for info in session.jobs():
            if label and decode_labels(info.comment).get(key) != value:
                continue
            record = job_record(session, info)
            if status is None or record["status"] == status:
                found.append(record)
        return found

    def get(self, job_id: str) -> Job:
        return job_record(self.subject, self.subject.job(job_id))

    def events(self, job_id: str) -> list[JobEvent]:
        session = self.subject
        info = session.job(job_id)
        return job_events(session, info)

    def logs(self, job_id: str, worker: int = 0) -> str:
        session = self.subject
        info = session.job(job_id)  # the caller's own view: PrivateData decides who reads
        folder = job_folder(info)
        shell = session.shell("job logs")
        path = shlex.quote(worker_log(folder, info.job_id, int(worker)))
        batch = shlex.quote(batch_log(folder, info.job_id))
        fallback = f" || cat -- {batch}" if int(worker) == 0 else ""
        result = shell.run(f"cat -- {path} 2>/dev/null{fallback}")
        if result.exit_status != 0:
            if status_of(info) in ("pending", "running"):
                return ""  # the worker has not written yet
            raise Refused(f"logs of job {job_id}", 404, "not_found",
                          f"no output of worker {worker} of job {job_id} in {folder}")
        return result.stdout

    def stop(self, job_id: str) -> Job:
        session = self.subject
        info = session.job(job_id)
        if info.state == "PENDING" and info.reason not in HELD_REASONS:
            session.slurm(["scontrol", "hold", str(info.job_id)], "stopping a job")
        elif STATUSES.get(info.state) == "running" or info.state == "SUSPENDED":
            session.slurm(["scontrol", "requeuehold", str(info.job_id)], "stopping a job")
            # The workers are being killed: answer once they are (bounded; the caller waits
            # longer if it must).
            try:
                return wait_for_status(lambda: self.get(job_id), {"stopped"}, STOP_WAIT_S,
                                       f"job {job_id}", first=0.1, longest=0.5)
            except WaitTimeout as timeout:
                if timeout.last is not None:
                    return timeout.last
        return self.get(job_id)

    def restart(self, job_id: str) -> Job:
        session = self.subject
        info = session.job(job_id)
        status = status_of(info)
        if status == "stopped" and info.state == "PENDING":
            session.slurm(["scontrol", "release", str(info.job_id)], "restarting a job")
        elif status in TERMINAL_JOB_STATUSES or status == "running":
            session.slurm(["scontrol", "requeue", str(info.job_id)], "restarting a job")
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        session = self.subject
        info = session.job(job_id)
        cancel(session, str(info.job_id))
        settle(session, str(info.job_id))
        remove_files(session, job_folder(info), str(info.job_id))
        session.forget("jobs", str(info.job_id))

    def wait(self, job_id: str, until: Collection[str] = TERMINAL_JOB_STATUSES,
             timeout: float = 120.0) -> Job:
        return wait_for_status(lambda: self.get(job_id), until, timeout, f"job {job_id}",
                               first=0.2, longest=1.0)


def accounting_runs(session: SlurmSession, job_id: int) -> list[dict[str, Any]]:
    """The accounting records of a job, one per run (a requeued job has several), oldest
    first; [] without slurmdbd or when the caller may not read them."""
    if not session.rest.has_accounting():
        return []
    try:
        answer = session.rest.get("slurmdb", f"job/{job_id}", empty_ok=True)
    except Refused:
        return []
    runs = [r for r in answer.get("jobs") or [] if r.get("job_id") == job_id]
    return sorted(runs, key=lambda r: (number((r.get("time") or {}).get("submission")) or 0))


def job_events(session: SlurmSession, info: JobInfo) -> list[JobEvent]:
    """What happened to a job, oldest first, from its accounting runs and its live state."""
    events: list[tuple[int, int, JobEvent]] = []

    def add(epoch: Any, kind: str, reason: str, message: str) -> None:
        when = number(epoch)
        if isinstance(when, (int, float)) and when > 0:
            events.append((int(when), len(events),
                           {"time": iso(when) or "", "type": kind, "reason": reason,
                            "message": message}))

    add(info.submit_time, "Created", "Submitted", f"job {info.job_id} submitted")
    runs = accounting_runs(session, info.job_id)
    for index, run in enumerate(runs):
        times = run.get("time") or {}
        state = run.get("state") or {}
        current = states(state.get("current"))
        start = number(times.get("start"))
        if start:
            if index:
                add(start, "Restarted", "Requeued", f"run {index + 1} of job {info.job_id}")
            add(start, "Scheduled", "Allocated", f"nodes {run.get('nodes') or '?'}")
            add(start, "Started", "Running", f"run {index + 1} started")
        end = number(times.get("end"))
        if start and end and current and current[0] in RUN_ENDS:
            reason = state.get("reason") if current[0].startswith("REQUEUE") else current[0]
            add(end, RUN_ENDS[current[0]], _camel(str(reason or current[0])),
                f"run {index + 1} ended {current[0]}")
    status = status_of(info)
    if not runs and info.state not in ("PENDING", "REQUEUED") and info.start_time:
        add(info.start_time, "Scheduled", "Allocated", f"nodes {','.join(info.nodes)}")
        add(info.start_time, "Started", "Running", "started")
    # The controller knows a job ended before slurmdbd's record of its run says so (the
    # accounting lags): the live state gives the end the accounting does not show yet.
    ended = bool(events) and events[-1][2]["type"] in set(RUN_ENDS.values())
    if status in TERMINAL_JOB_STATUSES and info.end_time and info.start_time and not ended:
        kind = {"succeeded": "Completed", "failed": "Failed"}.get(status, "Stopped")
        add(info.end_time, kind, _camel(info.state), f"ended {info.state}")
    if info.state == "PENDING" and info.reason and info.reason != "None":
        kind = "Stopped" if info.reason in HELD_REASONS else "Pending"
        if not (kind == "Stopped" and any(e[2]["type"] == "Stopped" for e in events)):
            add(number(info.raw.get("last_sched_evaluation")) or int(time.time()), kind,
                info.reason, f"pending: {info.reason}")
    return [event for _, _, event in sorted(events, key=lambda e: (e[0], e[1]))]


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("-", "_").split("_")) or text
