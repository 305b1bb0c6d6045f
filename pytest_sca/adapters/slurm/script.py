"""The batch script of a probe job: ``srun`` starts one task per worker (one per node).

Each task is a worker: ``RANK`` is its ``SLURM_PROCID``, ``WORLD_SIZE`` the job's task
count, ``MASTER_ADDR`` the host the batch script runs on (the first node of the allocation),
``MASTER_PORT`` a port derived from the job id (jobs sharing a node must not collide), and
``SCA_VISIBLE_ACCELERATORS`` the cards Slurm gave the task (``SLURM_STEP_GPUS``). Task ``r``
writes ``<folder>/<job id>.<r>.log``; the batch script itself ``<folder>/<job id>.batch.log``.
The command is quoted with :mod:`shlex`, never interpolated.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

#: What each task runs before the command: the worker's identity as torch.distributed's
#: env:// rendezvous and the probes read it.
TASK_PRELUDE = (
    'export RANK="$SLURM_PROCID" LOCAL_RANK="${SLURM_LOCALID:-0}" '
    'SCA_VISIBLE_ACCELERATORS="${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-}}"; '
    # A card share is the shards Slurm gave the task over the shards of one card.
    'if [ -n "${SLURM_SHARDS_ON_NODE:-}" ] && [ -n "${SCA_SHARDS_PER_CARD:-}" ]; then '
    'export SCA_ACCELERATOR_SHARE="$(awk -v s="$SLURM_SHARDS_ON_NODE" '
    '-v c="$SCA_SHARDS_PER_CARD" \'BEGIN { print s / c }\')"; fi; '
    'exec "$@"')


def batch_log(folder: str, job_id: str | int) -> str:
    """Where the batch script of job ``job_id`` writes."""
    return f"{folder}/{job_id}.batch.log"


def worker_log(folder: str, job_id: str | int, rank: int) -> str:
    """Where worker ``rank`` of job ``job_id`` writes."""
    return f"{folder}/{job_id}.{rank}.log"


def batch_script(argv: Sequence[str], folder: str, *, cpus_per_task: int, run_id: str,
                 name: str) -> str:
    """The script slurmctld runs for a probe job of ``argv``."""
    output = shlex.quote(f"{folder}/%j.%t.log")
    return "\n".join([
        "#!/bin/bash",
        f"# pytest-sca probe job {shlex.quote(name)} of run {shlex.quote(run_id)}",
        'export MASTER_ADDR="$(hostname)"',
        "export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))",
        'export WORLD_SIZE="$SLURM_NTASKS"',
        'export SCA_ATTEMPT=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))',
        f"exec srun --kill-on-bad-exit=1 --cpus-per-task={int(cpus_per_task)} "
        f"--output={output} --error={output} /bin/bash -c {shlex.quote(TASK_PRELUDE)} "
        f"sca-worker {shlex.join(list(argv))}",
        "",
    ])
