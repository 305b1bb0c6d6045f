"""Probe programs and helpers of the distributed-training, sharing and operations checks.

Each probe is a self-contained Python program run as ``python -c <probe>`` in a
job: it uses only the standard library (the checkpoint probe also boto3) and
prints ``sca-…`` lines the check reads back from the job's logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

#: All-reduce over plain TCP at MASTER_ADDR:MASTER_PORT: rank 0 sums every rank's vector
#: and sends the sum back; every rank prints it. No torch needed.
ALLREDUCE_PROBE = r"""
import json, os, socket, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"])
deadline = time.monotonic() + float(os.environ.get("SCA_PROBE_TIMEOUT", "10"))
mine = [float(rank + 1)] * 4
if rank == 0:
    server = socket.create_server((addr, port))
    server.settimeout(max(0.1, deadline - time.monotonic()))
    peers = [server.accept()[0].makefile("rw") for _ in range(world - 1)]
    total = list(mine)
    for peer in peers:
        total = [a + b for a, b in zip(total, json.loads(peer.readline()))]
    for peer in peers:
        peer.write(json.dumps(total) + "\n"); peer.flush()
else:
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=1.0)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"rank {rank}: cannot reach rank 0 at {addr}:{port}")
            time.sleep(0.1)
    conn.settimeout(max(0.1, deadline - time.monotonic()))
    stream = conn.makefile("rw")
    stream.write(json.dumps(mine) + "\n"); stream.flush()
    total = json.loads(stream.readline())
print(f"sca-allreduce rank={rank} world={world} sum={total[0]:g}", flush=True)
"""

#: Elastic probe: at full size the last rank dies (SIGKILL, like a lost node); at any
#: smaller size every worker finishes.
ELASTIC_PROBE = r"""
import os, signal, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
top = int(os.environ["SCA_PROBE_MAX_WORKERS"])
print(f"sca-elastic rank={rank} world={world}", flush=True)
if world == top and rank == world - 1:
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(8 if world == top else 0.5)
"""

#: Checkpointing probe: resumes after the step saved at SCA_CHECKPOINT_URI (S3), saves
#: every step; a run that started from step 0 dies (SIGKILL, like a power cut) at KILL_AT.
CHECKPOINT_PROBE = r"""
import json, os, signal, time
import boto3, botocore.exceptions
uri = os.environ["SCA_CHECKPOINT_URI"]
with open(os.environ["SCA_CHECKPOINT_CREDENTIALS"]) as handle:
    creds = json.load(handle)
bucket, _, prefix = uri.removeprefix("s3://").partition("/")
s3 = boto3.client("s3", endpoint_url=creds.get("endpoint"), region_name="us-east-1",
                  aws_access_key_id=creds["access_key"],
                  aws_secret_access_key=creds["secret_key"])
key = prefix + "sca-probe-checkpoint.json"
try:
    start = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["step"] + 1
except botocore.exceptions.ClientError:
    start = 0
print(f"sca-resume-from: {start}", flush=True)
total, kill_at = int(os.environ["SCA_PROBE_STEPS"]), int(os.environ["SCA_PROBE_KILL_AT"])
for step in range(start, total):
    time.sleep(0.05)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"step": step}).encode())
    print(f"sca-checkpoint: {step}", flush=True)
    print(f"sca-progress: {(step + 1) / total:.3f}", flush=True)
    if start == 0 and step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
"""

#: What a worker sees of its resources: the accelerators it was given and usable CPUs.
RESOURCES_PROBE = r"""
import os
cards = [c for c in os.environ.get("SCA_VISIBLE_ACCELERATORS", "").split(",") if c]
print(f"sca-resources accelerators={','.join(cards)} cpus={len(os.sched_getaffinity(0))}",
      flush=True)
"""

#: What a worker on a shared card sees: its share and its card; it stays up a little while
#: so that two of them run side by side.
SHARE_PROBE = r"""
import os, time
cards = os.environ.get("SCA_VISIBLE_ACCELERATORS", "")
share = os.environ.get("SCA_ACCELERATOR_SHARE", "")
print(f"sca-share share={share or 'none'} accelerators={cards or 'none'}", flush=True)
time.sleep(float(os.environ.get("SCA_PROBE_SECONDS", "4")))
"""

#: Long enough to act on a running job (ends by itself so nothing can outlive the check).
STEADY_PROBE = r"""
import time
for step in range(24):
    print(f"sca-progress: {(step + 1) / 24:.3f}", flush=True)
    time.sleep(0.15)
"""

T = TypeVar("T")


def python(probe: str) -> list[str]:
    """The command that runs ``probe`` with the image's Python."""
    return ["python", "-c", probe]


def lines(text: str, prefix: str) -> list[str]:
    """The lines of ``text`` that start with ``prefix`` (the prefix removed, stripped)."""
    return [line[len(prefix):].strip() for line in text.splitlines() if line.startswith(prefix)]


def fields(line: str) -> dict[str, str]:
    """``a=1 b=x`` → ``{"a": "1", "b": "x"}``."""
    return dict(re.findall(r"(\w+)=(\S*)", line))


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """Read until ``done`` or ``timeout`` seconds pass (backing off); the last value read."""
    deadline = time.monotonic() + timeout
    interval = 0.1
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 1.0)


def cards_held_by(nodes: list[dict[str, Any]], job_id: str) -> list[str]:
    """``node:index`` of every card a node lists as allocated to ``job_id``."""
    return [f"{node['id']}:{card['index']}" for node in nodes
            for card in node.get("accelerators", []) if card.get("allocated_to") == job_id]
