"""The check library: what checks of every chapter share besides fixtures.

Probe commands and resource requests, reading what probe programs print, the all-reduce
probe run as a job, and the classification of refusals. Waits are
:func:`pytest_sca.capabilities.wait_for` / ``wait_for_status`` (bounded, backing off),
names and labels come from the ``sca`` fixture (``sca.name()``, ``sca.labels``), and
removing what a check created is the adapters' job (they register it in the check's
cleanup), so nothing here deletes.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypedDict, cast

from pytest_sca.capabilities import (
    Job,
    Jobs,
    Node,
    RefusalReason,
    Refused,
    Resources,
    TargetError,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.probes import ProbeOutputMissing, job_spec, parse_result

#: A job that proves it ran: prints a token and ends.
PROBE_COMMAND = ["python", "-c", "print('sca-probe')"]
#: The smallest job request: one CPU core, 1 GiB, no card.
SMALL: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 0}

#: What a platform may answer a caller who must not read another tenant's resource: a
#: refusal of access, or "not found" (hiding that it exists).
READ_DENIED = frozenset({RefusalReason.UNAUTHENTICATED, RefusalReason.FORBIDDEN,
                         RefusalReason.NOT_FOUND})
#: What a platform may answer a caller of the same tenant whose role must not act: a refusal
#: of access only ("not found" would be a lie about a resource it can read). For an action
#: on another tenant's resource use :data:`READ_DENIED` — "not found" hides that it exists —
#: and then check the resource was not affected.
ACTION_DENIED = frozenset({RefusalReason.UNAUTHENTICATED, RefusalReason.FORBIDDEN})


def spread_over_replicas(item: str, listed: Collection[object],
                         served: Sequence[object]) -> None:
    """Requests sent through one endpoint of a two-replica service, ``served``: the replica
    each answer names (6.7.b, 8.5.c). A replica the service does not list, or an answer that
    names none, is ``error`` (the answers cannot tell which served); one replica serving
    every request is ``fail``: the other does not serve."""
    if all(replica is None for replica in served):
        raise TargetError(f"[{item}] the answers do not say which replica served them (no "
                          "`replica`): cannot show that each replica serves")
    strangers = [replica for replica in served if replica not in listed]
    if strangers:
        raise TargetError(f"[{item}] answers name replicas {strangers} the service does not "
                          f"list ({sorted(listed, key=str)}): cannot tell which replica served")
    assert len(set(served)) >= 2, (
        f"[{item}] {len(served)} requests through the service endpoint were all served by "
        f"replica(s) {sorted(set(served), key=str)}")


def jobs_named(jobs: Jobs, name: str) -> list[str]:
    """Ids of the jobs ``jobs`` lists under ``name``: what a refused submission must not have
    left behind."""
    return [str(j.get("id")) for j in jobs.list_jobs() if j.get("name") == name]


def refusal_of(call: Callable[[], object]) -> Refused | None:
    """The refusal a call met, or None when it succeeded. Any other error propagates
    (the check could not find out: ``error``)."""
    try:
        call()
    except Refused as refusal:
        return refusal
    return None


def denied(call: Callable[[], object], reasons: Collection[RefusalReason]) -> bool:
    """Whether the call was refused for one of ``reasons`` (an access-control refusal, say);
    a success or a refusal for another reason is not a denial."""
    refusal = refusal_of(call)
    return refusal is not None and refusal.reason in reasons


#: What an error answer must never show about the server behind it, by kind.
INTERNALS: dict[str, re.Pattern[str]] = {
    "a stack trace": re.compile(r"Traceback \(most recent call last\)|\n\s+at [\w.$<>]+\("),
    "a file path": re.compile(
        r"(?<![\w.-])(?:/(?:usr|home|opt|srv|var|etc|app|root|tmp|lib|workspace)/[\w./-]+"
        r"|[A-Za-z]:\\[\w\\. -]+|[\w/.-]+\.(?:py|pyc|java|go|rb|js|ts|php|cs|cpp|rs)(?::\d+)?\b)"),
    "an exception class": re.compile(
        r"\b(?:[A-Z][a-z0-9]+)+(?:Error|Exception)\b|\b[a-z_]+\.(?:[A-Z]\w*)(?:Error|Exception)"),
    "SQL": re.compile(r"\b(?:SELECT\s+[\w*.,\s]+?\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|"
                      r"DELETE\s+FROM|SQLSTATE|ORA-\d{5}|sqlite3?|psycopg2?|pymysql)\b", re.I),
    "a host:port": re.compile(
        r"\b(?:(?:\d{1,3}\.){3}\d{1,3}|localhost|[\w-]+(?:\.[\w-]+)*\.(?:internal|local|lan|svc"
        r"|cluster\.local))(?::\d{2,5})\b"),
}


def leaked_internals(text: str) -> list[str]:
    """The kinds of server internals an error answer's text shows ("a file path: /srv/x.py"…),
    whatever envelope they come in; empty when it shows none."""
    found = []
    for kind, pattern in INTERNALS.items():
        match = pattern.search(text)
        if match:
            found.append(f"{kind}: {match.group(0).strip()[:60]}")
    return found


def refusal_text(refusal: Refused) -> str:
    """Everything a refusal carried back from the target: its code and message."""
    return f"{refusal.code or ''} {refusal.message}"


# --- times the platform records ----------------------------------------------------------------

#: How far the platform's clock may be from the runner's when a recorded time is compared with
#: the window of the call that caused it.
CLOCK_SLACK = timedelta(seconds=1)


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive read as UTC), or None when it is not one."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CallWindow:
    """When the check's calls were made, as the platform may record them: opened before the
    first call, :meth:`close` d after the last, each end widened by :data:`CLOCK_SLACK`."""

    started: datetime = field(default_factory=lambda: _now() - CLOCK_SLACK)
    finished: datetime | None = None

    def close(self) -> None:
        """The calls are done: the window ends now (plus the slack)."""
        self.finished = _now() + CLOCK_SLACK

    def holds(self, value: object) -> bool:
        """Whether ``value`` is a time inside the closed window."""
        when = parse_time(str(value))
        return (when is not None and self.finished is not None
                and self.started <= when <= self.finished)


#: A job that holds its resources for a minute and does nothing: work a check acts on while
#: it runs (stops it, diagnoses it).
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]


# --- probe programs and their output ----------------------------------------------------------


def python(script: str) -> list[str]:
    """The job command that runs ``script`` with the image's Python (``python -c``)."""
    return ["python", "-c", script]


