"""Jobs that really run: one local subprocess per worker, watched by a monitor thread.

A job is admitted against its tenant's quota, then waits ``pending`` until
the scheduler finds free (simulated) capacity for every worker, then runs as
real processes in ``DIR/jobs/<id>/worker-<rank>/`` with their output in
``DIR/jobs/<id>/worker-<rank>.log``. When a worker ends or is stopped, usage
records of its real run time × its requests are written.

The runner also holds the rules it applies to distributed jobs: each worker's
environment (``rendezvous_broken``, ``accelerators_hidden_from_jobs``,
``framework_env_incomplete``), what it records of a job's requests
(``accelerator_sharing_off``), partial placement without gang admission
(``gang_scheduling_off``) and where a worker really runs when that is not where its
record says (``job_record_cards_misreported``, ``job_record_nodes_misreported``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.image_sites import image_site
from pytest_sca.sandbox.inventory import UNUSABLE_VENDOR
from pytest_sca.sandbox.netiso import NetworkUnavailable, TenantNetworks
from pytest_sca.sandbox.procs import ProcInfo, own_process_group, processes_by_group
from pytest_sca.sandbox.scheduling import Placement, place_job
from pytest_sca.sandbox.scheduling_policy import (
    cards_handed_out,
    job_as_scheduled,
    node_started_on,
    pending_order,
    release_card,
    take_card,
    usable_nodes,
    visible_accelerators,
)
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

ACTIVE = ("pending", "running")
FINISHED = ("succeeded", "failed", "stopped")
#: Seconds a worker's process group gets between SIGTERM and SIGKILL.
STOP_GRACE = 2.0
#: How often the monitor looks at processes and pending jobs.
TICK = 0.05
#: How far behind the clock of job records runs under ``job_clock_behind``.
CLOCK_BEHIND_S = 3600.0
_PROGRESS = re.compile(rb"sca-progress:\s*([0-9]*\.?[0-9]+)")
#: Variables of the sandbox's own environment that a job must not inherit.
_PRIVATE_ENV_PREFIXES = ("SCA_SANDBOX_", "AWS_")

_USAGE_UNITS = (("cpu", "cpu", "core_seconds"), ("memory", "memory_gib", "gib_seconds"),
                ("accelerator", "accelerators", "card_seconds"))


#: ``startup_latency_misreported``: how long a job waits before it starts.
HELD_BEFORE_START = 1.5


@dataclass
class _RunningWorker:
    """A live worker process and what its usage record needs (and how it was started)."""

    job_id: str
    rank: int
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    started_monotonic: float
    started_at: str
    launch: dict[str, Any] = field(default_factory=dict)
    restarted: bool = False


def public_job(job: Document, faults: Faults = frozenset()) -> Document:
    """The job as the API shows it (internal keys start with ``_``; its times an hour behind
    under ``job_clock_behind``)."""
    shown = {key: value for key, value in job.items() if not key.startswith("_")}
    if Fault.JOB_CLOCK_BEHIND not in faults:
        return shown
    shown["workers"] = [_clock_behind(worker) for worker in shown.get("workers") or []]
    return _clock_behind(shown)


def _clock_behind(doc: Document) -> Document:
    """``doc`` with its times as a clock :data:`CLOCK_BEHIND_S` behind would write them."""
    shifted = dict(doc)
    for key in ("created_at", "started_at", "finished_at", "time"):
        if isinstance(shifted.get(key), str):
            moment = datetime.fromisoformat(shifted[key].replace("Z", "+00:00"))
            shifted[key] = (moment - timedelta(seconds=CLOCK_BEHIND_S)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
    return shifted


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exit_code(returncode: int) -> int:
    """A shell-style exit code: 128 + N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _pinned_to_one_cpu(command: list[str]) -> list[str]:
    """``job_cpus_pinned_to_one``: the command run on the first CPU this process may use
    (the affinity survives the exec, and every process the command starts inherits it)."""
    pin = ("import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
           "os.execvp(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", pin, *command]


