"""The shipped checks against the real cluster, as an evaluator runs them: every item the
Slurm adapter reaches passes on the healthy cluster and fails when the cluster is configured
to break its behaviour (the fault matrix; faults are slurm.conf, sacctmgr and scontrol
settings, never code). Items whose check asks what Slurm does not do are pinned to the
verdict they get, with why (docs/slurm.md, "Items").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .cluster import SlurmCluster
from .conftest import needs_slurm
from .evaluate import evaluate, write_target

pytestmark = needs_slurm

#: Items the Slurm adapter alone brings to a pass on the healthy cluster, in groups that run
#: as one evaluation each.
HEALTHY: dict[str, list[str]] = {
    "tenancy": ["6.1.a", "6.1.b"],
    "compute": ["6.2.a", "6.2.b", "6.2.e", "6.2.g", "6.5.b", "6.5.d", "6.8.a", "6.8.b"],
    "jobs": ["6.6.a", "7.2.a", "7.2.d", "7.2.f", "7.3.c", "9.1.a", "9.2.a", "9.2.b", "9.3.a",
             "9.4.2.a", "9.4.2.b"],
}

#: Items whose check asks for what Slurm does not do: (verdict, words of the reason).
AS_SLURM_ANSWERS: dict[str, tuple[str, str]] = {
    # Slurm refuses at submission a request no node of the partition can ever hold.
    "6.5.a": ("error", "Requested node configuration is not available"),
    "6.6.b": ("error", "Requested node configuration is not available"),
    # PrivateData=jobs shows a user's jobs to itself, its account's coordinators, operators
    # and administrators only: a read-only user (MaxSubmitJobs=0) cannot read its tenant's
    # jobs, and a coordinator, who could, may also cancel them. Slurm has no read-only role.
    "6.1.c": ("fail", "a read-only user cannot read its tenant"),
    "10.2.c": ("fail", "a read-only user cannot read its tenant's job"),
    # A cloud node's Weight is a fill order, not a share of the load; Slurm declares no
    # utilisation threshold for bursting.
    "6.5.e": ("fail", "declares no burst policy with a weight or threshold"),
    # slurmrestd shows which cards a job holds, not how they connect (gres.conf Links= is
    # not served): the nodes are linked through their leaf switch, the cards by nothing.
    "9.4.2.c": ("fail", "shows no link for the card(s)"),
    # Slurm restarts no job because one of its workers failed.
    "6.6.d": ("fail", "did not continue after worker 2 died"),
    # Slurm keeps the record of a cancelled job (slurmctld for MinJobAge, accounting after).
    "7.2.c": ("fail", "delete did not remove job"),
    # The nodes' Python here has numpy but no torch: PyTorch is not offered (MPI is).
    "7.2.b": ("fail", "frameworks offered for distributed jobs ['mpi']"),
    # slurmrestd 22.05 exits on a non-numeric job id under /slurmdb: the probe is not sent.
    "7.4.b": ("error", "slurmrestd 22.05 exits on it"),
    "6.6.e": ("not_assessed", "object storage"),
    "7.2.e": ("not_assessed", "no metric series of a job"),
    "7.2.g": ("not_assessed", "no web terminal"),
    "7.4.a": ("not_assessed", "no web console"),
    "6.5.c": ("not_assessed", "lists no topology"),
    "7.3.a": ("not_assessed", "serves no `storage` capability"),
}


@pytest.fixture
def target(slurm_cluster: SlurmCluster, tmp_path: Path) -> Path:
    return write_target(slurm_cluster, tmp_path)


@pytest.fixture
def run(target: Path, slurm_token: str) -> Callable[..., dict[str, tuple[str, str]]]:
    def evaluate_items(*items: str) -> dict[str, tuple[str, str]]:
        return evaluate(target, items, env={"SLURM_JWT": slurm_token})
    return evaluate_items


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(HEALTHY))
def test_healthy_cluster_passes(group: str, run: Callable[..., dict[str, tuple[str, str]]]
                                ) -> None:
    verdicts = run(*HEALTHY[group])
    failed = {i: verdicts[i] for i in HEALTHY[group] if verdicts[i][0] != "pass"}
    assert not failed, failed


@pytest.mark.slow
def test_items_slurm_does_not_serve_get_their_verdict(
        run: Callable[..., dict[str, tuple[str, str]]]) -> None:
    verdicts = run(*AS_SLURM_ANSWERS)
    for item, (verdict, words) in AS_SLURM_ANSWERS.items():
        assert verdicts[item][0] == verdict and words in verdicts[item][1], (item,
                                                                             verdicts[item])


# --- the fault matrix -------------------------------------------------------------------------

def _prolog(body: str) -> Callable[[SlurmCluster], dict[str, str]]:
    """A TaskProlog (run by slurmstepd before every task) with ``body``."""
    def settings(cluster: SlurmCluster) -> dict[str, str]:
        return {"TaskProlog": cluster.script("task-prolog", f"#!/bin/bash\n{body}\n")}
    return settings


#: A rank other than 0 cannot start: a node whose task launch is broken.
BROKEN_SECOND_RANK = _prolog('[ "${SLURM_PROCID:-0}" = 0 ] || exit 1')
#: No task can start.
BROKEN_TASKS = _prolog("exit 1")
#: Tasks lose the cards Slurm gave them (a prolog unsetting the GPU variables).
CARDS_HIDDEN = _prolog("echo unset SLURM_STEP_GPUS\necho unset SLURM_JOB_GPUS\n"
                       "echo unset CUDA_VISIBLE_DEVICES")
#: Accounting enforces associations but no limits (GrpTRES, MaxSubmitJobs are ignored).
NO_LIMITS = {"AccountingStorageEnforce": "associations"}

#: fault → (slurm.conf settings, or a function of the cluster giving them; item → words of
#: its fail reason). The items of one fault are evaluated together.
FAULTS: dict[str, tuple[dict[str, str] | Callable[[SlurmCluster], dict[str, str]],
                        dict[str, str]]] = {
    "no-private-data": ({"PrivateData": ""}, {"6.1.a": "tenant B's user could"}),
    "no-limits": (NO_LIMITS, {"6.1.b": "quota 1 accelerator not enforced"}),
    "cards-not-accounted": ({"AccountingStorageTRES": ""},
                            {"6.2.g": "was not metered for ['accelerator']"}),
    # QOS then order nothing: no priority weight (jobs start in submission order).
    "qos-without-effect": ({"PriorityWeightQOS": "0", "PreemptType": "preempt/none",
                            "PreemptMode": "OFF"},
                           {"6.5.b": "the priority-1 job started first"}),
    "second-rank-broken": (BROKEN_SECOND_RANK,
                           {"6.6.a": "did not complete on both ranks",
                            "7.2.a": "did not complete an all-reduce"}),
    "cards-hidden": (CARDS_HIDDEN, {"6.8.b": "its process saw none"}),
}


@pytest.fixture
def configured(slurm_cluster: SlurmCluster) -> Iterator[Callable[[dict[str, str]], None]]:
    """Apply slurm.conf changes for the test; the healthy settings come back afterwards."""
    before = dict(slurm_cluster.settings)
    changed: set[str] = set()

    def apply(changes: dict[str, str]) -> None:
        changed.update(changes)
        slurm_cluster.reconfigure(changes)

    yield apply
    if changed:
        slurm_cluster.reconfigure({key: before.get(key, "") for key in changed})


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_makes_the_checks_fail(fault: str, slurm_cluster: SlurmCluster,
                                     configured: Callable[[dict[str, str]], None],
                                     run: Callable[..., dict[str, tuple[str, str]]]) -> None:
    settings, expected = FAULTS[fault]
    configured(settings(slurm_cluster) if callable(settings) else settings)
    verdicts = run(*expected)
    wrong = {item: verdicts[item] for item, words in expected.items()
             if verdicts[item][0] != "fail" or not verdicts[item][1].startswith(f"[{item}]")
             or words not in verdicts[item][1]}
    assert not wrong, wrong


@pytest.mark.slow
def test_broken_tasks_leave_job_events_unassessed(
        slurm_cluster: SlurmCluster, configured: Callable[[dict[str, str]], None],
        run: Callable[..., dict[str, tuple[str, str]]]) -> None:
    """7.2.d: with no task able to start, the probe job fails, so its status and events
    cannot be judged: the check errs (it never passes)."""
    configured(BROKEN_TASKS(slurm_cluster))
    verdict, reason = run("7.2.d")["7.2.d"]
    assert verdict == "error" and "the probe job ended failed" in reason, (verdict, reason)


@pytest.mark.slow
def test_drained_nodes_keep_a_cluster_from_running_its_work(
        slurm_cluster: SlurmCluster, run: Callable[..., dict[str, tuple[str, str]]]) -> None:
    """6.5.d: with the npu cluster's nodes drained, work for its cards never starts."""
    slurm_cluster.scontrol("update", "nodename=n3,n4", "state=drain", "reason=sca-fault")
    try:
        verdict, reason = run("6.5.d")["6.5.d"]
    finally:
        slurm_cluster.scontrol("update", "nodename=n3,n4", "state=resume")
    assert verdict == "fail" and "job for cluster npu stayed" in reason, (verdict, reason)


@pytest.mark.slow
def test_serialised_subtasks_scale_poorly(slurm_cluster: SlurmCluster,
                                          run: Callable[..., dict[str, tuple[str, str]]]) -> None:
    """9.3.a: a QOS letting a user run one job at a time serialises the parallel sub-tasks."""
    slurm_cluster.sacctmgr("modify", "qos", "where", "name=normal", "set", "MaxJobsPerUser=1")
    try:
        verdict, reason = run("9.3.a")["9.3.a"]
    finally:
        slurm_cluster.sacctmgr("modify", "qos", "where", "name=normal", "set",
                               "MaxJobsPerUser=-1")
    assert verdict == "fail" and "scale poorly" in reason, (verdict, reason)
