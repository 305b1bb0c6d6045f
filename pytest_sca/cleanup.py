"""Undo what a check created: per-check scopes and a run-wide ledger of what is left.

Adapters register an undo the moment they create something
(:meth:`CleanupLedger.register`), into the scope of the check that is running;
the scope's undo actions run in reverse order at the check's teardown, also after
a failure. An explicit delete cancels its undo (:meth:`UndoAction.cancel`). If
the run is interrupted (Ctrl-C, SIGTERM) before a check's teardown, pytest still
tears fixtures down at session end; whatever is still pending then is undone by
the ledger when the plugin unconfigures. What a killed run left is found again by
its run label (``python -m pytest_sca cleanup``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(eq=False)
class UndoAction:
    """One registered undo: a description for reports, the callable that undoes, and the
    kind of thing it removes (``platform:jobs``) so that the sweep can be proven to cover it.
    """

    description: str
    undo: Callable[[], object]
    kind: str = ""
    done: bool = False

    def cancel(self) -> None:
        """The thing is gone already (deleted on purpose): nothing left to undo."""
        self.done = True


@dataclass
class UndoFailure:
    """An undo that raised: what it was meant to undo, and the error."""

    description: str
    error: str


class CleanupLedger:
    """Every undo action of the run that has not run yet, in creation order, and the
    scope (the running check's :class:`Cleanup`) new registrations go to."""

    def __init__(self) -> None:
        self._pending: list[UndoAction] = []
        self._lock = threading.Lock()
        self.failures: list[UndoFailure] = []
        #: The running check's scope; ``None`` between checks (registrations then wait
        #: for the end of the run).
        self.scope: Cleanup | None = None
        #: Every kind ever registered in this run (``transport:collection``).
        self.kinds: set[str] = set()

    def register(self, description: str, undo: Callable[[], object], *,
                 kind: str = "") -> UndoAction:
        """Remember how to undo something just created; returns the action (cancel it when
        the thing is deleted on purpose)."""
        action = UndoAction(description, undo, kind)
        scope = self.scope
        if scope is not None:
            scope.actions.append(action)
        self.track(action)
        if kind:
            self.kinds.add(kind)
        return action

    def track(self, action: UndoAction) -> None:
        with self._lock:
            self._pending.append(action)

    def forget(self, action: UndoAction) -> None:
        with self._lock:
            if action in self._pending:
                self._pending.remove(action)

    @property
    def pending(self) -> list[UndoAction]:
        """Undo actions that have not run (nor been cancelled), oldest first."""
        return [a for a in self._pending if not a.done]

    def sweep(self) -> list[UndoFailure]:
        """Undo everything still pending, newest first; return what failed."""
        failures = run_undo(reversed(self.pending))
        self.failures.extend(failures)
        with self._lock:
            self._pending.clear()
        return failures


def run_undo(actions: Iterable[UndoAction]) -> list[UndoFailure]:
    """Run undo actions in the given order; one failing does not stop the others."""
    failures: list[UndoFailure] = []
    for action in actions:
        if action.done:
            continue
        action.done = True
        try:
            action.undo()
        except Exception as exc:  # noqa: BLE001 - every undo gets its chance, failures reported
            failures.append(UndoFailure(action.description, f"{type(exc).__name__}: {exc}"))
    return failures


class CleanupFailed(Exception):
    """Raised at a check's teardown when an undo failed: the check's verdict becomes ``error``."""


@dataclass
class Cleanup:
    """The undo scope of one check (the ``cleanup`` fixture).

    Adapters register what they create here by themselves; a check adds an undo by
    hand only for a change no adapter can undo for it.
    """

    ledger: CleanupLedger
    actions: list[UndoAction] = field(default_factory=list)

    def add(self, description: str, undo: Callable[[], object]) -> None:
        """Undo ``undo`` at the end of the check (reverse order of registration)."""
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
