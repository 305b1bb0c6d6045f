"""Run shipped checks against the test cluster: ``pytest --sca-target=<file>`` in a
subprocess, as an evaluator would, and read the verdicts back from the JSON report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..evaluation import evaluate_target, verdicts
from .cluster import SlurmCluster

#: Settings that make the shipped checks fit a 2-core machine's fake cluster: its CPUs are
#: measured (its GPUs are device files), long jobs are short, loads are light.
TEST_CAPABILITIES: dict[str, Any] = {
    "perf": {
        "compute_device": "cpu",
        "job_timeout_s": 120,
        "cpu": {"peak_gflops": 50.0, "cores": 1, "source": "the test machine, generous"},
        "operators": {"min_efficiency": 0.001},
        "training": {"min_hfu": 0.0001, "max_step_cv": 5.0, "steps_per_epoch": 3,
                     "batch": 64, "jitter_batch": 64},
        "scaling": {"k": [1, 2], "min_efficiency": 0.7, "work": "paced"},
        "availability": {"seconds": 3, "rate_per_s": 5},
        "long_job": {"seconds": 4},
    },
    "training": {"rendezvous_timeout_s": 30},
    # Jobs with room start at submission (slurmctld schedules on each submit); the cluster's
    # KillWait is 2 s: a stop settles within seconds. 7.2.c also waits stop_timeout_s for a
    # deleted job to be gone, which Slurm never does (it keeps the record).
    "jobs": {"start_timeout_s": 15, "stop_timeout_s": 10},
}


def write_target(cluster: SlurmCluster, folder: Path, *, name: str = "slurm-test",
                 adapters: Mapping[str, Any] | None = None,
                 capabilities: Mapping[str, Any] | None = None) -> Path:
    """A target file of the cluster (plus other adapters), its token as ``${SLURM_JWT}``."""
    document = {"name": name, "description": "a Slurm cluster on loopback (tests)",
                "adapters": {"slurm": cluster.adapter_settings(), **(adapters or {})},
                "capabilities": {**TEST_CAPABILITIES, **(capabilities or {})}}
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def evaluate(target: Path, items: Iterable[str], *, env: Mapping[str, str],
             extra: Iterable[str] = (), timeout: float = 900) -> dict[str, tuple[str, str]]:
    """Evaluate ``items`` of ``target`` (a subprocess); item id → (verdict, reason)."""
    return verdicts(evaluate_target(target.parent, target, items, env=env,
                                    extra=["--sca-disruptive", *extra], timeout=timeout))
