"""The state of one evaluation run, kept in ``config.stash`` (no pytest hooks here)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters.base import Adapter, AdapterContext
from .catalog import Catalog
from .cleanup import CleanupLedger, UndoFailure
from .concurrency import CheckLock
from .providers import RunningTarget
from .redaction import Redactor
from .scope import Selection
from .scoring import GradingScheme
from .target import Target
from .verdicts import NotAssessed, TestRecord


def new_run_id() -> str:
    """A short id that labels everything the run creates: UTC time and 6 random hex digits."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class Options:
    """The ``--sca-…`` options, parsed."""

    target: str | None = None
    json_path: Path | None = None
    readonly: bool = False
    disruptive: bool = False
    listing: bool = False
    sandbox_faults: tuple[str, ...] = ()
    catalog_path: Path | None = None
    grading_path: Path | None = None
    run_id: str | None = None
    html_path: Path | None = None
    baseline_path: Path | None = None
    #: What makes the exit status 1: ``nonconformance`` (default) or ``regression``
    #: (only new failures since ``--sca-baseline``).
    fail_on: str = "nonconformance"
    #: Check every adapter before the first check (``--sca-preflight=off`` skips it).
    preflight: bool = True


@dataclass
class ScaRun:
    """Everything the plugin knows about the current run."""

    options: Options
    catalog: Catalog
    grading: GradingScheme
    run_id: str
    target: Target | None = None
    redact: Redactor = field(default_factory=Redactor)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    #: nodeid → clause id → phase records, filled on the controller from test reports.
    phases: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ledger: CleanupLedger = field(default_factory=CleanupLedger)
    #: The target a provider started for this run (``--sca-target=sandbox``), stopped at the end.
    sandbox: RunningTarget | None = None
    #: A run that only inspects (``--collect-only``, ``--markers``, ``--fixtures``…): nothing
    #: is started, nothing is written.
    dry: bool = False
    #: How the command line narrowed the run (the reports' ``scope`` section).
    selection: Selection = field(default_factory=Selection)
    #: The preflight's findings per adapter (:mod:`pytest_sca.doctor`), for the reports.
    preflight: list[dict[str, Any]] = field(default_factory=list)
    #: The preflight found no usable adapter: the run ended before the first check.
    aborted: bool = False
    #: Why no check runs: the preflight found no usable adapter ("" when it did).
    unusable: str = ""
    #: Node ids of every test that reported (on the controller).
    reported: set[str] = field(default_factory=set)
    #: Under pytest-xdist: how many workers ran checks side by side (0: one process ran
    #: them one after another), and the clause checks that ran alone (on the controller).
    workers: int = 0
    ran_alone: set[str] = field(default_factory=set)
    #: A worker's hold on the run's check lock (:mod:`pytest_sca.concurrency`).
    check_lock: CheckLock | None = None
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _adapter_classes: dict[str, type[Adapter]] = field(default_factory=dict)

    @property
    def evaluating(self) -> bool:
        return self.target is not None

    # -- adapters -------------------------------------------------------------------------
    def adapter_for(self, capability: str) -> object:
        """What serves ``capability`` (its implementation from the first configured adapter
        that provides it); ``NotAssessed`` naming the adapters that would."""
        from .adapters import registry

        assert self.target is not None
        unserved: list[str] = []  # adapters that implement it, not configured to serve it
        for transport, config in self.target.adapters.items():
            cls = self._adapter_classes.get(transport)
            if cls is None:  # once per run: a vendor's class is found by its entry point
                cls = self._adapter_classes[transport] = registry.load_adapter_class(transport)
            if capability not in cls.provides:
                continue
            why = cls.unconfigured(config, capability)
            if why is not None:
                unserved.append(why)
                continue
            if transport not in self._adapters:
                context = AdapterContext(self.target.name, self.target.path, self.run_id,
                                         self.redact, self.ledger)
                self._adapters[transport] = cls(config, context)
            return self._adapters[transport].capability(capability)
        missing = self.missing_capability(capability, registry.providers_of(capability))
        raise NotAssessed("; ".join([*unserved, missing]) if unserved else missing)

    def missing_capability(self, capability: str, providers: list[str]) -> str:
        """Why ``capability`` is not assessed, and the true fix: the adapters that serve it."""
        assert self.target is not None
        file = self.target.path.name if self.target.path else self.target.name
        if not providers:
            return f"no installed adapter provides `{capability}`"
        fix = " or ".join(f"`adapters.{p}`" for p in providers)
        return f"the target serves no `{capability}` capability: add {fix} to {file}"

    def close_adapters(self) -> None:
        """Undo what is still pending (an interrupted check's), then close every adapter;
        failures go to the ledger's, which every report lists."""
        self.ledger.sweep()
        for transport, adapter in self._adapters.items():
            try:
                adapter.close()
            except Exception as exc:  # noqa: BLE001 - every adapter gets closed
                self.ledger.failures.append(UndoFailure(
                    f"close the {transport} adapter", f"{type(exc).__name__}: {exc}"))
        self._adapters.clear()

    # -- results --------------------------------------------------------------------------
    def has_records(self, clause_id: str) -> bool:
        """Whether the target file holds an evidence entry or a waiver for the item."""
        target = self.target
        return target is not None and (clause_id in target.evidence
                                       or clause_id in target.waivers)

    def recorded_for(self, clause_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The target file's evidence entry and waiver of an item (``None`` where it has none)."""
        target = self.target
        if target is None:
            return None, None
        evidence = target.evidence.get(clause_id)
        waiver = target.waivers.get(clause_id)
        return (evidence.model_dump() if evidence is not None else None,
                waiver.model_dump() if waiver is not None else None)

    def test_records(self) -> dict[str, list[TestRecord]]:
        """Clause id → the tests that covered it, each combining its phases."""
        from .outcome import combine_phases

        by_clause: dict[str, list[TestRecord]] = defaultdict(list)
        for nodeid, phases in self.phases.items():
            record = combine_phases(nodeid, phases)
            by_clause[record.clause].append(record)
        return by_clause
