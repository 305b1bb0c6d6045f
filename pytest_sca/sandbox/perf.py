"""The sandbox's performance and operations area: diagnosis per layer, job topology, a
simulated 1,000-card fleet with per-card metric series, and the disturbances its faults cause.

Diagnoses really inspect what they name: the job's processes (container layer), the host's
load, memory and disk (OS layer, the sandbox's nodes run on this host), TCP connections to
the SSH nodes (network layer); the cards are simulated, and their layer says so.

The performance faults (``throttled_nodes``, ``noisy_neighbour``…) really disturb running
jobs: their process groups are paused and resumed (SIGSTOP/SIGCONT) to throttle them, to
interrupt them in bursts, or to run a tenant's parallel jobs one at a time; a job may be
killed; the API may stop answering for a while.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.procs import processes_by_group
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

LAYERS = ("container", "accelerator", "os", "network")
#: Fleet size: 125 simulated nodes × 8 cards.
FLEET_NODES = 125
FLEET_CARDS_PER_NODE = 8
#: The fleet's exporters sample every this many seconds.
SAMPLE_PERIOD = 15.0
#: How long a ``diagnosis_slow`` diagnosis takes.
SLOW_DIAGNOSIS_SECONDS = 30.0
#: ``throttled_nodes``: jobs run THROTTLE_RUN_MS of every THROTTLE_PERIOD_MS (nominally 60×
#: slower; on a loaded host the run windows stretch, and jobs end up 10-20× slower).
THROTTLE_RUN_MS = 3
THROTTLE_PERIOD_MS = 200
#: How soon a job that starts while the throttled jobs are paused is paused too.
NEW_JOB_SEEN_S = 0.05
#: ``noisy_neighbour``: jobs run this long (seconds, uniform), then are all paused for
#: NOISY_PAUSE_S. The run windows are shorter than any measurement that should notice: 9.2.b's
#: 36 steps take ~0.24 s on an idle host, and with run windows of 0.2-0.5 s (before
#: 2026-11-30) a third of its runs fitted between two pauses and passed.
NOISY_RUN_S = (0.05, 0.15)
NOISY_PAUSE_S = (0.3, 0.6)
#: ``api_unstable``: the API answers 503 for the first OUTAGE of every PERIOD seconds.
OUTAGE_PERIOD = 3.0
OUTAGE = 1.2
#: ``jobs_interrupted``: a job is killed once it has run this long.
INTERRUPT_AFTER = 1.0
#: ``api_drops_requests``: one read in this many answers 503.
DROP_EVERY = 25

_CARD_INDICES = frozenset(str(i) for i in range(FLEET_CARDS_PER_NODE))
_LINK_KINDS = {"nvidia": "nvlink", "huawei": "hccs", "cambricon": "mlu-link", "hygon": "xgmi"}


def iso(seconds: float) -> str:
    """Epoch seconds as the store's RFC 3339 UTC text."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int((seconds % 1) * 1e6):06d}Z"


# -- the area ----------------------------------------------------------------------------


