"""Faults of performance and operations: slow or unstable jobs, API, diagnosis, monitoring."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "throttled_nodes": "running jobs get 3 ms of every 200 ms (paused in between): 10-60x slower",
    "noisy_neighbour": "running jobs are paused 0.3-0.6 s at random every 0.2-0.5 s",
    "subtasks_serialised": "a tenant's parallel jobs run one at a time (the others held paused)",
    "jobs_interrupted": "a running job is killed by the platform after 1 s",
    "api_unstable": "the management API answers 503 for 1.2 s of every 3 s",
    "diagnosis_slow": "every diagnosis takes 30 s",
    "topology_wrong": "a job's topology shows the neighbouring node and shifted card indices",
    "stale_metrics": "the exporters of every 25th fleet node stopped sampling 15 min ago",
}
