"""Workloads the chapter 7 checks run on the target, as ``python -c`` scripts (stdlib only).

Each prints one JSON line that the check reads back from the job's logs or
the objects it wrote. They need nothing but Python 3 in the target's image;
the distributed probe uses ``torch.distributed`` (gloo) when torch is there.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

#: Ranks exchange their values; every rank prints the sum, proving they communicated.
ALLREDUCE = r'''
import datetime, json, os, socket, struct, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
value = float(os.environ["SCA_PROBE_VALUES"].split(",")[rank])
limit = float(os.environ.get("SCA_PROBE_TIMEOUT", "30"))
deadline = time.time() + limit
try:
    import torch
    import torch.distributed as dist
except ImportError:
    torch = None
if torch is not None:
    dist.init_process_group("gloo", init_method=f"tcp://{addr}:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=limit))
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    total, backend = float(tensor.item()), "torch.distributed/gloo"
    dist.destroy_process_group()
elif rank == 0:
    backend, total, peers = "tcp", value, []
    server = socket.create_server((addr, port))
    while len(peers) < world - 1:
        server.settimeout(max(0.1, deadline - time.time()))
        peer, _ = server.accept()
        peer.settimeout(max(0.1, deadline - time.time()))
        total += struct.unpack("!d", peer.recv(8))[0]
        peers.append(peer)
    for peer in peers:
        peer.sendall(struct.pack("!d", total))
        peer.close()
    server.close()
else:
    backend = "tcp"
    while True:
        try:
            peer = socket.create_connection((addr, port), timeout=2)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    peer.settimeout(max(0.1, deadline - time.time()))
    peer.sendall(struct.pack("!d", value))
    total = struct.unpack("!d", peer.recv(8))[0]
env = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
print(json.dumps({"sca_allreduce": {"rank": rank, "world_size": world, "sum": total,
                                    "backend": backend, "env": env}}), flush=True)
'''

#: Fits y = w·x + b to a CSV dataset read from storage; writes the checkpoint back.
TRAIN = r'''
import json, os, urllib.request
rows = urllib.request.urlopen(os.environ["SCA_DATASET_URL"], timeout=30).read().decode()
points = [tuple(map(float, line.split(","))) for line in rows.split() if line]
w = b = 0.0
for epoch in range(2000):
    gw = sum((w * x + b - y) * x for x, y in points) * 2 / len(points)
    gb = sum((w * x + b - y) for x, y in points) * 2 / len(points)
    w, b = w - 0.05 * gw, b - 0.05 * gb
loss = sum((w * x + b - y) ** 2 for x, y in points) / len(points)
checkpoint = json.dumps({"w": w, "b": b, "epochs": 2000, "loss": loss}).encode()
request = urllib.request.Request(os.environ["SCA_CHECKPOINT_URL"], data=checkpoint,
                                 method="PUT", headers={"Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=30).read()
print(json.dumps({"sca_train": {"samples": len(points), "loss": loss}}), flush=True)
'''

#: Loads a checkpoint and a batch of inputs from storage; writes predictions back.
INFER = r'''
import json, os, urllib.request
def get(url):
    return urllib.request.urlopen(url, timeout=30).read()
model = json.loads(get(os.environ["SCA_CHECKPOINT_URL"]))
inputs = json.loads(get(os.environ["SCA_INPUTS_URL"]))
predictions = json.dumps([model["w"] * x + model["b"] for x in inputs]).encode()
request = urllib.request.Request(os.environ["SCA_PREDICTIONS_URL"], data=predictions,
                                 method="PUT", headers={"Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=30).read()
print(json.dumps({"sca_infer": {"inputs": len(inputs)}}), flush=True)
'''

#: Keeps a worker alive (for stop/restart and terminals), printing a heartbeat.
SLEEPER = "import time\nfor i in range(600):\n    print('sca-heartbeat', i, flush=True)\n" \
          "    time.sleep(0.5)\n"

#: Burns CPU for a few seconds, then ends: a run window with something to monitor.
BUSY = ("import time\nstart = time.time()\nwhile time.time() - start < {seconds}:\n"
        "    sum(range(20000))\nprint('sca-busy-done', flush=True)\n")


def python(script: str) -> list[str]:
    """The job command that runs ``script``."""
    return ["python", "-c", script]


def json_lines(text: str, key: str) -> list[dict[str, object]]:
    """The ``key`` payloads of every JSON line of ``text`` that has it."""
    found = []
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


def linear_dataset(w: float, b: float, count: int = 40) -> tuple[str, list[float]]:
    """A CSV of ``x,y`` points on y = w·x + b, and held-out inputs for inference."""
    rng = random.Random(7)
    xs = [round(rng.uniform(-2, 2), 4) for _ in range(count)]
    csv = "\n".join(f"{x},{w * x + b}" for x in xs) + "\n"
    return csv, [round(rng.uniform(-2, 2), 4) for _ in range(8)]


def close_to(values: Sequence[float], expected: Sequence[float], tolerance: float) -> bool:
    """Whether every value is within ``tolerance`` of its expected value."""
    return len(values) == len(expected) and all(
        abs(v - e) <= tolerance for v, e in zip(values, expected, strict=True))