def lines(text: str, prefix: str) -> list[str]:
    """The lines of ``text`` that start with ``prefix`` (the prefix removed, stripped)."""
    return [line[len(prefix):].strip() for line in text.splitlines() if line.startswith(prefix)]


def fields(line: str) -> dict[str, str]:
    """``a=1 b=x`` → ``{"a": "1", "b": "x"}``."""
    return dict(re.findall(r"(\w+)=(\S*)", line))


#: Variables through which platforms and device plugins tell a process which cards it holds,
#: in the order they are read (the first one set names the cards).
DEVICE_VARIABLES = (
    "SCA_VISIBLE_ACCELERATORS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
    "ASCEND_RT_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES", "MLU_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES", "XPU_VISIBLE_DEVICES",
)
#: Values of those variables that name no card: NVIDIA's container runtime reads ``all``,
#: ``none`` and ``void`` as every card of the host, none, or no runtime hook at all.
NOT_DEVICE_LISTS = ("all", "none", "void")

#: The variable through which the platform itself names a worker's cards as its records do
#: (the reference API; the Slurm adapter's task prelude, from ``SLURM_STEP_GPUS``). A vendor
#: runtime's variable may name them otherwise: GPU UUIDs, ordinals renumbered inside the
#: container, a device plugin's ids.
RECORD_DEVICE_VARIABLE = "SCA_VISIBLE_ACCELERATORS"

