"""Capabilities of chapter 9's operations checks over the platform API: ``diagnostics``
(per-layer diagnosis), ``topology`` (where a job's resources are and how they are linked)
and ``telemetry`` (the accelerator inventory and each card's metric series, in batches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record, wait_for
from pytest_sca.adapters.platform import Facade


@runtime_checkable
class Diagnostics(ActsAs, Protocol):
    """Diagnosis of one resource layer: ``container`` (of a job), ``accelerator``, ``os``,
    ``network`` (of a node). A diagnosis is ``running`` then ``finished`` with a ``verdict``
    (healthy, degraded, faulty, unknown), ``findings`` (lines) and ``duration_s``."""

    def start(self, layer: str, *, job_id: str | None = None,
              node_id: str | None = None) -> Record:
        """Start a diagnosis; the answer has its ``id`` and ``status``."""
        ...

    def get(self, diagnosis_id: str) -> Record:
        """One diagnosis."""
        ...

    def wait(self, diagnosis_id: str, timeout: float) -> Record:
        """Poll until the diagnosis is finished; :class:`WaitTimeout` after ``timeout``."""
        ...


@runtime_checkable
class Topology(ActsAs, Protocol):
    """Where a job's resources are: ``{job_id, nodes: [{id, workers, accelerators:
    [{index, vendor, model}]}], links: [{from, to, kind}], simulated}``."""

    def of_job(self, job_id: str) -> Record:
        """The topology of a job's resources and their links."""
        ...


@runtime_checkable
class Telemetry(ActsAs, Protocol):
    """The accelerator inventory and each card's metric series, at fleet scale."""

    def inventory_page(self, offset: int, limit: int) -> Record:
        """``{items: [{id, accelerators: [{index, model}]}], total, offset}``: nodes."""
        ...

    def card_series(self, cards: Sequence[str]) -> list[Record]:
        """For each ``node/index`` card: ``{card, found, samples: [[time, value]],
        last_sample_at}``; one request per batch."""
        ...


class PlatformDiagnostics(Facade):
    """Per-layer diagnosis over the platform API."""

    def start(self, layer: str, *, job_id: str | None = None,
              node_id: str | None = None) -> Record:
        return self.adapter.call("diagnoses.create", layer=layer, job_id=job_id,
                                 node_id=node_id)

    def get(self, diagnosis_id: str) -> Record:
        return self.adapter.call("diagnoses.get", diagnosis_id=diagnosis_id)

    def wait(self, diagnosis_id: str, timeout: float) -> Record:
        return wait_for(
            lambda: self.get(diagnosis_id), lambda found: found.get("status") == "finished",
            timeout, lambda found: f"diagnosis {diagnosis_id} still {found.get('status')!r}",
            first=0.05, longest=0.5)


class PlatformTopology(Facade):
    """Job topology over the platform API."""

    def of_job(self, job_id: str) -> Record:
        return self.adapter.call("jobs.topology", job_id=job_id)


class PlatformTelemetry(Facade):
    """Fleet inventory and per-card series over the platform API."""

    def inventory_page(self, offset: int, limit: int) -> Record:
        return self.adapter.call("fleet.nodes", offset=offset, limit=limit)

    def card_series(self, cards: Sequence[str]) -> list[Record]:
        return self.adapter.call("fleet.metrics", cards=",".join(cards))


FACADES: dict[str, type[Any]] = {
    "diagnostics": PlatformDiagnostics,
    "topology": PlatformTopology,
    "telemetry": PlatformTelemetry,
}
