"""``scheduling`` and ``training`` on Slurm.

- A queued job's ``queue`` is a partition (``default``: the cluster's default partition) and
  its ``priority`` a QOS: the QOS the probe tenants may use whose priority is the highest not
  above the one asked (the lowest when all are above). Slurm then orders the queue by its
  priority plugin (``PriorityWeightQOS`` of priority/multifactor) and may preempt by QOS.
- The burst policy is Slurm's power saving with cloud nodes: partitions whose nodes include
  ``CLOUD`` nodes burst onto them, the nodes' ``Weight`` deciding the order (the scheduler
  fills lighter nodes first). That order is no share of the load and Slurm has no
  utilisation threshold for bursting, so a rule carries neither ``weight`` nor
  ``threshold_utilization``.
- A training job is a multi-node job launched with ``srun`` (one worker per node; an elastic
  one asks for ``min_workers``–``workers`` nodes); its attempts are its accounting runs.
  Slurm requeues it only when its own policy does (node failure, preemption): it restarts
  no job because a worker failed. A checkpoint location needs object storage, which Slurm
  does not have.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.jobs import (
    STATUSES,
    Submitter,
    accounting_runs,
    job_record,
    status_of,
)
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.adapters.slurm.shapes import number, states
from pytest_sca.capabilities import (
    TRAINING_FINISHED,
    BurstPolicy,
    BurstRule,
    Job,
    Labels,
    Refused,
    Resources,
    TrainingAttempt,
    TrainingJob,
    Unsupported,
    wait_for_status,
)


def qos_for(qos: Sequence[tuple[str, int]], priority: int) -> str | None:
    """The QOS for a requested priority: the highest whose priority does not exceed it, else
    the lowest; None when there is no QOS."""
    ordered = sorted(qos, key=lambda q: (q[1], q[0]))
    if not ordered:
        return None
    fitting = [q for q in ordered if q[1] <= priority]
    return (fitting[-1] if fitting else ordered[0])[0]


class SlurmScheduling(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Scheduling` over slurmrestd."""

    def submit_queued(self, name: str, image: str, command: Sequence[str],
                      resources: Resources, *, priority: int, queue: str = "default",
                      workers: int = 1, labels: Labels | None = None) -> Job:
        session = self.subject
        partition = None if queue in ("", "default") else queue
        qos = qos_for(self._qos(), int(priority)) if session.rest.has_accounting() else None
        return Submitter(session).submit(name, image, command, resources, workers=workers,
                                         labels=labels, qos=qos, partition=partition)

    def burst_policy(self) -> BurstPolicy:
        session = self.subject
        nodes = {n.name: n for n in session.nodes()}
        partitions = session.partitions()
        # slurmrestd leaves powered-down cloud nodes out of its node list: ask for each.
        for name in {n for p in partitions for n in p.nodes} - set(nodes):
            try:
                nodes[name] = session.node(name)
            except Refused:
                continue
        cloud = [n for n in nodes.values() if "CLOUD" in n.states]
        rules: list[BurstRule] = []
        for partition in partitions:
            bursting = [n for n in cloud if n.name in partition.nodes]
            if not bursting:
                continue
            cards = sum(item.count for n in bursting for item in n.gres
                        if item.name in session.config.accelerator_gres)
            # A node's Weight is an order (lighter nodes are filled first), not the share of
            # the load a rule's weight is: Slurm declares no share or utilisation threshold.
            rule: BurstRule = {"source": partition.name,
                               "target": ",".join(n.name for n in bursting), "max_cards": cards}
            rules.append(rule)
        return {"enabled": bool(rules), "rules": rules}

    def _qos(self) -> list[tuple[str, int]]:
        session = self.subject
        answer = session.rest.get("slurmdb", "qos", empty_ok=True)
        allowed = session.config.qos
        found = []
        for raw in answer.get("QOS") or answer.get("qos") or []:
            name = str(raw.get("name") or "")
            value = number(raw.get("priority"))
            if name and (allowed is None or name in allowed):
                found.append((name, int(value or 0)))
        return found


class SlurmTraining(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Training` over slurmrestd: multi-node ``srun`` jobs."""

    def submit(self, name: str, image: str, command: Sequence[str], resources: Resources, *,
               workers: int, min_workers: int | None = None, max_restarts: int = 0,
               checkpoint: bool = False, env: Mapping[str, str] | None = None,
               labels: Labels | None = None) -> TrainingJob:
        if checkpoint:
            raise Unsupported("a checkpoint location every attempt shares needs object "
                              "storage, which Slurm has not: add `adapters.platform`")
        job = Submitter(self.subject).submit(
            name, image, command, resources, workers=workers,
            min_workers=min(min_workers, workers) if min_workers else None, env=env,
            labels=labels)
        return self.get(job["id"])

    def get(self, training_id: str) -> TrainingJob:
        session = self.subject
        info = session.job(training_id)
        record = job_record(session, info)
        attempts: list[TrainingAttempt] = []
        for index, run in enumerate(accounting_runs(session, info.job_id), 1):
            current = states((run.get("state") or {}).get("current"))
            nodes = run.get("allocation_nodes")
            attempts.append({"attempt": index, "job_id": str(info.job_id),
                             "world_size": int(number(nodes) or record["world_size"]),
                             "status": STATUSES.get(current[0], "pending") if current
                             else "pending"})
        if not attempts:
            attempts.append({"attempt": 1, "job_id": str(info.job_id),
                             "world_size": record["world_size"], "status": status_of(info)})
        minimum = number(info.raw.get("node_count")) or record["world_size"]
        maximum = number(info.raw.get("max_nodes")) or record["world_size"]
        return {"id": record["id"], "name": record["name"], "status": record["status"],
                "min_workers": int(minimum), "max_workers": int(maximum or minimum),
                "world_size": record["world_size"], "restarts": info.restarts,
                "checkpoint_uri": None, "attempts": attempts, "labels": record["labels"]}

    def delete(self, training_id: str) -> None:
        from pytest_sca.adapters.slurm.jobs import SlurmJobs

        SlurmJobs(self.subject).delete(training_id)

    def wait(self, training_id: str, until: Collection[str] = TRAINING_FINISHED,
             timeout: float = 120.0) -> TrainingJob:
        return wait_for_status(lambda: self.get(training_id), until, timeout,
                               f"training job {training_id}", longest=1.0)