def _distort_worker_env(env: dict[str, str], faults: Faults) -> None:
    """Break a worker's environment the way the active faults say (nothing when healthy)."""
    if Fault.RENDEZVOUS_BROKEN in faults and int(env.get("WORLD_SIZE", "1")) > 1:
        env["MASTER_PORT"] = str(_free_port())
    if Fault.ACCELERATORS_HIDDEN_FROM_JOBS in faults:
        env["SCA_VISIBLE_ACCELERATORS"] = ""
    if Fault.FRAMEWORK_ENV_INCOMPLETE in faults:
        env.pop("LOCAL_RANK", None)


def _admitted_resources(resources: dict[str, Any], faults: Faults) -> dict[str, Any]:
    """What the runner records of a job's requests (``accelerator_sharing_off``: no shares)."""
    admitted = dict(resources)
    if Fault.ACCELERATOR_SHARING_OFF in faults and admitted.get("accelerator_share"):
        admitted["accelerator_share"] = None
    return admitted


class JobRunner:
    """Admits, schedules, runs, stops and meters jobs; state lives in the store."""

    def __init__(self, store: Store, jobs_dir: Path, faults: Faults,
                 networks: TenantNetworks) -> None:
        self.store = store
        self.jobs_dir = jobs_dir
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.faults = faults
        #: Per-tenant network namespaces of jobs submitted with ``network: "tenant"``.
        self.networks = networks
        self._workers: dict[tuple[str, int], _RunningWorker] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._monitor, name="sandbox-jobs", daemon=True)
        self._tick_listeners: list[Callable[[], None]] = []

    def add_tick_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` at the end of every tick, under the store lock.

        For controllers of other areas that follow the jobs they launched
        (training jobs, per-job metric series); registered by the platform
        that builds both, before :meth:`start`.
        """
        self._tick_listeners.append(listener)

    # life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Fail the jobs a previous run left running, then start watching."""
        with self.store.lock:
            for job in self.store.list("job", status="running"):
                self._finish(job, "failed", None, "SandboxRestarted",
                             "the sandbox stopped while the job was running")
        self._thread.start()

    def close(self) -> None:
        """Stop watching and stop every running job (usage is written for each)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self.store.lock:
            # Every job gets the same grace period, not one after the other.
            for worker in self._workers.values():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            for job in self.store.list("job", status="running"):
                self._stop_processes(job, deadline=deadline)
                self._finish(job, "stopped", None, "SandboxShutdown", "the sandbox shut down")

    def _monitor(self) -> None:
        while not self._stopping.wait(TICK):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the monitor must outlive one bad tick
                print(f"sandbox: job monitor error: {exc!r}", file=sys.stderr, flush=True)

    def tick(self) -> None:
        """Collect ended workers, then try to start pending jobs."""
        with self.store.lock:
            for key, worker in list(self._workers.items()):
                returncode = worker.popen.poll()
                if returncode is not None:
                    self._worker_ended(key, _exit_code(returncode))
                elif Fault.JOBS_RESTARTED_SILENTLY in self.faults and not worker.restarted:
                    job = self.store.get("job", worker.job_id)
                    if job is not None and self.progress(job) > 0:
                        self._restart_silently(worker)
            for job in pending_order(self.store.list("job", status="pending"), self.faults):
                self._try_schedule(job)
            for listener in self._tick_listeners:
                listener()

    # requests from the API -------------------------------------------------------------

    def submit(self, who: Principal, spec: dict[str, Any]) -> Document:
        """Admit a job (quota) and record it ``pending``; the monitor starts it."""
        with self.store.lock:
            over_quota = self._check_quota(who.tenant_id, spec["resources"], spec["workers"],
                                           exclude=None)
            network = (self._tenant_network(who.tenant_id)
                       if spec.get("network") == "tenant" else None)
            job: Document = {
                "id": new_id("job"),
                "tenant_id": who.tenant_id,
                "owner": who.user_id,
                "name": spec["name"],
                "image": spec["image"],
                "command": list(spec["command"]),
                "env": dict(spec.get("env") or {}),
                "resources": _admitted_resources(spec["resources"], self.faults),
                "world_size": spec["workers"],
                "status": "pending",
                "exit_code": None,
                "workers": self._fresh_workers(spec["workers"]),
                "attempt": 1,
                "progress": 0.0,
                "simulated": spec["resources"]["accelerators"] > 0,
                "created_at": utc_now(),
                "started_at": None,
                "finished_at": None,
                "labels": dict(spec.get("labels") or {}),
                "priority": int(spec.get("priority") or 0),
                "queue": spec.get("queue") or "default",
                "_events": [],
                "_unschedulable": False,
                "_over_quota": over_quota,
                **({"network": network} if network else {}),
            }
            self._event(job, "Created", "Submitted", f"submitted by {who.user_id}")
            self.store.put("job", job)
            self._try_schedule(job)
            return job

    def stop(self, job_id: str) -> Document:
        """Stop a pending or running job (its process groups are killed)."""
        with self.store.lock:
            job = self._job(job_id)
            if job["status"] in ("succeeded", "failed"):
                raise ApiError(409, "conflict", f"job {job_id} already {job['status']}")
            if Fault.JOB_STOP_IGNORED in self.faults:
                return job
            if job["status"] in ACTIVE:
                if Fault.STOPPED_JOBS_KEEP_RUNNING not in self.faults:
                    self._stop_processes(job)
                self._finish(job, "stopped", None, "UserRequest", "stopped on request")
            return job

    def restart(self, job_id: str) -> Document:
        """Stop the job if active, then queue it again as a new attempt."""
        with self.store.lock:
            job = self._job(job_id)
            job["_over_quota"] = self._check_quota(job["tenant_id"], job["resources"],
                                                   job["world_size"], exclude=job_id)
            if job["status"] in ACTIVE:
                self._stop_processes(job)
                self._finish(job, "stopped", None, "Restarting", "stopped for a restart")
            else:  # processes a stop left running (stopped_jobs_keep_running)
                self._stop_processes(job)
            job["status"] = "pending"
            job["exit_code"] = None
            job["finished_at"] = None
            job["attempt"] += 1
            job["workers"] = self._fresh_workers(job["world_size"])
            job["_unschedulable"] = False
            self._event(job, "Restarted", "UserRequest", f"attempt {job['attempt']} queued")
            self.store.put("job", job)
            self._try_schedule(job)
            return job

    def job(self, job_id: str) -> Document | None:
        """A job's record, or ``None``."""
        return self.store.get("job", job_id)

    def jobs(self, tenant_id: str | None = None, status: str | None = None) -> list[Document]:
        """Job records, of one tenant and in one status when given."""
        return self.store.list("job", tenant_id=tenant_id, status=status)

    def delete(self, job_id: str) -> None:
        """Stop the job if active, then remove its record and files."""
        with self.store.lock:
            job = self._job(job_id)
            if job["status"] in ACTIVE:
                self._stop_processes(job)
                self._finish(job, "stopped", None, "Deleted", "stopped because it was deleted")
            else:  # processes a stop left running (stopped_jobs_keep_running)
                self._stop_processes(job)
            self.store.delete("job", job_id)
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)

    def events(self, job: Document) -> list[Document]:
        """The job's events, oldest first (none under ``job_events_dropped``)."""
        if Fault.JOB_EVENTS_DROPPED in self.faults:
            return []
        if Fault.JOB_CLOCK_BEHIND in self.faults:
            return [_clock_behind(event) for event in job.get("_events", [])]
        return list(job.get("_events", []))

    def logs(self, job: Document, rank: int) -> str:
        """What worker ``rank`` printed (stdout and stderr), or empty under ``logs_dropped``."""
        if Fault.LOGS_DROPPED in self.faults:
            return ""
        if not 0 <= rank < job["world_size"]:
            raise not_found(f"worker {rank} of job {job['id']}")
        path = self._log_path(job["id"], rank)
        try:
            return path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def quota_used(self, tenant_id: str, exclude: str | None = None) -> dict[str, float]:
        """What the tenant's pending and running jobs request, summed over workers."""
        used = {"cpu": 0.0, "memory_gib": 0.0, "accelerators": 0}
        active = [job for status in ACTIVE
                  for job in self.store.list("job", tenant_id=tenant_id, status=status)]
        for job in active:
            if job["id"] != exclude:
                for key in used:
                    used[key] += job["resources"][key] * job["world_size"]
        return used

    def process_stats(self) -> list[tuple[Document, int, list[ProcInfo], float]]:
        """(job, rank, live processes of its group, seconds run) for every running worker."""
        now = time.monotonic()
        with self.store.lock:
            running = [(key, w.popen.pid, now - w.started_monotonic)
                       for key, w in self._workers.items()]
            jobs = {job_id: self.store.get("job", job_id) for (job_id, _), _, _ in running}
        groups = processes_by_group()  # one scan of the process table, not one per worker
        stats = []
        for (job_id, rank), pid, ran in running:
            job = jobs.get(job_id)
            if job is not None:
                stats.append((job, rank, groups.get(pid, []), ran))
        return stats

    def progress(self, job: Document) -> float:
        """The last ``sca-progress: X`` a worker printed (0..1), 1.0 once succeeded."""
        if job["status"] == "succeeded":
            return 1.0
        best = 0.0
        for rank in range(job["world_size"]):
            path = self._log_path(job["id"], rank)
            try:
                with path.open("rb") as handle:
                    handle.seek(max(0, path.stat().st_size - 4096))
                    tail = handle.read()
            except OSError:
                continue
            found = _PROGRESS.findall(tail)
            if found:
                best = max(best, min(1.0, float(found[-1])))
        return best

    # internals ------------------------------------------------------------------------------

    def _tenant_network(self, tenant_id: str) -> Document:
        try:
            return self.networks.attach(tenant_id).as_answer()
        except NetworkUnavailable as exc:
            raise ApiError(409, "network_unavailable",
                           f"tenant networks are not available here: {exc}") from None

    def _job(self, job_id: str) -> Document:
        job = self.store.get("job", job_id)
        if job is None:
            raise not_found(f"job {job_id}")
        return job

    @staticmethod
    def _fresh_workers(count: int) -> list[Document]:
        return [
            {"rank": rank, "status": "pending", "node_id": None, "exit_code": None,
             "accelerators": [], "pid": None, "started_at": None, "finished_at": None}
            for rank in range(count)
        ]

    @staticmethod
    def _event(job: Document, kind: str, reason: str, message: str) -> None:
        job.setdefault("_events", []).append(
            {"time": utc_now(), "type": kind, "reason": reason, "message": message}
        )

    def _log_path(self, job_id: str, rank: int) -> Path:
        return self.jobs_dir / job_id / f"worker-{rank}.log"

    def _check_quota(
        self, tenant_id: str, resources: dict[str, Any], workers: int, exclude: str | None
    ) -> str | None:
        """Refuse (409) a job the tenant's quota cannot hold. Under
        ``quota_enforced_after_placement`` it is admitted instead: the excess is returned, and
        the job fails once placed."""
        if Fault.QUOTA_NOT_ENFORCED in self.faults:
            return None
        tenant = self.store.get("tenant", tenant_id)
        if tenant is None:
            raise not_found(f"tenant {tenant_id}")
        quota = tenant["quota"]
        used = self.quota_used(tenant_id, exclude=exclude)
        for key in ("cpu", "memory_gib", "accelerators"):
            wanted = resources[key] * workers
            if used[key] + wanted > quota[key] + 1e-9:
                excess = (f"tenant {tenant_id} quota {key}={quota[key]} exceeded: {used[key]} "
                          f"in use, job requests {wanted}")
                if Fault.QUOTA_ENFORCED_AFTER_PLACEMENT in self.faults:
                    return excess
                raise ApiError(409, "quota_exceeded", excess)
        return None

    def _usable_nodes(self, tenant_id: str) -> list[Document]:
        clusters = {
            c["id"]
            for c in self.store.list("cluster")
            if c["tenant_id"] in (None, tenant_id) and c["status"] == "ready"
        }
        return [
            n for n in self.store.list("node")
            if n["cluster_id"] in clusters
            and (n["health"] == "healthy" or Fault.PREFLIGHT_IGNORES_FAULTY_NODE in self.faults)
        ]

    def _try_schedule(self, job: Document) -> None:
        if Fault.STARTUP_LATENCY_MISREPORTED in self.faults:
            created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
            if time.time() - created.timestamp() < HELD_BEFORE_START:
                return
        running = self.store.list("job", status="running")
        placement = place_job(
            job_as_scheduled(job, self.faults),
            usable_nodes(self._usable_nodes(job["tenant_id"]), self.faults, job),
            running,
            check_accelerators=Fault.CAPACITY_NOT_CHECKED not in self.faults,
            topology_aware=Fault.TOPOLOGY_IGNORED not in self.faults,
        )
        if isinstance(placement, str):
            if not job.get("_unschedulable"):
                job["_unschedulable"] = True
                reason = "InsufficientCapacity"
                if Fault.PENDING_REASON_VAGUE in self.faults:
                    reason, placement = "Waiting", "waiting for resources"
                self._event(job, "Unschedulable", reason, placement)
                self.store.put("job", job)
            if Fault.GANG_SCHEDULING_OFF in self.faults:
                self._hold_fitting_workers(job)
            return
        self._allocate(job, placement)
        self._event(job, "Scheduled", "Placed",
                    ", ".join(f"worker {r} on {p.node_id}" for r, p in enumerate(placement)))
        if job.get("_over_quota"):
            self._fail_placed(job, placement)
            return
        if self._on_unusable_cards(placement):
            self._fail_placed(job, placement, f"{UNUSABLE_VENDOR} device open failed on the node")
            return
        self._launch(job, placement)

    def _fail_placed(self, job: Document, placement: list[Placement],
                     message: str = "the workers could not be started") -> None:
        """The placed job holds its cards, then ends failed with a start error (its cards are
        released): ``quota_enforced_after_placement``, where the error does not say why, and
        ``domestic_cards_unschedulable``."""
        for rank, spot in enumerate(placement):
            job["workers"][rank].update(node_id=spot.node_id, accelerators=spot.accelerators)
        self._finish(job, "failed", None, "StartError", message)

    def _on_unusable_cards(self, placement: list[Placement]) -> bool:
        """Under ``domestic_cards_unschedulable``: whether a worker was placed on cards of
        :data:`UNUSABLE_VENDOR`, which no job can open."""
        if Fault.DOMESTIC_CARDS_UNSCHEDULABLE not in self.faults:
            return False
        for spot in placement:
            node = self.store.get("node", spot.node_id) or {"accelerators": []}
            if any(card["vendor"] == UNUSABLE_VENDOR for card in node["accelerators"]
                   if card["index"] in spot.accelerators):
                return True
        return False

    def _hold_fitting_workers(self, job: Document) -> None:
        """``gang_scheduling_off``: give the workers that fit their cards, although the job waits.

        What a scheduler without gang admission does: the job stays ``pending``
        while the cards of its first workers are held (and idle) until the rest fit.
        """
        if any(worker.get("accelerators") for worker in job["workers"]):
            return
        nodes = self._usable_nodes(job["tenant_id"])
        running = self.store.list("job", status="running")
        for fitting in range(int(job["world_size"]) - 1, 0, -1):
            placement = place_job({**job, "world_size": fitting}, nodes, running)
            if isinstance(placement, str):
                continue
            self._allocate(job, placement)
            for rank, spot in enumerate(placement):
                job["workers"][rank].update(node_id=spot.node_id, accelerators=spot.accelerators)
            self._event(job, "Scheduled", "PartialPlacement",
                        f"{fitting} of {job['world_size']} workers placed, the rest wait")
            self.store.put("job", job)
            return

    def _allocate(self, job: Document, placement: list[Placement]) -> None:
        for spot in placement:
            def take(node: Document, spot: Placement = spot) -> None:
                for card in node["accelerators"]:
                    if card["index"] in spot.accelerators:
                        take_card(card, job["id"], spot.share)
            self.store.update("node", spot.node_id, take)

    def _release(self, job: Document) -> None:
        if Fault.CARDS_NOT_RELEASED in self.faults:
            return
        for worker in job["workers"]:
            if not worker["node_id"] or not worker["accelerators"]:
                continue

            def give_back(node: Document) -> None:
                for card in node["accelerators"]:
                    release_card(card, job["id"])
            self.store.update("node", worker["node_id"], give_back)

    def _job_env(
        self, job: Document, rank: int, master_port: int, node_id: str, cards: list[int]
    ) -> dict[str, str]:
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(_PRIVATE_ENV_PREFIXES)
        }
        env.update({str(k): str(v) for k, v in job["env"].items()})
        env.update({
            "SCA_JOB_ID": job["id"],
            "RANK": str(rank),
            "LOCAL_RANK": "0",
            "WORLD_SIZE": str(job["world_size"]),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(master_port),
            "SCA_VISIBLE_ACCELERATORS": visible_accelerators(cards, self.faults),
            # The node the worker runs on, as Kubernetes' downward API gives spec.nodeName
            # and slurmd SLURMD_NODENAME.
            "SCA_NODE_NAME": node_id,
            "PYTHONUNBUFFERED": "1",
        })
        site = self.image_site(str(job.get("image") or ""))
        if site is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(site), env.get("PYTHONPATH")) if p)
        if job["resources"].get("accelerator_share") and cards:
            env["SCA_ACCELERATOR_SHARE"] = str(job["resources"]["accelerator_share"])
        _distort_worker_env(env, self.faults)
        if Fault.JOBS_CANNOT_REACH_STORAGE in self.faults:
            # A broken egress proxy: every HTTP request of the job goes to a closed port.
            dead = "http://127.0.0.1:9"
            env.update(http_proxy=dead, HTTP_PROXY=dead, no_proxy="", NO_PROXY="")
        return env

    def image_site(self, reference: str) -> Path | None:
        """The framework metadata of the preset image ``name:tag`` a job runs in, if any."""
        image = next((i for i in self.store.list("image", where=lambda i: bool(i["preset"]))
                      if f"{i['name']}:{i['tag']}" == reference), None)
        if image is None:
            return None
        return image_site(self.jobs_dir.parent / "image-sites", image, self.faults)

    def _launch(self, job: Document, placement: list[Placement]) -> None:
        master_port = _free_port()
        command = list(job["command"])
        if command and command[0] == "python":
            command[0] = sys.executable
        if Fault.JOB_CPUS_PINNED_TO_ONE in self.faults:
            command = _pinned_to_one_cpu(command)
        if job.get("network"):
            command = self.networks.wrap(job["network"]["namespace"], command)
        job["status"] = "running"
        # ``startup_latency_misreported``: the wait before the start is not shown.
        job["started_at"] = (job["created_at"] if Fault.STARTUP_LATENCY_MISREPORTED in self.faults
                             else utc_now())
        handed: dict[str, set[int]] = {}  # node → cards given to the job's workers so far
        nodes = self.store.list("node")
        for rank, spot in enumerate(placement):
            worker = job["workers"][rank]
            worker.update(node_id=spot.node_id, accelerators=spot.accelerators,
                          status="running", started_at=utc_now())
            # Where the worker really runs: its reservation, unless a fault moves it (the
            # record above keeps the reservation).
            node = next(n for n in nodes if n["id"] == spot.node_id)
            cards = (cards_handed_out(node, job, spot.accelerators,
                                      handed.setdefault(spot.node_id, set()), self.faults)
                     if spot.share is None else spot.accelerators)
            runs_on = node_started_on(nodes, spot.node_id, self.faults)
            workdir = self.jobs_dir / job["id"] / f"worker-{rank}"
            workdir.mkdir(parents=True, exist_ok=True)
            log = self._log_path(job["id"], rank).open("ab")
            launch = {"args": command, "cwd": workdir,
                      "env": self._job_env(job, rank, master_port, runs_on, cards)}
            try:
                popen = subprocess.Popen(  # noqa: S603 - running the tenant's command is the point
                    **launch,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **own_process_group(),
                )
            except (OSError, ValueError, IndexError) as exc:
                code = 126 if isinstance(exc, PermissionError) else 127
                log.write(f"sandbox: cannot start {command[:1]}: {exc}\n".encode())
                log.close()
                worker.update(status="failed", exit_code=code, finished_at=utc_now())
                continue
            worker["pid"] = popen.pid
            self._workers[(job["id"], rank)] = _RunningWorker(
                job["id"], rank, popen, log, time.monotonic(), worker["started_at"], launch
            )
        self._event(job, "Started", "ProcessesStarted", f"{len(placement)} worker(s) started")
        self.store.put("job", job)
        failed = [w for w in job["workers"] if w["status"] == "failed"]
        if failed:
            self._stop_processes(job)
            self._finish(job, "failed", failed[0]["exit_code"], "StartError",
                         f"worker {failed[0]['rank']} could not start")

    def _restart_silently(self, worker: _RunningWorker) -> None:
        """``jobs_restarted_silently``: kill a worker's processes and start them again, with
        no event, the same attempt and the same log."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.popen.wait(timeout=5)
        worker.popen = subprocess.Popen(  # noqa: S603 - the tenant's own command, again
            **worker.launch, stdin=subprocess.DEVNULL, stdout=worker.log,
            stderr=subprocess.STDOUT, **own_process_group())
        worker.restarted = True
        job = self.store.get("job", worker.job_id)
        if job is not None:
            job["workers"][worker.rank]["pid"] = worker.popen.pid
            self.store.put("job", job)

    def _worker_ended(self, key: tuple[str, int], code: int) -> None:
        running = self._workers.pop(key)
        # Like a container, a worker ends with its main process: no stray children survive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.popen.pid, signal.SIGKILL)
        running.log.close()
        self._meter(running)
        job = self.store.get("job", running.job_id)
        if job is None:
            return
        worker = job["workers"][running.rank]
        worker.update(status="succeeded" if code == 0 else "failed", exit_code=code,
                      finished_at=utc_now())
        self.store.put("job", job)
        if code != 0:
            self._stop_processes(job)
            self._finish(job, "failed", code, "WorkerFailed",
                         f"worker {running.rank} exited with code {code}")
        elif all(w["status"] == "succeeded" for w in job["workers"]):
            self._finish(job, "succeeded", 0, "AllWorkersSucceeded", "every worker exited with 0")

    def _stop_processes(self, job: Document, deadline: float | None = None) -> None:
        """SIGTERM every live worker group of ``job``, SIGKILL what is left after a grace."""
        mine = [(k, w) for k, w in self._workers.items() if k[0] == job["id"]]
        for _, worker in mine:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.popen.pid, signal.SIGTERM)
        if deadline is None:
            deadline = time.monotonic() + STOP_GRACE
        for _, worker in mine:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for key, worker in mine:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.popen.pid, signal.SIGKILL)
            try:
                code = worker.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # stuck in the kernel: report it as killed
                code = -signal.SIGKILL
            self._workers.pop(key, None)
            worker.log.close()
            self._meter(worker)
            state = job["workers"][worker.rank]
            state.update(status="stopped", exit_code=_exit_code(code), finished_at=utc_now())

    def _finish(
        self, job: Document, status: str, exit_code: int | None, reason: str, message: str
    ) -> None:
        for worker in job["workers"]:
            if worker["status"] in ACTIVE:
                worker["status"] = "stopped" if status == "stopped" else status
        job["status"] = status
        job["exit_code"] = exit_code
        job["finished_at"] = utc_now()
        job["progress"] = self.progress(job)
        kind = {"succeeded": "Completed", "failed": "Failed", "stopped": "Stopped"}[status]
        self._event(job, kind, reason, message)
        self._release(job)
        self.store.put("job", job)

    def _meter(self, worker: _RunningWorker) -> None:
        """Usage records for one worker's real run time × the job's requests."""
        if Fault.USAGE_NOT_METERED in self.faults:
            return
        job = self.store.get("job", worker.job_id)
        if job is None:
            return
        seconds = max(0.0, time.monotonic() - worker.started_monotonic)
        if Fault.USAGE_OVERMETERED in self.faults:
            seconds *= 2
        end = utc_now()
        for resource, key, unit in _USAGE_UNITS:
            amount = float(job["resources"][key])
            if amount <= 0:
                continue
            self.store.put("usage", {
                "id": new_id("usage"),
                "tenant_id": job["tenant_id"],
                "job_id": job["id"],
                "rank": worker.rank,
                "resource": resource,
                "quantity": round(seconds * amount, 6),
                "unit": unit,
                "run_seconds": round(seconds, 6),
                "start": worker.started_at,
                "end": end,
                "created_at": end,
                "labels": dict(job["labels"]),
            })