class PerfArea:
    """Diagnoses, topology and the simulated fleet over one platform; one per sandbox."""

    def __init__(self, store: Store, state_dir: Path, faults: Faults) -> None:
        self.store = store
        self.state_dir = state_dir
        self.faults = faults
        self.started = time.time()
        self._diagnoses: dict[str, Document] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._disturber: threading.Thread | None = None
        self._requests = 0

    def start(self) -> None:
        """Start disturbing running jobs when a fault says so (and the outage clock)."""
        self.started = time.time()
        if self.faults & {Fault.THROTTLED_NODES, Fault.NOISY_NEIGHBOUR,
                          Fault.SUBTASKS_SERIALISED, Fault.JOBS_INTERRUPTED,
                          Fault.MULTI_WORKER_JOBS_THROTTLED}:
            self._disturber = threading.Thread(target=self._disturb, name="sandbox-perf-faults",
                                               daemon=True)
            self._disturber.start()

    # management service availability ---------------------------------------------------

    def api_available(self) -> bool:
        """False during the outages of the ``api_unstable`` fault."""
        if Fault.API_UNSTABLE not in self.faults:
            return True
        return (time.time() - self.started) % OUTAGE_PERIOD >= OUTAGE

    def management_unavailable(self, method: str) -> ApiError | None:
        """The 503 to answer while the ``api_unstable`` fault's outage lasts, or to every
        25th read under ``api_drops_requests``; else ``None``.

        Only reads are dropped: a client retries a read (9.4.2.a's measurement does not), so
        the other checks of a run under this fault still finish, while a dropped job
        submission would stop whichever check happened to send it."""
        if Fault.API_DROPS_REQUESTS in self.faults and method in ("GET", "HEAD"):
            with self._lock:
                self._requests += 1
                dropped = self._requests % DROP_EVERY == 0
            if dropped:
                return ApiError(503, "unavailable", "the management service is unavailable")
        if self.api_available():
            return None
        return ApiError(503, "unavailable", "the management service is unavailable")

    # diagnosis --------------------------------------------------------------------------

    def start_diagnosis(self, tenant_id: str, layer: str, job_id: str | None,
                        node_id: str | None, job: Document | None) -> Document:
        """Record a diagnosis ``running`` and run it in the background."""
        if layer not in LAYERS:
            raise ApiError(422, "invalid_request", f"layer must be one of {', '.join(LAYERS)}")
        if layer == "container" and job is None:
            raise ApiError(422, "invalid_request", "the container layer needs a job_id")
        node = None
        if layer != "container":
            if node_id is None:
                raise ApiError(422, "invalid_request", f"the {layer} layer needs a node_id")
            node = self.store.get("node", node_id)
            if node is None:
                raise not_found(f"node {node_id}")
            if Fault.DIAGNOSIS_OF_NEIGHBOUR_NODE in self.faults:
                node = self._neighbour(node)
                node_id = node["id"]
        diagnosis: Document = {
            "id": new_id("diag"), "tenant_id": tenant_id, "layer": layer, "job_id": job_id,
            "node_id": node_id, "status": "running", "verdict": None, "findings": [],
            "started_at": utc_now(), "finished_at": None, "duration_s": None,
            "simulated": layer == "accelerator", "created_at": utc_now(), "labels": {},
        }
        with self._lock:
            self._diagnoses[diagnosis["id"]] = diagnosis
        threading.Thread(target=self._diagnose, args=(diagnosis, job, node),
                         name=f"sandbox-diagnosis-{layer}", daemon=True).start()
        return dict(diagnosis)

    def _neighbour(self, node: Document) -> Document:
        """The node after ``node`` in id order (wrapping round): what a diagnosis examines
        under ``diagnosis_of_neighbour_node``."""
        nodes = sorted(self.store.list("node"), key=lambda n: str(n["id"]))
        ids = [n["id"] for n in nodes]
        return nodes[(ids.index(node["id"]) + 1) % len(nodes)]

    def diagnosis(self, diagnosis_id: str, tenant_ids: Iterable[str]) -> Document:
        """A diagnosis the caller's tenants own, or 404."""
        with self._lock:
            found = self._diagnoses.get(diagnosis_id)
            if found is None or found["tenant_id"] not in set(tenant_ids):
                raise not_found(f"diagnosis {diagnosis_id}")
            return dict(found)

    def _diagnose(self, diagnosis: Document, job: Document | None, node: Document | None) -> None:
        began = time.monotonic()
        try:
            inspect = {"container": self._container, "accelerator": self._accelerator,
                       "os": self._os, "network": self._network}[diagnosis["layer"]]
            verdict, findings = inspect(job, node)
        except Exception as exc:  # noqa: BLE001 - a diagnosis reports what stopped it
            verdict, findings = "unknown", [f"diagnosis could not finish: {exc!r}"]
        if Fault.DIAGNOSIS_SLOW in self.faults:
            self._stopping.wait(SLOW_DIAGNOSIS_SECONDS)
        if Fault.DIAGNOSIS_INCONCLUSIVE in self.faults:
            verdict = "unknown"
        took = time.monotonic() - began
        if Fault.DIAGNOSIS_DURATION_MISREPORTED in self.faults:
            took *= 1000.0  # milliseconds, in a field the API documents in seconds
        with self._lock:
            diagnosis.update(status="finished", verdict=verdict, findings=findings,
                             finished_at=utc_now(), duration_s=round(took, 6))

    def _container(self, job: Document | None, _: Document | None) -> tuple[str, list[str]]:
        assert job is not None
        current = self.store.get("job", job["id"]) or job
        findings, problems = [], 0
        groups = processes_by_group()
        for worker in current["workers"]:
            pid = worker.get("pid")
            processes = groups.get(pid, []) if pid and worker["status"] == "running" else []
            states = "".join(sorted(p.state for p in processes))
            rss = sum(p.rss_bytes for p in processes)
            findings.append(f"worker {worker['rank']} ({worker['status']}) on "
                            f"{worker.get('node_id')}: {len(processes)} process(es), states "
                            f"{states or '-'}, RSS {rss / 2**20:.1f} MiB")
            if worker["status"] == "running" and not processes:
                problems += 1
        return ("healthy" if problems == 0 else "faulty"), findings

    def _accelerator(self, _: Document | None, node: Document | None) -> tuple[str, list[str]]:
        assert node is not None
        cards = node.get("accelerators", [])
        findings = [f"card {c['index']} {c.get('vendor')} {c.get('model')}: "
                    f"{'held by ' + c['allocated_to'] if c.get('allocated_to') else 'idle'}, "
                    "ECC 0, temperature nominal (simulated)" for c in cards]
        return "healthy", findings or ["node has no accelerator"]

    def _os(self, _: Document | None, node: Document | None) -> tuple[str, list[str]]:
        load1, load5, _load15 = os.getloadavg()
        total = available = 0.0
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                key, _sep, rest = line.partition(":")
                if key == "MemTotal":
                    total = float(rest.split()[0])
                elif key == "MemAvailable":
                    available = float(rest.split()[0])
        disk = shutil.disk_usage(self.state_dir)
        free_disk = disk.free / disk.total
        findings = [f"host load {load1:.2f}/{load5:.2f} on {os.cpu_count()} CPUs",
                    f"memory available {available / max(total, 1):.0%}",
                    f"disk free {free_disk:.0%} ({self.state_dir})"]
        if node is not None and not node.get("ssh"):
            findings.append(f"{node['id']} is simulated: the figures are the host's")
        verdict = "degraded" if free_disk < 0.05 or available / max(total, 1) < 0.05 \
            else "healthy"
        return verdict, findings

    def _network(self, _: Document | None, node: Document | None) -> tuple[str, list[str]]:
        findings, failures = [], 0
        peers = [n for n in self.store.list("node") if n.get("ssh")]
        for peer in peers:
            address = (peer["ssh"]["host"], int(peer["ssh"]["port"]))
            began = time.perf_counter()
            try:
                with socket.create_connection(address, timeout=2.0):
                    pass
                findings.append(f"TCP {peer['id']} {address[0]}:{address[1]} "
                                f"{(time.perf_counter() - began) * 1000:.2f} ms")
            except OSError as exc:
                failures += 1
                findings.append(f"TCP {peer['id']} {address[0]}:{address[1]} failed: {exc}")
        if not peers:
            findings.append("no reachable node to test")
        return ("healthy" if failures == 0 else "faulty"), findings

    # topology ---------------------------------------------------------------------------

    def job_topology(self, job: Document) -> Document:
        """Nodes, cards and links of the resources the job's workers hold."""
        store = self.store
        all_nodes = [n["id"] for n in store.list("node")]
        placed: dict[str, dict[str, Any]] = {}
        for worker in job["workers"]:
            node_id, cards = worker.get("node_id"), list(worker.get("accelerators") or [])
            if node_id is None:
                continue
            if Fault.TOPOLOGY_WRONG in self.faults:
                # The view is built from a stale placement: the neighbouring node, cards shifted.
                node_id = all_nodes[(all_nodes.index(node_id) + 1) % len(all_nodes)] \
                    if node_id in all_nodes else node_id
                cards = [(c + 1) % FLEET_CARDS_PER_NODE for c in cards]
            node = store.get("node", node_id) or {}
            entry = placed.setdefault(node_id, {
                "id": node_id, "hostname": node.get("hostname"), "cluster_id":
                node.get("cluster_id"), "workers": [], "accelerators": []})
            entry["workers"].append(worker["rank"])
            models = {c["index"]: c for c in node.get("accelerators", [])}
            for index in cards:
                card = models.get(index, {})
                entry["accelerators"].append({"index": index, "vendor": card.get("vendor"),
                                              "model": card.get("model")})
        links = []
        for entry in placed.values():
            cards = entry["accelerators"]
            kind = _LINK_KINDS.get(str(cards[0]["vendor"]) if cards else "", "pcie")
            links += [{"from": f"{entry['id']}/{a['index']}", "to": f"{entry['id']}/{b['index']}",
                       "kind": kind} for i, a in enumerate(cards) for b in cards[i + 1:]]
        names = sorted(placed)
        links += [{"from": a, "to": b, "kind": "roce"}
                  for i, a in enumerate(names) for b in names[i + 1:]]
        if Fault.TOPOLOGY_LINKS_MISSING in self.faults:
            links = []
        return {"job_id": job["id"], "nodes": list(placed.values()), "links": links,
                "simulated": bool(job.get("simulated")), "created_at": utc_now(),
                "labels": {}}

    # the simulated fleet ----------------------------------------------------------------

    @staticmethod
    def fleet_node_ids() -> list[str]:
        return [f"fleet-{i:03d}" for i in range(1, FLEET_NODES + 1)]

    def fleet_nodes(self, offset: int, limit: int) -> Document:
        """A page of the fleet's nodes with their cards."""
        ids = self.fleet_node_ids()
        page = [{"id": node_id, "cluster_id": "fleet", "simulated": True,
                 "accelerators": [{"index": i, "vendor": "nvidia", "model": "H100"}
                                  for i in range(FLEET_CARDS_PER_NODE)]}
                for node_id in ids[offset:offset + limit]]
        return {"items": page, "total": len(ids), "offset": offset, "simulated": True}

    def _stale(self, node_id: str) -> bool:
        # Under ``stale_metrics`` (and ``stale_samples_reported_fresh``) the exporters of
        # every 25th node stopped sampling.
        return bool(self.faults & {Fault.STALE_METRICS, Fault.STALE_SAMPLES_REPORTED_FRESH}) \
            and int(node_id.rsplit("-", 1)[1]) % 25 == 0

    def fleet_series(self, cards: list[str]) -> list[Document]:
        """The last samples of ``node/index`` cards' utilisation series (simulated)."""
        known = set(self.fleet_node_ids())
        now = time.time()
        latest = math.floor(now / SAMPLE_PERIOD) * SAMPLE_PERIOD
        answer = []
        for card in cards:
            node_id, _, index_text = card.partition("/")
            if node_id not in known or index_text not in _CARD_INDICES:
                answer.append({"card": card, "found": False, "samples": [],
                               "last_sample_at": None})
                continue
            last = self.started - 900.0 if self._stale(node_id) else latest
            rng = random.Random(f"{card}")
            samples = [[iso(last - k * SAMPLE_PERIOD), round(rng.random(), 3)]
                       for k in range(3, -1, -1)]
            # ``stale_samples_reported_fresh``: the summary field claims what the samples deny.
            claimed = latest if Fault.STALE_SAMPLES_REPORTED_FRESH in self.faults else last
            answer.append({"card": card, "found": True, "metric":
                           "sca_accelerator_utilization_ratio", "samples": samples,
                           "last_sample_at": iso(claimed), "simulated": True})
        return answer

    # disturbances (faults) ------------------------------------------------------------------

    def _running_groups(self) -> list[tuple[Document, int]]:
        """(job, process group id) of every running worker."""
        groups = []
        for job in self.store.list("job", status="running"):
            for worker in job["workers"]:
                if worker["status"] == "running" and worker.get("pid"):
                    groups.append((job, int(worker["pid"])))
        return groups

    @staticmethod
    def _signal(groups: Iterable[int], signum: int) -> None:
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signum)

    def _throttled(self, running: list[tuple[Document, int]]) -> list[int]:
        """The process groups a throttling fault slows: every running worker's under
        ``throttled_nodes``, the workers' of multi-worker jobs under
        ``multi_worker_jobs_throttled``."""
        if Fault.THROTTLED_NODES in self.faults:
            return [group for _, group in running]
        if Fault.MULTI_WORKER_JOBS_THROTTLED in self.faults:
            return [group for job, group in running if len(job["workers"]) > 1]
        return []

    def _disturb(self) -> None:
        rng = random.Random()
        interrupted: set[str] = set()
        paused: set[int] = set()
        try:
            while not self._stopping.is_set():
                running = self._running_groups()
                groups = [g for _, g in running]
                if Fault.JOBS_INTERRUPTED in self.faults:
                    for job, group in running:
                        ran = time.time() - _epoch(job.get("started_at"))
                        if job["id"] not in interrupted and ran > INTERRUPT_AFTER:
                            interrupted.add(job["id"])
                            self._signal([group], signal.SIGKILL)
                if Fault.SUBTASKS_SERIALISED in self.faults:
                    first: dict[str, tuple[str, int]] = {}
                    for job, group in sorted(running, key=lambda r: r[0]["started_at"] or ""):
                        first.setdefault(job["tenant_id"], (job["id"], group))
                    keep = {g for _, g in first.values()}
                    hold = set(groups) - keep
                    self._signal(hold - paused, signal.SIGSTOP)
                    self._signal(paused - hold, signal.SIGCONT)
                    paused = hold
                throttled = self._throttled(running)
                if throttled:
                    # Re-listed every cycle: a job that just started is caught within 0.2 s.
                    resumed = time.monotonic()
                    self._signal(throttled, signal.SIGCONT)
                    time.sleep(THROTTLE_RUN_MS / 1000)
                    self._signal(throttled, signal.SIGSTOP)
                    # A run window stretched by a busy host is paid back with a longer pause.
                    ran = time.monotonic() - resumed
                    pause = THROTTLE_PERIOD_MS / THROTTLE_RUN_MS * ran - ran
                    self._hold(set(throttled), max(
                        (THROTTLE_PERIOD_MS - THROTTLE_RUN_MS) / 1000, pause), self._throttled)
                    continue
                if Fault.NOISY_NEIGHBOUR in self.faults and groups:
                    self._stopping.wait(rng.uniform(*NOISY_RUN_S))
                    # Long pauses now and then (not a uniform slowdown): steps that meet one
                    # take dozens of times as long as the others, even on a loaded host. A
                    # job that starts during a pause is paused too.
                    held = frozenset(paused)  # those subtasks_serialised holds stay its own
                    stopped = {g for _, g in self._running_groups()} - held
                    self._signal(stopped, signal.SIGSTOP)
                    self._hold(stopped, rng.uniform(*NOISY_PAUSE_S),
                               functools.partial(_groups_but, held))
                    self._signal(stopped, signal.SIGCONT)
                    continue
                self._stopping.wait(0.05)
        finally:
            self._signal([g for _, g in self._running_groups()], signal.SIGCONT)

    def _hold(self, stopped: set[int], seconds: float,
              select: Callable[[list[tuple[Document, int]]], list[int]]) -> None:
        """Keep ``stopped`` stopped for ``seconds``; a job that starts meanwhile and that
        ``select`` picks is stopped as soon as it is seen (every NEW_JOB_SEEN_S) and added to
        ``stopped``, not left running until the pause ends. A pause paid back for a run window
        a busy host stretched lasts seconds: a short probe job that started in it ran its
        whole measurement at full speed (9.2.a passed under ``throttled_nodes`` with four test
        workers on two cores)."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self._stopping.wait(min(NEW_JOB_SEEN_S, left)):
                return
            started = set(select(self._running_groups())) - stopped
            self._signal(started, signal.SIGSTOP)
            stopped |= started

    def close(self) -> None:
        """Stop disturbing jobs (every paused job is resumed)."""
        self._stopping.set()
        if self._disturber is not None:
            self._disturber.join(timeout=5)


def _groups_but(held: frozenset[int], running: list[tuple[Document, int]]) -> list[int]:
    """The process groups of ``running`` workers, but those in ``held``."""
    return [group for _, group in running if group not in held]


def _epoch(text: str | None) -> float:
    if not text:
        return time.time()
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
