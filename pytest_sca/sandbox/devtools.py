"""Tools around training jobs: frameworks, per-job metric series, pre-flight checks, terminals.

- Frameworks: what distributed jobs can be written in, and how the platform
  launches each (the environment contract its workers get).
- Job series: every running worker's real CPU seconds and RSS, sampled in the
  job monitor's tick and kept in memory per job (lost when the sandbox stops).
- Pre-flight: per-node checks before work is placed (marked faulty by an
  operator, SSH reachable for nodes that have SSH, free state-disk space);
  a node marked faulty gets ``health: faulty`` and the scheduler skips it.
- Terminals: a shell in a running worker's directory with the worker's
  environment, its input and output carried over a websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.procs import own_process_group, processes_by_group
from pytest_sca.sandbox.store import Document, Store, utc_now

FRAMEWORKS: tuple[Document, ...] = (
    {"name": "pytorch", "versions": ["2.5.1"], "launcher": "torchrun-compatible env://",
     "distributed": True, "backends": ["gloo", "nccl", "hccl"],
     "worker_env": ["RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]},
    {"name": "tensorflow", "versions": ["2.17.0"], "launcher": "TF_CONFIG-compatible",
     "distributed": True, "backends": ["grpc"],
     "worker_env": ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]},
    {"name": "deepspeed", "versions": ["0.15"], "launcher": "torchrun-compatible env://",
     "distributed": True, "backends": ["gloo", "nccl", "hccl"],
     "worker_env": ["RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]},
    {"name": "mpi", "versions": ["openmpi-4"], "launcher": "rank env (RANK/WORLD_SIZE)",
     "distributed": True, "backends": ["tcp"],
     "worker_env": ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]},
)
SAMPLE_EVERY = 0.25
_MAX_POINTS = 4000
TERMINAL_IDLE_SECONDS = 300.0
_PRIVATE_ENV_PREFIXES = ("SCA_SANDBOX_", "AWS_")


class JobSeries:
    """Per-worker time series of running jobs, sampled from their real process groups."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self._points: dict[str, dict[int, list[tuple[str, float, float]]]] = defaultdict(dict)
        self._lock = threading.Lock()
        self._last = 0.0

    def sample(self) -> None:
        """Called in every tick of the job monitor; samples every ``SAMPLE_EVERY`` s."""
        now = time.monotonic()
        if now - self._last < SAMPLE_EVERY or Fault.JOB_METRICS_NOT_RECORDED in self.faults:
            return
        self._last = now
        running = [(job["id"], worker["rank"], worker["pid"])
                   for job in self.store.list("job", status="running")
                   for worker in job["workers"]
                   if worker.get("status") == "running" and worker.get("pid")]
        if not running:
            return
        # One scan of the process table per sample, whatever the number of workers.
        groups = processes_by_group()
        stamp = utc_now()
        for job_id, rank, pid in running:
            procs = groups.get(int(pid), [])
            if not procs:
                continue
            cpu = sum(p.cpu_seconds for p in procs)
            rss = float(sum(p.rss_bytes for p in procs))
            with self._lock:
                series = self._points[job_id].setdefault(rank, [])
                series.append((stamp, cpu, rss))
                del series[:-_MAX_POINTS]

    def series(self, job: Document, since: str | None, until: str | None) -> Document:
        """``{job_id, interval_s, series: [{name, unit, worker, points: [{time, value}]}]}``."""
        with self._lock:
            per_worker = {rank: list(points) for rank, points in self._points[job["id"]].items()}
        answer: list[Document] = []
        for rank, points in sorted(per_worker.items()):
            window = [p for p in points if (since is None or p[0] >= since)
                      and (until is None or p[0] <= until)]
            scale = 1.0
            if Fault.JOB_CPU_SERIES_IN_MICROSECONDS in self.faults:
                scale = 1e6
            elif Fault.JOB_CPU_SERIES_OF_IDLE_CONTAINER in self.faults:
                scale = 1e-3
            answer.append({"name": "cpu_seconds", "unit": "seconds", "worker": rank,
                           "points": [{"time": t, "value": cpu * scale}
                                      for t, cpu, _ in window]})
            answer.append({"name": "memory_rss_bytes", "unit": "bytes", "worker": rank,
                           "points": [{"time": t, "value": rss} for t, _, rss in window]})
        return {"job_id": job["id"], "interval_s": SAMPLE_EVERY, "series": answer}