#: Variables that name the node a worker runs on, in the order they are read: the reference
#: API's and the Kubernetes adapter's (``spec.nodeName`` through the downward API), Slurm's
#: (slurmd's own name for its node), a common downward-API name. Without any of them the
#: probe's host name stands for the node.
NODE_VARIABLES = ("SCA_NODE_NAME", "SLURMD_NODENAME", "NODE_NAME")
#: The line in which the probe prints its host name.
_HOSTNAME = "sca-hostname"

#: Where a probe prints what it is given to know where it runs, one ``name=value`` a line:
#: its card-visibility variables, its node variables and its host name; the share line last.
_PRINT_VISIBLE = (
    "import os, socket\nfor n in " + repr((*DEVICE_VARIABLES, *NODE_VARIABLES)) + ":\n"
    "    print(n + '=' + os.environ.get(n, ''), flush=True)\n"
    f"print('{_HOSTNAME}=' + socket.gethostname(), flush=True)\n"
    "print('SCA_ACCELERATOR_SHARE=' + os.environ.get('SCA_ACCELERATOR_SHARE', ''), "
    "flush=True)\n"
)


def print_visible_devices_then_sleep(seconds: float) -> list[str]:
    """A probe that prints the cards and the node it is told it has (:func:`seen_by_job`
    reads them), then stays up ``seconds``."""
    return python(_PRINT_VISIBLE + f"import time; time.sleep({seconds})")


@dataclass(frozen=True)
class SeenByJob:
    """What a probe job printed about where it runs (:func:`print_visible_devices_then_sleep`):
    the cards and the node it sees, and the variables that named them."""

    #: The devices of the first visibility variable set, or ``None`` when none was.
    devices: list[str] | None
    device_variable: str | None
    #: The node of the first node variable set, else the host name the probe printed.
    node: str | None
    #: The variable that named the node, ``hostname`` for the host name, ``None``: neither.
    node_variable: str | None

    @property
    def devices_as_recorded(self) -> bool:
        """Whether the devices are named as the platform's records name its cards (through
        :data:`RECORD_DEVICE_VARIABLE`), so that the names themselves may be compared."""
        return self.device_variable == RECORD_DEVICE_VARIABLE


def seen_by_job(log: str) -> SeenByJob:
    """The cards and node a visible-device probe printed."""
    values = dict(line.split("=", 1) for line in log.splitlines() if "=" in line)
    devices, device_variable = None, None
    for name in DEVICE_VARIABLES:
        value = values.get(name, "").strip()
        if value and value.lower() not in NOT_DEVICE_LISTS:
            devices = [d.strip() for d in value.split(",") if d.strip()]
            device_variable = name
            break
    node, node_variable = None, None
    for name in (*NODE_VARIABLES, _HOSTNAME):
        if values.get(name, "").strip():
            node = values[name].strip()
            node_variable = "hostname" if name == _HOSTNAME else name
            break
    return SeenByJob(devices, device_variable, node, node_variable)


def visible_devices(log: str) -> list[str] | None:
    """The devices a probe printed as visible (first variable that was set), or ``None``."""
    return seen_by_job(log).devices


def printed_visible_devices(jobs: Jobs, job_id: str, timeout: float, *,
                            worker: int = 0) -> str:
    """The log of a running visible-device probe (worker ``worker`` of the job) once it has
    printed every line; :class:`TargetError` when it has not within ``timeout``."""
    last = "SCA_ACCELERATOR_SHARE="
    try:
        return wait_for(lambda: jobs.logs(job_id, worker=worker),
                        lambda log: any(line.startswith(last) for line in log.splitlines()),
                        timeout, lambda log: f"{len(log)} characters")
    except WaitTimeout as exc:
        raise TargetError(f"worker {worker} of job {job_id} printed {len(exc.last or '')} "
                          f"characters in {timeout:g} s, not the cards and node it sees"
                          ) from None


