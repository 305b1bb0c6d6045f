"""slurmrestd's answers across plugin versions, read into one neutral shape.

The classic plugins (v0.0.37/38, Slurm ≤ 22.05) answer plain integers, one ``job_state``
string and take the job environment as an object; the data_parser plugins (v0.0.39 on)
answer ``{"set", "infinite", "number"}`` for numbers that may be unset, lists of states,
structured exit codes, and take the environment as ``["K=V", …]``. Everything version-shaped
is here; the capability implementations read :class:`JobInfo`, :class:`NodeInfo` and
:class:`PartitionInfo`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_sca.adapters.slurm.client import legacy
from pytest_sca.capabilities import TargetError

#: Built-in GRES type (model) patterns → vendor; ``*`` ends a prefix. Matched lower-case.
VENDOR_MODELS: dict[str, str] = {
    "a100*": "nvidia", "a800*": "nvidia", "h100*": "nvidia", "h800*": "nvidia",
    "h20*": "nvidia", "h200*": "nvidia", "l40*": "nvidia", "l20*": "nvidia",
    "v100*": "nvidia", "t4*": "nvidia", "a10*": "nvidia", "a30*": "nvidia", "a40*": "nvidia",
    "rtx*": "nvidia", "tesla*": "nvidia", "gb200*": "nvidia", "b200*": "nvidia",
    "nvidia*": "nvidia",
    "ascend*": "huawei", "910*": "huawei", "310*": "huawei", "atlas*": "huawei",
    "mlu*": "cambricon", "cambricon*": "cambricon",
    "k100*": "hygon", "z100*": "hygon", "dcu*": "hygon", "hygon*": "hygon",
    "kunlun*": "kunlunxin", "p800*": "kunlunxin", "r200*": "kunlunxin",
    "mxc*": "metax", "metax*": "metax", "bi-v*": "iluvatar", "mr-v*": "iluvatar",
    "mtt*": "mthreads", "s4000*": "mthreads", "s80*": "mthreads",
    "enflame*": "enflame", "i20*": "enflame", "s60*": "enflame",
    "mi2*": "amd", "mi3*": "amd", "instinct*": "amd",
}
#: GRES names whose devices belong to one vendor whatever their type says.
VENDOR_GRES: dict[str, str] = {"npu": "huawei", "mlu": "cambricon", "dcu": "hygon",
                               "xpu": "kunlunxin"}

_HOSTLIST = re.compile(r"([^,\[]+)(?:\[([^\]]+)\])?")
_GRES_ITEM = re.compile(r"^(?P<name>[^:(]+)(?::(?P<type>[^:(]+))?(?::(?P<count>\d+))?"
                        r"(?:\((?P<detail>[^)]*)\))?$")


# --- values -----------------------------------------------------------------------------------

def number(value: Any) -> Any:
    """A number of either shape (``5`` or ``{"set": true, "number": 5}``); None if unset."""
    if isinstance(value, dict):
        if value.get("infinite") or value.get("set") is False:
            return None
        return value.get("number")
    return value


def states(value: Any) -> list[str]:
    """A state of either shape (``"RUNNING"`` or ``["RUNNING", "COMPLETING"]``), upper case."""
    if isinstance(value, str):
        return [part for part in value.upper().replace("+", ",").split(",") if part]
    if isinstance(value, list):
        return [str(part).upper() for part in value]
    return []


def text_list(value: Any) -> list[str]:
    """A list of either shape (``"a,b"`` or ``["a", "b"]``)."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    if isinstance(value, list):
        return [str(part) for part in value]
    return []


def exit_status(value: Any) -> int | None:
    """A job's exit code of either shape; a signal ``n`` is ``128 + n``, like a shell's.

    The classic plugins answer the raw wait status (``768`` for ``exit 3``, ``9`` for
    SIGKILL); the data_parser plugins a structure."""
    if isinstance(value, int):
        return 128 + (value & 0x7F) if value & 0x7F else value >> 8
    if isinstance(value, dict):
        signal = value.get("signal") or {}
        signal_id = number(signal.get("id", signal.get("signal_id")))
        if "SIGNALED" in states(value.get("status")) and isinstance(signal_id, int):
            return 128 + signal_id
        code = number(value.get("return_code"))
        return int(code) if isinstance(code, int) else None
    return None


