"""Helpers the chapter 6 checks share: reading the inventory, running probe jobs."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import pytest

from pytest_sca.capabilities import (
    Accelerator,
    BillLine,
    Job,
    Jobs,
    Node,
    Resources,
    TargetError,
    WaitTimeout,
)
from pytest_sca.fixtures import CheckContext


def sleeper(seconds: float) -> list[str]:
    """A probe command that sleeps ``seconds`` and ends with 0."""
    return ["python", "-c", f"import time; time.sleep({seconds})"]


def node_of(job: Job) -> str | None:
    """The node the job's first worker runs (or ran) on."""
    workers = job.get("workers") or []
    return workers[0].get("node_id") if workers else None


def cards_of(job: Job) -> list[str]:
    """The cards the job's first worker holds, as the platform records them (as text)."""
    workers = job.get("workers") or []
    return [str(card) for card in (workers[0].get("accelerators") or [])] if workers else []


def cards_listed(job: Job) -> list[int | None]:
    """How many cards each worker's record lists; ``None`` where the record does not say (no
    ``accelerators`` field: the platform cannot tell, as Slurm for a job that ended unseen)."""
    return [len(worker.get("accelerators") or []) if "accelerators" in worker else None
            for worker in job.get("workers") or []]


def wait_or_last(jobs: Jobs, job_id: str, until: Collection[str], timeout: float) -> Job:
    """The job once its status is in ``until``, or as last read when ``timeout`` passed."""
    try:
        return jobs.wait(job_id, until=until, timeout=timeout)
    except WaitTimeout as exc:
        last: Job | None = exc.last
        return last if last is not None else jobs.get(job_id)


@dataclass(frozen=True)
class CardPool:
    """The cards of one accelerator model in the inventory."""

    model: str
    vendor: str
    nodes: tuple[Node, ...]

    @property
    def cards(self) -> int:
        """How many cards of the model the inventory lists."""
        return sum(len(self.of(node)) for node in self.nodes)

    @property
    def free(self) -> int:
        """How many of them no job holds."""
        return sum(1 for node in self.nodes for card in self.of(node)
                   if not card.get("allocated_to") and not card.get("shares"))

    def of(self, node: Node) -> list[Accelerator]:
        """The node's cards of this model."""
        return [c for c in node.get("accelerators") or [] if c.get("model") == self.model]


def card_pools(nodes: Sequence[Node]) -> list[CardPool]:
    """One pool per accelerator model, smallest first (ties: by model name)."""
    found: dict[str, list[Node]] = {}
    held: dict[str, set[object]] = {}  # model → ids of its holders: no scan per card
    vendors: dict[str, str] = {}
    for node in nodes:
        for card in node.get("accelerators") or []:
            model = card.get("model")
            if model:
                vendors[model] = str(card.get("vendor") or "")
                holders = found.setdefault(model, [])
                if node.get("id") not in held.setdefault(model, set()):
                    held[model].add(node.get("id"))
                    holders.append(node)
    pools = [CardPool(m, vendors[m], tuple(n)) for m, n in found.items()]
    return sorted(pools, key=lambda p: (p.cards, p.model))


#: Seconds in a billed unit of time, by the words that end a unit's name (``card_hour``).
_SECONDS_PER_UNIT = {"second": 1.0, "seconds": 1.0, "s": 1.0, "sec": 1.0, "minute": 60.0,
                     "minutes": 60.0, "min": 60.0, "hour": 3600.0, "hours": 3600.0, "h": 3600.0,
                     "hr": 3600.0}


def billed_card_seconds(lines: Sequence[BillLine], item: str) -> float:
    """The card-seconds the accelerator ``lines`` of a bill charge: each line's ``usage_quantity``,
    else its ``quantity`` in its time ``unit``; TargetError when a line says neither."""
    total = 0.0
    for line in lines:
        if line.get("usage_quantity") is not None:
            total += float(line["usage_quantity"])
            continue
        unit = str(line.get("unit") or "")
        per_unit = _SECONDS_PER_UNIT.get(re.split(r"[_\-/ ]", unit.lower())[-1])
        if line.get("quantity") is None or per_unit is None:
            raise TargetError(f"[{item}] an accelerator line of the bill gives no usage_quantity "
                              f"and no quantity in a unit of time (unit {unit!r}): the card "
                              f"time it charges cannot be compared with the metering: {line}")
        total += float(line["quantity"]) * per_unit
    return total


class Submit(Protocol):
    """The ``submit`` fixture: submit a one-worker probe job named for the run, labelled with
    its id, as the target's principal."""

    def __call__(self, suffix: str, command: Sequence[str], resources: Resources) -> Job:
        ...


@pytest.fixture
def submit(sca: CheckContext, jobs: Jobs, probe_image: str) -> Submit:
    """Submit a probe job as the target's principal; the adapter removes it at the end of
    the check."""

    def run(suffix: str, command: Sequence[str], resources: Resources) -> Job:
        return jobs.submit(sca.name(suffix), probe_image, command, resources,
                           labels=sca.labels)

    return run
