"""Faults of model development: dev machines, job tooling, pre-flight checks, console, errors."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "devmachine_without_accelerators": "dev machines start without the accelerators they "
                                       "requested (none visible inside)",
    "devmachine_without_docker": "dev machines have no working docker-compatible CLI",
    "port_forward_broken": "a dev machine's exposed URL forwards to a port nobody listens on",
    "frameworks_pytorch_only": "the framework catalogue offers PyTorch and nothing else",
    "job_stop_ignored": "stopping a job answers success but its processes keep running",
    "job_events_dropped": "the job events API answers an empty list",
    "job_metrics_not_recorded": "no time series is recorded for running jobs",
    "terminal_unavailable": "web terminals close before running anything",
    "jobs_cannot_reach_storage": "job workers cannot reach the object storage (broken egress)",
    "preflight_ignores_faulty_node": "pre-flight reports a node marked faulty as healthy and "
                                     "the scheduler places work on it",
    "web_console_missing": "the web console page is gone (404)",
    "errors_leak_stacktrace": "malformed requests answer 500 with a Python traceback",
}
