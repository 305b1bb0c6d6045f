"""Run the shipped checks against the emulated cluster: ``pytest --sca-target=<file>`` in a
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

from .cluster import EmulatedKubeCluster

#: Settings that fit the checks to a 2-core machine's emulated cluster: its CPUs are
#: measured (its cards are device-plugin numbers), long jobs are short, loads are light.
TEST_CAPABILITIES: dict[str, Any] = {
    "perf": {
        "compute_device": "cpu",
        "job_timeout_s": 60,
        "cpu": {"peak_gflops": 400.0, "cores": 1, "source": "the test machine, generous"},
        "operators": {"min_efficiency": 0.001},
        "training": {"min_hfu": 0.0001, "max_step_cv": 5.0, "steps_per_epoch": 3,
                     "batch": 64, "jitter_batch": 64},
        "scaling": {"k": [1, 2], "min_efficiency": 0.5, "work": "paced"},
        "availability": {"seconds": 3, "rate_per_s": 5},
        "long_job": {"seconds": 4},
    },
    "training": {"rendezvous_timeout_s": 30},
    "jobs": {"stop_timeout_s": 30},
    "audit": {"max_delay_s": 5},
    # KServe imports an artefact from a URI (it manages no files of its own).
    "models": {"import": {"source": "hf://HuggingFaceTB/SmolLM2-135M-Instruct",
                          "format": "huggingface"}},
}


def write_target(cluster: EmulatedKubeCluster, folder: Path, *,
                 adapters: Mapping[str, Any] | None = None,
                 capabilities: Mapping[str, Any] | None = None) -> Path:
    """A target file of the emulated cluster (plus other adapters)."""
    document = {"name": "kube-emulated", "description": "an emulated Kubernetes AI platform "
                                                       "on loopback (tests)",
                "adapters": {"kubernetes": cluster.adapter_settings(), **(adapters or {})},
                "capabilities": {**TEST_CAPABILITIES, **(capabilities or {})}}
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def evaluate(target: Path, items: Iterable[str] | None = None, *,
             env: Mapping[str, str] | None = None, extra: Iterable[str] = (),
             timeout: float = 900) -> dict[str, tuple[str, str]]:
    """Evaluate ``items`` (all when None) of ``target``; item id → (verdict, reason)."""
    folder = target.parent
    report = folder / "report.json"
    selection = ["-m", " or ".join(f"clause(id='{i}')" for i in sorted(items))] \
        if items is not None else []
    command = [sys.executable, "-m", "pytest", "-p", "pytest_sca.plugin",
               f"--sca-target={target}", "-p", "no:cacheprovider", *selection,
               f"--sca-json={report}", "--sca-disruptive", *extra]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                            timeout=timeout,
                            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                                 **(env or {})})
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    return {i["id"]: (i["verdict"], i["reason"]) for i in data["items"]}
