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
    # The emulated kubelet starts a pod's process as soon as it is bound.
    "jobs": {"start_timeout_s": 15, "stop_timeout_s": 30},
    "audit": {"max_delay_s": 5},
    # The emulated KServe readies a service within a second or two.
    "services": {"ready_timeout_s": 20},
    # KServe imports an artefact from a URI (it manages no files of its own).
    "models": {"import": {"source": "hf://HuggingFaceTB/SmolLM2-135M-Instruct",
                          "format": "huggingface"}},
}


#: Items that pass on the conforming emulated cluster through the Kubernetes adapter alone.
HEALTHY = {
    "6.1.a", "6.1.b", "6.1.c", "6.2.a", "6.2.b", "6.2.e", "6.5.a", "6.5.b", "6.6.a", "6.6.b",
    "6.6.e", "6.7.a", "6.7.b", "6.8.a", "6.8.b", "7.1.a", "7.1.c", "7.2.a", "7.2.b", "7.2.c",
    "7.2.d", "7.2.f", "7.2.g", "7.3.c", "7.4.a", "7.4.b", "8.1.b", "8.4.a", "8.4.b", "8.5.a",
    "9.1.a", "9.2.a", "9.2.b", "9.3.a", "9.4.2.a", "9.4.2.b", "9.4.2.c", "10.2.c", "10.2.d",
    "10.2.f",
    # DRA: a multi-card claim's devices share the PCIe root (matchAttribute)
    "6.5.c",
    # the cluster's Prometheus through the service proxy (cAdvisor, the card exporters)
    "7.2.e", "9.4.2.d",
    # the platform's ComfyUI through the service proxy
    "8.7.a", "8.7.b", "8.7.c", "8.7.d"}
#: Those of :data:`HEALTHY` that pass in the six-adapter shape with the other five adapters'
#: endpoints closed (test_reach.py): not 7.2.b (it runs the preset image of another framework
#: the image catalogue, ``registry``, names) nor 8.1.b (it compares the catalogue with the
#: inference API's ``/models``, ``openai``).
HEALTHY_IN_THE_SHAPE = HEALTHY - {"7.2.b", "8.1.b"}


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
