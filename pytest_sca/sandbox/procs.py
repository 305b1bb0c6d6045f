"""The process table, read straight from /proc (Linux), so the sandbox needs no psutil.

The sandbox needs to know which processes belong to a job (its workers'
process groups) and the launcher needs to find every process of a sandbox
(its session) to be sure nothing is left running.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ProcInfo:
    """What the sandbox reads about one process."""

    pid: int
    pgid: int
    sid: int
    state: str
    cpu_seconds: float
    rss_bytes: int


def read_proc(pid: int) -> ProcInfo | None:
    """One process's group, session, state, CPU time and RSS; ``None`` if it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    state, pgid, sid = fields[0], int(fields[2]), int(fields[3])
    utime, stime = int(fields[11]), int(fields[12])
    rss_pages = int(fields[21])
    return ProcInfo(
        pid=pid,
        pgid=pgid,
        sid=sid,
        state=state,
        cpu_seconds=(utime + stime) / _CLOCK_TICKS,
        rss_bytes=rss_pages * _PAGE_SIZE,
    )


def all_processes() -> list[ProcInfo]:
    """Every live (non-zombie) process this user can see."""
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            info = read_proc(int(entry.name))
            if info is not None and info.state != "Z":
                found.append(info)
    return found


def processes_by_group() -> dict[int, list[ProcInfo]]:
    """Live processes by process group: one scan of the table for any number of groups."""
    groups: dict[int, list[ProcInfo]] = {}
    for proc in all_processes():
        groups.setdefault(proc.pgid, []).append(proc)
    return groups


def processes_in_session(sid: int) -> list[ProcInfo]:
    """Live processes of one session (a sandbox and everything it started)."""
    return [p for p in all_processes() if p.sid == sid]


def own_process_group() -> dict[str, Any]:
    """Popen/asyncio keyword arguments that start a child in a process group of its own.

    The child stays in the caller's session, so that a sweep of the sandbox's
    session finds it even if the sandbox itself was killed.
    """
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # pragma: no cover - Python 3.10 only


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    info = read_proc(pid)
    return info is not None and info.state != "Z"
