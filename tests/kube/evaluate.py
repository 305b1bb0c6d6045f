"""Run the shipped checks against the emulated cluster: ``pytest --sca-target=<file>`` in a
subprocess, as an evaluator would, and read the verdicts back from the JSON report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..evaluation import evaluate_target, verdicts
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
    return verdicts(evaluate_target(target.parent, target, items, env=env,
                                    extra=["--sca-disruptive", *extra], timeout=timeout))
