"""Workloads the distributed-training and accelerator-sharing checks (6.6, 6.8) run on the
target, as ``python -c`` programs.

Each is self-contained (the standard library; the checkpoint program also boto3 for an
``s3://`` location) and prints ``sca-…`` lines the check reads back from the job's logs
(:func:`pytest_sca.suites.library.lines`). The all-reduce is the shipped probe
(:mod:`pytest_sca.probes.allreduce`, run by :func:`pytest_sca.suites.library.run_allreduce`).
"""

from __future__ import annotations

from ..library import DEVICE_VARIABLES, NOT_DEVICE_LISTS

_VISIBLE = ("names = " + repr(DEVICE_VARIABLES) + "\nnot_lists = " + repr(NOT_DEVICE_LISTS)
            + "\n" + r"""
def visible():
    for name in names:
        value = os.environ.get(name, "").strip()
        if value and value.lower() not in not_lists:
            return ",".join(c.strip() for c in value.split(",") if c.strip())
    return ""
""")

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

#: Checkpointing probe: resumes after the step saved at SCA_CHECKPOINT_URI, saves every step;
#: a run that started from step 0 dies (SIGKILL, like a power cut) at SCA_PROBE_KILL_AT. The
#: location is ``s3://bucket/prefix/`` (keys from the file SCA_CHECKPOINT_CREDENTIALS names,
#: else the worker's own AWS credentials) or a directory (``file://`` or a path, a mounted
#: volume). A run that reaches the last step removes its checkpoint: nothing is left behind.
CHECKPOINT_PROBE = r"""
import json, os, signal, time
uri = os.environ["SCA_CHECKPOINT_URI"]
if uri.startswith("s3://"):
    import boto3, botocore.exceptions
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    options = {}
    if os.environ.get("SCA_CHECKPOINT_CREDENTIALS"):
        with open(os.environ["SCA_CHECKPOINT_CREDENTIALS"]) as handle:
            creds = json.load(handle)
        options = {"endpoint_url": creds.get("endpoint"), "region_name": "us-east-1",
                   "aws_access_key_id": creds["access_key"],
                   "aws_secret_access_key": creds["secret_key"]}
    s3 = boto3.client("s3", **options)
    key = prefix + "sca-probe-checkpoint.json"
    def load():
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except botocore.exceptions.ClientError:
            return None
    def save(state):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(state).encode())
    def remove():
        s3.delete_object(Bucket=bucket, Key=key)
else:
    path = os.path.join(uri.removeprefix("file://"), "sca-probe-checkpoint.json")
    def load():
        try:
            with open(path) as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
    def save(state):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".partial", "w") as handle:
            json.dump(state, handle)
        os.replace(path + ".partial", path)
    def remove():
        os.remove(path)
saved = load()
start = saved["step"] + 1 if saved else 0
print(f"sca-resume-from: {start}", flush=True)
total, kill_at = int(os.environ["SCA_PROBE_STEPS"]), int(os.environ["SCA_PROBE_KILL_AT"])
for step in range(start, total):
    time.sleep(0.05)
    save({"step": step})
    print(f"sca-checkpoint: {step}", flush=True)
    print(f"sca-progress: {(step + 1) / total:.3f}", flush=True)
    if start == 0 and step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
remove()
"""

#: What a worker sees of its resources: the cards it was given, the CPUs it may run on and
#: the CPU limit of its cgroup (``none`` without one); it then stays up SCA_PROBE_SECONDS.
RESOURCES_PROBE = "import os, time\n" + _VISIBLE + r"""
limit = "none"
try:
    quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
    if quota != "max":
        limit = f"{int(quota) / int(period):g}"
except (OSError, ValueError):
    pass
print(f"sca-resources accelerators={visible()} cpus={len(os.sched_getaffinity(0))} "
      f"cpu_limit={limit}", flush=True)
time.sleep(float(os.environ.get("SCA_PROBE_SECONDS", "0")))
"""

#: What a worker on a shared card sees: its card, and the fraction it was told (``none`` when
#: the platform tells none, as with time slicing); it stays up SCA_PROBE_SECONDS so that two
#: of them run side by side.
SHARE_PROBE = "import os, time\n" + _VISIBLE + r"""
share = os.environ.get("SCA_ACCELERATOR_SHARE", "")
if not share and os.environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"):
    share = f"{float(os.environ['CUDA_MPS_ACTIVE_THREAD_PERCENTAGE']) / 100:g}"
print(f"sca-share share={share or 'none'} accelerators={visible() or 'none'}", flush=True)
time.sleep(float(os.environ.get("SCA_PROBE_SECONDS", "20")))
"""

#: Training-like work long enough to act on while it runs: SCA_PROBE_STEPS steps of 0.15 s,
#: each printing its progress (it ends by itself, so nothing can outlive the check).
STEADY_PROBE = r"""
import os, time
steps = int(os.environ.get("SCA_PROBE_STEPS", "40"))
for step in range(steps):
    print(f"sca-progress: {(step + 1) / steps:.3f}", flush=True)
    time.sleep(0.15)
"""
