"""Workloads the model-development checks (7.2, 7.3) run on the target, as ``python -c``
programs (standard library only), and the data they work on.

The training and inference programs print one JSON line the check reads back from the job's
logs, besides the objects they write; the all-reduce is the shipped probe
(:mod:`pytest_sca.probes.allreduce`, run by :func:`pytest_sca.suites.library.run_allreduce`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

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

#: Burns CPU for a few seconds on one thread, then ends: a run window with something to
#: monitor. Its last line is its own account: ``sca-busy-done {"cpu_s": …, "wall_s": …}``,
#: the CPU seconds the process burned since it started (``time.process_time``: user + system,
#: what a cgroup's counter counts of it) and the seconds its loop ran.
BUSY = ("import json, time\nstart = time.time()\nwhile time.time() - start < {seconds}:\n"
        "    sum(range(20000))\n"
        "print('sca-busy-done', json.dumps({{'cpu_s': time.process_time(), "
        "'wall_s': time.time() - start}}), flush=True)\n")


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