def iso(epoch: Any) -> str | None:
    """A UNIX time as ISO 8601 UTC (``…Z``); None for unset or zero."""
    seconds = number(epoch)
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand_hostlist(text: str) -> list[str]:
    """``n[1-3,7],gpu01`` → ``["n1", "n2", "n3", "n7", "gpu01"]`` (Slurm's hostlist form)."""
    names: list[str] = []
    for match in _HOSTLIST.finditer(text or ""):
        prefix, ranges = match.group(1).strip(","), match.group(2)
        if not prefix:
            continue
        if ranges is None:
            names.append(prefix)
            continue
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            width = len(low)
            for index in range(int(low), int(high or low) + 1):
                names.append(f"{prefix}{index:0{width}d}")
    return names


def indices(text: str) -> list[int]:
    """``0-1,3`` → ``[0, 1, 3]``; ``N/A`` → ``[]``."""
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            found.extend(range(int(low), int(high or low) + 1))
    return found


@dataclass(frozen=True)
class Gres:
    """One GRES item: ``gpu:a100:2(IDX:0-1)`` → name gpu, type a100, count 2, indices 0, 1."""

    name: str
    type: str | None
    count: int
    indices: tuple[int, ...] = ()
    sockets: str | None = None


def parse_gres(text: str | None) -> list[Gres]:
    """The items of a node's ``gres``/``gres_used`` or a job's ``gres_detail`` entry."""
    found: list[Gres] = []
    for item in re.split(r",(?![^(]*\))", text or ""):
        item = item.strip().removeprefix("gres/").removeprefix("gres:")
        match = _GRES_ITEM.match(item)
        if not item or item in ("(null)", "N/A") or match is None:
            continue
        kind, count = match.group("type"), match.group("count")
        if count is None and kind is not None and kind.isdigit():
            kind, count = None, kind
        detail = match.group("detail") or ""
        idx = re.search(r"IDX:([^)]*)", detail)
        sockets = re.search(r"S:([^)]*)", detail)
        found.append(Gres(match.group("name"), kind, int(count or 1),
                          tuple(indices(idx.group(1))) if idx else (),
                          sockets.group(1) if sockets else None))
    return found


def tres_counts(text: str | None) -> dict[str, float]:
    """``cpu=2,mem=3G,gres/gpu=2`` → ``{"cpu": 2, "mem": 3072 (MB), "gres/gpu": 2}``."""
    counts: dict[str, float] = {}
    for part in (text or "").split(","):
        key, _, value = part.partition("=")
        if not key or not value:
            continue
        counts[key] = megabytes(value) if key == "mem" else float(value)
    return counts


def megabytes(value: str) -> float:
    """``3G`` → 3072, ``512M`` → 512, ``2T`` → 2097152, ``100`` → 100 (Slurm's MB default)."""
    units = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2, "P": 1024.0 ** 3}
    value = value.strip()
    if value and value[-1].upper() in units:
        return float(value[:-1]) * units[value[-1].upper()]
    return float(value)


def vendor_of(gres_name: str, model: str | None, extra: Mapping[str, str]) -> str | None:
    """The vendor of an accelerator GRES, or None when the tables do not know it."""
    if gres_name in VENDOR_GRES:
        return VENDOR_GRES[gres_name]
    key = (model or "").lower()
    table = {**VENDOR_MODELS, **{k.lower(): v for k, v in extra.items()}}
    if key in table:
        return table[key]
    for pattern, vendor in table.items():
        if pattern.endswith("*") and key.startswith(pattern[:-1]):
            return vendor
    return None


def tres_list(value: Any) -> dict[str, float]:
    """A TRES list answer (``[{"type": "gres", "name": "gpu", "count": 2}]``) as
    ``{"gres/gpu": 2}``."""
    counts: dict[str, float] = {}
    for item in value or []:
        if not isinstance(item, dict):
            continue
        key = f"{item.get('type')}/{item['name']}" if item.get("name") else str(item.get("type"))
        count = number(item.get("count"))
        if count is not None and count >= 0:
            counts[key] = float(count)
    return counts


def max_submit(association: dict[str, Any]) -> Any:
    """An association's ``MaxSubmitJobs`` (``max.jobs.total`` in v0.0.38,
    ``max.jobs.per.submitted`` later)."""
    jobs = ((association.get("max") or {}).get("jobs") or {})
    found = number(jobs.get("total"))
    if found is None:
        found = number((jobs.get("per") or {}).get("submitted"))
    return found