def inventory_node(nodes: Sequence[Node], name: str | None) -> Node | None:
    """The inventory node a worker's node name names: by id, else by host name (or the host
    name's first label, for a name given without its domain); ``None`` when none."""
    if not name:
        return None
    short = name.split(".", 1)[0]
    return (next((n for n in nodes if n.get("id") == name), None)
            or next((n for n in nodes if n.get("hostname") == name), None)
            or next((n for n in nodes
                     if str(n.get("hostname") or "").split(".", 1)[0] == short), None))


def json_lines(text: str, key: str) -> list[object]:
    """The ``key`` payloads of every JSON line of ``text`` that has it."""
    found: list[object] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and key in document:
                found.append(document[key])
    return found


def cards_held_by(nodes: Sequence[Node], job_id: str) -> list[str]:
    """``node:index`` of every card the inventory lists as allocated to ``job_id``."""
    return [f"{node.get('id')}:{card.get('index')}" for node in nodes
            for card in node.get("accelerators") or [] if card.get("allocated_to") == job_id]


# --- the all-reduce probe as a job --------------------------------------------------------------


class AllReduceResult(TypedDict, total=False):
    """What one rank of the all-reduce probe (mode ``verify``) printed."""

    rank: int
    world_size: int
    value: float
    sum: float | None
    library: str
    env: dict[str, str | None]
    #: Why the all-reduce failed on this rank (``None`` when it did not).
    error: str | None


@dataclass(frozen=True)
class AllReduceRun:
    """A finished all-reduce probe job: the job, the values the ranks were given, and what
    each rank printed (``None`` for a rank that printed no result)."""

    job: Job
    values: tuple[int, ...]
    results: tuple[AllReduceResult | None, ...]

    @property
    def expected(self) -> float:
        """The sum every rank must print."""
        return float(sum(self.values))

    def ranks_with_the_sum(self) -> list[int]:
        """The ranks that printed the right sum, as rank ``r`` of a world of all ranks."""
        return [rank for rank, result in enumerate(self.results)
                if result is not None and result.get("rank") == rank
                and result.get("world_size") == len(self.values)
                and result.get("sum") == self.expected]


def run_allreduce(sca: CheckContext, jobs: Jobs, image: str, suffix: str,
                  resources: Resources, *, workers: int = 2,
                  env_names: Sequence[str] = (), linger_s: float = 0.0) -> AllReduceRun:
    """Run the all-reduce probe (mode ``verify``) as a job of ``workers`` workers, each given
    a random value, and read every rank's result from its logs.

    The workers wait for each other up to ``training.rendezvous_timeout_s``; the job up to a
    minute more (:class:`WaitTimeout`: the check errors). ``env_names``: variables every
    rank reports as it saw them; ``linger_s``: how long every rank stays after the
    all-reduce, its job still running."""
    values = tuple(random.randint(1, 1000) for _ in range(workers))
    patience = sca.settings.training.rendezvous_timeout_s
    command, env = job_spec("allreduce", {"mode": "verify", "values": list(values),
                                          "timeout_s": patience, "env": list(env_names),
                                          "linger_s": linger_s})
    job = jobs.submit(sca.name(suffix), image, command, resources, workers=workers, env=env,
                      labels=sca.labels)
    done = jobs.wait(job["id"], timeout=patience + 60)
    results: list[AllReduceResult | None] = []
    logs: list[str] = []
    for rank in range(workers):
        logs.append(jobs.logs(job["id"], worker=rank))
        try:
            results.append(cast(AllReduceResult, parse_result(logs[-1], "allreduce")))
        except ProbeOutputMissing:
            results.append(None)
    sca.evidence(f"{workers}-worker all-reduce job", {
        "status": done.get("status"), "exit_code": done.get("exit_code"),
        "workers": done.get("workers"), "values": values, "results": results,
        "log tails": [text[-600:] for text in logs]})
    return AllReduceRun(done, values, tuple(results))


def time_resolution(*texts: str) -> float:
    """The coarsest resolution of these RFC 3339 timestamps: 1 s when one has no fraction
    (Kubernetes and Slurm's accounting write whole seconds), else a millisecond."""
    return 1.0 if any("." not in text for text in texts) else 0.001
