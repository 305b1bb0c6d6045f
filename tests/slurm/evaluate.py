"""Run shipped checks against the test cluster: ``pytest --sca-target=<file>`` in a
subprocess, as an evaluator would, and read the verdicts back from the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

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
    "jobs": {"stop_timeout_s": 30},
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
    folder = target.parent
    report = folder / "report.json"
    selection = " or ".join(f"clause(id='{i}')" for i in sorted(items))
    # Only the plugin under test: the environment's other pytest plugins (hypothesis via
    # schemathesis) take seconds to import on every run.
    command = [sys.executable, "-m", "pytest", "-p", "pytest_sca.plugin",
               f"--sca-target={target}", "-p", "no:cacheprovider", "-m", selection,
               f"--sca-json={report}", "--sca-disruptive", *extra]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            timeout=timeout,
                            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env})
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    return {i["id"]: (i["verdict"], i["reason"]) for i in data["items"]}