# --- labels -----------------------------------------------------------------------------------

#: A job's ``comment`` / an account's ``description`` carries its labels after this prefix.
LABEL_PREFIX = "labels: "


def encode_labels(labels: Mapping[str, str]) -> str:
    """Labels as text Slurm keeps for us: ``labels: sca-run=20260101-ab12cd,team=x``."""
    for key, value in labels.items():
        if any(c in f"{key}{value}" for c in ",= \"'"):
            raise ValueError(f"label {key}={value} has a character Slurm's text fields cannot "
                             "keep (, = space or a quote)")
    return LABEL_PREFIX + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def decode_labels(text: str | None) -> dict[str, str]:
    """The labels :func:`encode_labels` wrote; {} for any other text."""
    if not text or not text.startswith(LABEL_PREFIX):
        return {}
    pairs = (part.partition("=") for part in text[len(LABEL_PREFIX):].split(","))
    return {key: value for key, _, value in pairs if key}


# --- records ----------------------------------------------------------------------------------

@dataclass
class JobInfo:
    """A job as slurmctld knows it, whatever the plugin version."""

    job_id: int
    name: str
    user: str
    account: str
    partition: str
    qos: str
    states: list[str]
    reason: str
    comment: str
    priority: int | None
    submit_time: int | None
    start_time: int | None
    end_time: int | None
    exit_code: int | None
    restarts: int
    nodes: list[str]
    gres_detail: list[str]
    tres_per_node: str
    tres_req: dict[str, float]
    tres_alloc: dict[str, float]
    cpus_per_task: int | None
    memory_per_node: int | None
    node_count: int | None
    tasks: int | None
    standard_output: str
    working_directory: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def state(self) -> str:
        """The base state (``PENDING``, ``RUNNING``…); flags like ``COMPLETING`` follow it."""
        return self.states[0] if self.states else "UNKNOWN"


