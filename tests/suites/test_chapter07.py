"""Chapter 7 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Faults that do not touch each other's checks share one sandbox start (a group),
which keeps this module well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "7.1.a": ("devmachine_without_accelerators", "the dev machine sees 0 of the 1 accelerators"),
    "7.1.b": ("devmachine_without_docker", "`docker version` failed inside the dev machine"),
    "7.1.c": ("port_forward_broken", "the exposed URL did not return the token"),
    "7.2.a": ("rendezvous_broken", "the 2 workers did not complete an all-reduce"),
    "7.2.b": ("frameworks_pytorch_only", "PyTorch and one of tensorflow, mpi, deepspeed"),
    "7.2.c": ("job_stop_ignored", "stop did not stop job"),
    "7.2.d": ("job_events_dropped", "the job's events list is empty"),
    "7.2.e": ("job_metrics_not_recorded", "fewer than 3 metric samples in the job's run window"),
    "7.2.f": ("logs_dropped", "the token the job printed is not in its logs"),
    "7.2.g": ("terminal_unavailable", "`echo` did not round-trip through the web terminal"),
    "7.3.a": ("jobs_cannot_reach_storage", "the training job did not write a checkpoint"),
    "7.3.b": ("jobs_cannot_reach_storage", "no trained checkpoint to infer with"),
    "7.3.c": ("preflight_ignores_faulty_node", "pre-flight reports node"),
    "7.4.a": ("web_console_missing", "the web console URL answered 404"),
    "7.4.b": ("errors_leak_stacktrace", "malformed requests got a 5xx, a stack trace"),
}

#: Further behaviours an item checks, each broken by its own fault: (item, fault, words).
MORE_BREAKS: tuple[tuple[str, str, str], ...] = (
    ("7.2.b", "framework_env_incomplete", "lacking {0: ['LOCAL_RANK'], 1: ['LOCAL_RANK']}"),
    ("7.2.c", "stopped_jobs_keep_running", "shows stopped but its worker kept printing"),
    ("7.4.b", "errors_leak_internals", "names internals"),
    ("7.4.a", "api_description_omits_jobs",
     "the platform serves and the adapter calls: GET /api/v1/jobs (jobs.list"),
    ("7.2.d", "job_clock_behind", "lie outside the time the check saw it live"),
    # Only the record names the image: what the machine carries must be what a job in it does.
    ("7.1.a", "devmachine_image_substituted",
     "the dev machine does not carry what pytorch:2.5.1-py3.11 carries: torch None"),
)
#: Further faults run apart, one sandbox start each: 7.2.e reads its samples in the job's
#: run window, which job_clock_behind (in :data:`MORE_BREAKS`) moves away from them; 7.2.b
#: is in :data:`MORE_BREAKS` already.
APART_BREAKS: tuple[tuple[str, str, str], ...] = (
    ("7.2.e", "job_cpu_series_in_microseconds", "while the probe burned"),
    ("7.2.e", "job_cpu_series_of_idle_container", "of a core on average"),
    ("7.2.b", "tensorflow_image_without_tensorflow", "has it not installed in workers [0, 1]"),
)
#: Faults under which an item's check cannot find out and says so (``error``, inconclusive),
#: never a pass: (item, fault, words). They run with :data:`MORE_BREAKS`.
INCONCLUSIVE: tuple[tuple[str, str, str], ...] = (
    # No node shown healthy before the mark: "unhealthy after it" proves nothing.
    ("7.3.c", "preflight_flags_every_node", "inconclusive: before any mark"),
)

#: Items whose faults leave the other items of the group alone: one sandbox each.
GROUPS: tuple[tuple[str, ...], ...] = (
    # 7.2.b's [catalogue] case fails on the framework list (its reason comes first) while its
    # [pytorch-env] case fails on the rendezvous 7.2.a breaks; 7.2.c reads the logs
    # logs_dropped empties, so it is not in that group.
    ("7.1.a", "7.1.b", "7.1.c", "7.2.a", "7.2.b", "7.2.c", "7.2.d", "7.2.e", "7.2.g",
     "7.4.a"),
    ("7.2.f", "7.3.a", "7.3.b", "7.3.c", "7.4.b"),
)
#: 7.3.c marks a node faulty: a disruptive check.
EXTRA = ("--sca-disruptive",)


def test_groups_cover_every_item_once() -> None:
    grouped = [item for group in GROUPS for item in group]
    assert sorted(grouped) == sorted(BREAKS)
    further = [item for item, _, _ in MORE_BREAKS + INCONCLUSIVE]
    assert len(set(further)) == len(further), "one sandbox start runs every MORE_BREAKS fault"


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS, extra=EXTRA)) == {
        item: ("pass", "") for item in BREAKS}


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: "+".join(g))
def test_checks_fail_under_their_faults(group: tuple[str, ...], tmp_path: Path) -> None:
    faults = sorted({BREAKS[item][0] for item in group})
    seen = verdicts(evaluate(tmp_path, group, faults, extra=EXTRA))
    for item in group:
        verdict, reason = seen[item]
        assert verdict == "fail", (item, verdict, reason)
        assert reason.startswith(f"[{item}]"), reason
        assert BREAKS[item][1] in reason, reason


@pytest.mark.slow
def test_checks_fail_under_their_further_faults(tmp_path: Path) -> None:
    cases = MORE_BREAKS + INCONCLUSIVE
    faults = sorted({fault for _, fault, _ in cases})
    seen = verdicts(evaluate(tmp_path, {item for item, _, _ in cases}, faults, extra=EXTRA))
    for case in cases:
        item, _, words = case
        verdict, reason = seen[item]
        assert verdict == ("error" if case in INCONCLUSIVE else "fail"), (item, verdict, reason)
        # An error's reason names its exception first.
        assert reason.removeprefix("TargetError: ").startswith(f"[{item}]"), reason
        assert words in reason, reason


@pytest.mark.slow
@pytest.mark.parametrize("case", APART_BREAKS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_checks_fail_under_faults_apart(case: tuple[str, str, str], tmp_path: Path) -> None:
    item, fault, words = case
    verdict, reason = verdicts(evaluate(tmp_path, {item}, (fault,), extra=EXTRA))[item]
    assert verdict == "fail" and reason.startswith(f"[{item}]"), (item, verdict, reason)
    assert words in reason, reason
