"""``usage``: slurmdbd's accounting records (what ``sacct`` shows) as usage records.

Each run of a job (a requeued job has several) is one record per resource: ``cpu``
(core-seconds), ``memory`` (GiB-seconds) and ``accelerator`` (card-seconds), each the
run's allocated TRES × its elapsed seconds as slurmdbd measured them. ``PrivateData=usage``
decides whose records a caller reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.session import SlurmSession, params
from pytest_sca.adapters.slurm.shapes import iso, number, states, tres_list
from pytest_sca.capabilities import Refused, Unsupported, UsageRecord, WaitTimeout, wait_for

#: How long a read of a just-ended job's usage waits for slurmdbd to record its end.
ACCOUNTING_LAG_S = 10.0
#: Metered resources: (record resource, unit, TRES keys it sums, scale of the TRES count).
RESOURCES = (
    ("cpu", "core-seconds", ("cpu",), 1.0),
    ("memory", "GiB-seconds", ("mem",), 1 / 1024),
)


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def usage_records(run: dict[str, Any], index: int, card_tres: list[str]) -> list[UsageRecord]:
    """The usage records of one accounting record (one run of a job)."""
    times = run.get("time") or {}
    elapsed = number(times.get("elapsed"))
    start, end = number(times.get("start")), number(times.get("end"))
    # A run that started and ended within one second has elapsed 0: it is recorded (with
    # zero quantities), not dropped; a run without an end is not over.
    if elapsed is None or not start or not end:
        return []
    allocated = tres_list((run.get("tres") or {}).get("allocated"))
    association = run.get("association") or {}
    base: UsageRecord = {
        "tenant_id": str(run.get("account") or association.get("account") or ""),
        "job_id": str(run.get("job_id")), "start": iso(start) or "", "end": iso(end) or "",
        "run_seconds": float(elapsed), "rank": 0,
    }
    records: list[UsageRecord] = []
    for resource, unit, keys, scale in RESOURCES:
        amount = sum(allocated.get(key, 0.0) for key in keys) * scale
        if amount:
            records.append({**base, "id": f"{run.get('job_id')}.{index}.{resource}",
                            "resource": resource, "unit": unit,
                            "quantity": round(amount * float(elapsed), 6)})
    cards = sum(allocated.get(key, 0.0) for key in card_tres)
    if cards:
        records.append({**base, "id": f"{run.get('job_id')}.{index}.accelerator",
                        "resource": "accelerator", "unit": "card-seconds",
                        "quantity": round(cards * float(elapsed), 6)})
    return records


class SlurmUsage(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Usage` over slurmdbd."""

    def _settled(self, job_id: str) -> dict[str, Any]:
        """The accounting records of a job once slurmdbd has what slurmctld knows: slurmctld
        sends a run's end to slurmdbd after the fact, so a read right after the job ended
        waits (bounded) for the record to catch up."""
        session = self.subject

        def read() -> dict[str, Any]:
            return session.rest.get("slurmdb", f"job/{job_id}", empty_ok=True)

        try:
            live = session.job(job_id)
        except Refused:
            return read()
        if live.state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED"):
            return read()

        def settled(answer: dict[str, Any]) -> bool:
            runs = [r for r in answer.get("jobs") or [] if str(r.get("job_id")) == job_id]
            return bool(runs) and all(number((r.get("time") or {}).get("end")) for r in runs
                                      if number((r.get("time") or {}).get("start")))

        try:
            return wait_for(read, settled, ACCOUNTING_LAG_S, lambda a: f"accounting of job "
                            f"{job_id} still incomplete", first=0.2, longest=1.0)
        except WaitTimeout as timeout:
            return timeout.last or {}

    def records(self, *, job_id: str | None = None, tenant_id: str | None = None,
                since: str | None = None, until: str | None = None) -> list[UsageRecord]:
        session = self.subject
        if not session.rest.has_accounting():
            raise Unsupported("usage records are slurmdbd's: the cluster's slurmrestd serves "
                              "no /slurmdb paths (accounting storage off?)")
        if job_id is not None:
            if not str(job_id).isdigit():
                return []
            answer = self._settled(str(job_id))
        else:
            answer = session.rest.get("slurmdb", "jobs", params(
                account=tenant_id, start_time=_epoch(since), end_time=_epoch(until)),
                empty_ok=True)
        card_tres = [f"gres/{name}" for name in session.config.accelerator_gres]
        runs = [r for r in answer.get("jobs") or []
                if job_id is None or str(r.get("job_id")) == str(job_id)]
        runs.sort(key=lambda r: (r.get("job_id") or 0,
                                 number((r.get("time") or {}).get("submission")) or 0))
        found: list[UsageRecord] = []
        index: dict[Any, int] = {}
        for run in runs:
            if "PENDING" in states((run.get("state") or {}).get("current")):
                continue
            number_of_run = index.get(run.get("job_id"), 0)
            index[run.get("job_id")] = number_of_run + 1
            found += usage_records(run, number_of_run, card_tres)
        if tenant_id is not None:
            found = [r for r in found if r["tenant_id"] == tenant_id]
        return found