def job_info(raw: Mapping[str, Any]) -> JobInfo:
    """One job of ``GET /slurm/<version>/job/{id}`` or ``…/jobs``."""
    try:
        resources = raw.get("job_resources") or {}
        allocated = resources.get("allocated_nodes")
        if allocated is None:
            nodes_part = resources.get("nodes")
            allocated = nodes_part.get("allocation") if isinstance(nodes_part, dict) else []
        names = [str(n.get("nodename") or n.get("name")) for n in allocated or []]
        if not names and raw.get("nodes"):
            names = expand_hostlist(str(raw["nodes"]))
        return JobInfo(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            user=str(raw.get("user_name") or ""),
            account=str(raw.get("account") or ""),
            partition=str(raw.get("partition") or ""),
            qos=str(raw.get("qos") or ""),
            states=states(raw.get("job_state")),
            reason=str(raw.get("state_reason") or ""),
            comment=str(raw.get("comment") or ""),
            priority=number(raw.get("priority")),
            submit_time=number(raw.get("submit_time")),
            start_time=number(raw.get("start_time")),
            end_time=number(raw.get("end_time")),
            exit_code=exit_status(raw.get("exit_code")),
            restarts=int(number(raw.get("restart_cnt")) or 0),
            nodes=names,
            gres_detail=[str(g) for g in raw.get("gres_detail") or []],
            tres_per_node=str(raw.get("tres_per_node") or ""),
            tres_req=tres_counts(raw.get("tres_req_str")),
            tres_alloc=tres_counts(raw.get("tres_alloc_str")),
            cpus_per_task=number(raw.get("cpus_per_task")),
            memory_per_node=number(raw.get("memory_per_node")),
            node_count=number(raw.get("node_count")),
            tasks=number(raw.get("tasks")),
            standard_output=str(raw.get("standard_output") or ""),
            working_directory=str(raw.get("current_working_directory") or ""),
            raw=dict(raw),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(f"slurmrestd answered a job of an unexpected shape: "
                          f"{type(exc).__name__}: {exc}") from None


@dataclass
class NodeInfo:
    """A node as slurmctld knows it."""

    name: str
    hostname: str
    address: str
    cpus: int
    memory_mb: int
    gres: list[Gres]
    gres_used: list[Gres]
    states: list[str]
    reason: str
    partitions: list[str]
    features: list[str]
    weight: int | None
    version: str


def node_info(raw: Mapping[str, Any]) -> NodeInfo:
    """One node of ``GET /slurm/<version>/nodes``."""
    try:
        return NodeInfo(
            name=str(raw["name"]),
            hostname=str(raw.get("hostname") or raw["name"]),
            address=str(raw.get("address") or ""),
            cpus=int(number(raw.get("cpus")) or 0),
            memory_mb=int(number(raw.get("real_memory")) or 0),
            gres=parse_gres(raw.get("gres")),
            gres_used=parse_gres(raw.get("gres_used")),
            states=states(raw.get("state")) + states(raw.get("state_flags")),
            reason=str(raw.get("reason") or ""),
            partitions=text_list(raw.get("partitions")),
            features=text_list(raw.get("active_features") or raw.get("features")),
            weight=number(raw.get("weight")),
            version=str(raw.get("slurmd_version") or raw.get("version") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(f"slurmrestd answered a node of an unexpected shape: "
                          f"{type(exc).__name__}: {exc}") from None


@dataclass
class PartitionInfo:
    """A partition: its nodes, priority tier, preemption mode and whether it is the default."""

    name: str
    nodes: list[str]
    priority_tier: int
    preempt_mode: list[str]
    default: bool
    state: str


def partition_info(raw: Mapping[str, Any]) -> PartitionInfo:
    """One partition of ``GET /slurm/<version>/partitions``, either shape."""
    try:
        nodes = raw.get("nodes")
        configured = nodes.get("configured") if isinstance(nodes, dict) else nodes
        priority = raw.get("priority")
        tier = priority.get("tier") if isinstance(priority, dict) else raw.get("priority_tier")
        inner = raw.get("partition")
        inner = inner if isinstance(inner, dict) else {}
        flags = [f.lower() for f in text_list(raw.get("flags"))]
        preempt = raw.get("preemption_mode")
        return PartitionInfo(
            name=str(raw["name"]),
            nodes=expand_hostlist(str(configured or "")),
            priority_tier=int(number(tier) or 0),
            preempt_mode=[m.upper() for m in text_list(preempt)],
            default="default" in flags,
            state=(states(inner.get("state")) or states(raw.get("state")) or ["UP"])[0],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(f"slurmrestd answered a partition of an unexpected shape: "
                          f"{type(exc).__name__}: {exc}") from None


# --- requests ---------------------------------------------------------------------------------

def submit_body(version: str, script: str, job: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /slurm/<version>/job/submit``.

    ``job`` in neutral keys: name, comment, account, partition, qos, min_nodes, max_nodes,
    tasks, tasks_per_node, cpus_per_task, memory_per_node (MB), gres_per_node (``gpu:a100:2``),
    time_limit (minutes), cwd, stdout, environment (dict), requeue.
    """
    plain = legacy(version)

    def no_val(value: int) -> Any:
        return value if plain else {"set": True, "infinite": False, "number": value}

    environment = dict(job.get("environment") or {})
    body: dict[str, Any] = {
        "name": job["name"],
        "tasks": job["tasks"],
        "cpus_per_task": job["cpus_per_task"],
        "current_working_directory": job["cwd"],
        "standard_output": job["stdout"],
        "standard_error": job["stdout"],
        "requeue": bool(job.get("requeue", True)),
        "environment": environment if plain else [f"{k}={v}" for k, v in environment.items()],
        "memory_per_node": no_val(int(job["memory_per_node"])),
        "time_limit": no_val(int(job["time_limit"])),
    }
    for key in ("comment", "account", "partition", "qos"):
        if job.get(key):
            body[key] = job[key]
    if job.get("tasks_per_node"):
        body["tasks_per_node"] = job["tasks_per_node"]
    low, high = int(job.get("min_nodes") or 1), int(job.get("max_nodes") or job.get("min_nodes")
                                                     or 1)
    if plain:
        body["nodes"] = [low, high]
    else:
        body["minimum_nodes"], body["maximum_nodes"] = low, high
    gres = job.get("gres_per_node")
    if gres:
        if plain:
            body["gres"] = gres
        else:
            body["tres_per_node"] = ",".join(f"gres/{item}" for item in gres.split(","))
    return {"script": script, "job": body}


def first(items: Iterable[Any], what: str) -> Any:
    """The first item of a list answer; TargetError naming ``what`` when it is empty."""
    for item in items:
        return item
    raise TargetError(f"slurmrestd answered no {what}")