def _tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _worker_env(job: Document, rank: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
    env.update({str(k): str(v) for k, v in job.get("env", {}).items()})
    env.update({"SCA_JOB_ID": job["id"], "RANK": str(rank),
                "WORLD_SIZE": str(job["world_size"]), "PS1": "", "TERM": "dumb"})
    return env


class DevTools:
    """Frameworks, pre-flight checks, operators' node marks and worker terminals."""

    def __init__(self, store: Store, faults: Faults, state_dir: Path, jobs_dir: Path) -> None:
        self.store = store
        self.faults = faults
        self.state_dir = state_dir
        self.jobs_dir = jobs_dir

    def frameworks(self) -> list[Document]:
        """The framework catalogue (PyTorch only under ``frameworks_pytorch_only``)."""
        offered = [dict(f) for f in FRAMEWORKS]
        if Fault.FRAMEWORKS_PYTORCH_ONLY in self.faults:
            offered = [f for f in offered if f["name"] == "pytorch"]
        return offered

    def preflight(self, node_ids: list[str] | None) -> Document:
        """Per-node health checks; ``{items: [{node_id, healthy, checks}], eligible: [...]}``."""
        ignore_marks = Fault.PREFLIGHT_IGNORES_FAULTY_NODE in self.faults
        nodes = self.store.list("node")
        if node_ids:
            known = {n["id"] for n in nodes}
            missing = [n for n in node_ids if n not in known]
            if missing:
                raise not_found(f"node {missing[0]}")
            nodes = [n for n in nodes if n["id"] in node_ids]
        disk = shutil.disk_usage(self.state_dir)
        items = []
        # preflight_flags_every_node: every node reads as marked, whatever its mark.
        flag_all = Fault.PREFLIGHT_FLAGS_EVERY_NODE in self.faults
        for node in nodes:
            marked = flag_all or (node["health"] != "healthy" and not ignore_marks)
            checks = [{"name": "operator_mark", "ok": not marked,
                       "detail": node.get("health_reason") or node["health"] if marked else "none"},
                      {"name": "state_disk_free", "ok": disk.free > 256 << 20,
                       "detail": f"{disk.free >> 20} MiB free"}]
            if node.get("ssh"):
                reachable = _tcp_reachable(node["ssh"]["host"], int(node["ssh"]["port"]))
                checks.append({"name": "ssh_reachable", "ok": reachable,
                               "detail": f"{node['ssh']['host']}:{node['ssh']['port']}"})
            checks.append({"name": "accelerators_present", "ok": bool(node["accelerators"]),
                           "detail": f"{len(node['accelerators'])} simulated cards"})
            items.append({"node_id": node["id"], "cluster_id": node["cluster_id"],
                          "healthy": all(c["ok"] for c in checks), "checks": checks,
                          "checked_at": utc_now(), "simulated": node.get("simulated", True)})
        return {"items": items, "eligible": [i["node_id"] for i in items if i["healthy"]]}

    def mark_node(self, node_id: str, faulty: bool, reason: str) -> Document:
        """An operator marks a node faulty (the scheduler skips it) or healthy again."""
        def change(node: Document) -> None:
            node["health"] = "faulty" if faulty else "healthy"
            node["health_reason"] = reason if faulty else None
        node = self.store.update("node", node_id, change)
        if node is None:
            raise not_found(f"node {node_id}")
        return {"node_id": node_id, "health": node["health"], "reason": node.get("health_reason")}

    async def terminal(self, websocket: WebSocket, job: Document, rank: int) -> None:
        """Carry a shell in worker ``rank``'s directory over an accepted websocket until one ends.

        Client text frames are the shell's input; its output (stdout and stderr) comes
        back as text frames. The shell's process group is killed when the socket closes.
        """
        if Fault.TERMINAL_UNAVAILABLE in self.faults:
            await websocket.close(code=1011, reason="terminal unavailable")
            return
        workdir = self.jobs_dir / job["id"] / f"worker-{rank}"
        if not workdir.is_dir():
            raise ApiError(409, "conflict", f"worker {rank} of job {job['id']} has no directory")
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh", "-s", cwd=workdir, env=_worker_env(job, rank),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, **own_process_group(),
        )

        async def pump_output() -> None:
            assert shell.stdout is not None
            while chunk := await shell.stdout.read(4096):
                await websocket.send_text(chunk.decode("utf-8", "replace"))

        output = asyncio.create_task(pump_output())
        try:
            while True:
                text = await asyncio.wait_for(websocket.receive_text(), TERMINAL_IDLE_SECONDS)
                assert shell.stdin is not None
                shell.stdin.write(text.encode())
                await shell.stdin.drain()
        except (WebSocketDisconnect, asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(shell.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(shell.wait(), 5)
            output.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await output
            with contextlib.suppress(RuntimeError):
                await websocket.close()


def leaked_traceback(exc: Exception) -> PlainTextResponse:
    """``errors_leak_stacktrace``: what a framework's debug mode answers to a bad request."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PlainTextResponse("Internal Server Error\n" + text, status_code=500)
