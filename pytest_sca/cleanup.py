"""Undo what a check created: per-test registries and a run-wide ledger of what is left.

A check registers each resource right after creating it; the undo actions run
in reverse order at the test's teardown, also after a failure. If the run is
interrupted (Ctrl-C, SIGTERM) before a test's teardown, pytest still tears
fixtures down at session end; whatever is still pending then is undone by the
ledger when the plugin unconfigures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class UndoAction:
    """One registered undo: a description for reports and the callable that undoes."""

    description: str
    undo: Callable[[], object]
    done: bool = False


@dataclass
class UndoFailure:
    description: str
    error: str


class CleanupLedger:
    """Every undo action of the run that has not run yet, in creation order."""

    def __init__(self) -> None:
        self._pending: list[UndoAction] = []
        self._lock = threading.Lock()
        self.failures: list[UndoFailure] = []

    def track(self, action: UndoAction) -> None:
        with self._lock:
            self._pending.append(action)

    def forget(self, action: UndoAction) -> None:
        with self._lock:
            if action in self._pending:
                self._pending.remove(action)

    @property
    def pending(self) -> list[UndoAction]:
        return [a for a in self._pending if not a.done]

    def sweep(self) -> list[UndoFailure]:
        """Undo everything still pending, newest first; return what failed."""
        failures = run_undo(reversed(self.pending))
        self.failures.extend(failures)
        with self._lock:
            self._pending.clear()
        return failures


def run_undo(actions: object) -> list[UndoFailure]:
    """Run undo actions in the given order; one failing does not stop the others."""
    failures: list[UndoFailure] = []
    for action in actions:  # type: ignore[attr-defined]
        if action.done:
            continue
        action.done = True
        try:
            action.undo()
        except Exception as exc:  # noqa: BLE001 - every undo gets its chance, failures reported
            failures.append(UndoFailure(action.description, f"{type(exc).__name__}: {exc}"))
    return failures


class CleanupFailed(Exception):
    """Raised at a test's teardown when an undo failed: the test's verdict becomes ``error``."""


@dataclass
class Cleanup:
    """The ``cleanup`` fixture: register an undo right after creating a resource.

    >>> job = jobs.submit(...)
    >>> cleanup.add(f"delete job {job['id']}", lambda: jobs.delete(job["id"]))
    """

    ledger: CleanupLedger
    actions: list[UndoAction] = field(default_factory=list)

    def add(self, description: str, undo: Callable[[], object]) -> None:
        action = UndoAction(description, undo)
        self.actions.append(action)
        self.ledger.track(action)

    def run(self) -> None:
        """Undo in reverse order; raise :class:`CleanupFailed` naming every failed undo."""
        failures = run_undo(reversed(self.actions))
        for action in self.actions:
            self.ledger.forget(action)
        self.ledger.failures.extend(failures)
        if failures:
            raise CleanupFailed("cleanup failed: " + "; ".join(
                f"{f.description}: {f.error}" for f in failures))
