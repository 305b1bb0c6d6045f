"""Checks side by side under pytest-xdist, and the checks that run alone.

With ``-n N`` the workers run checks concurrently, each in its own probe tenant. A check
whose verdict rests on a time or a rate it measures (``measuring``: most of chapter 9, and
6.3.c, 6.5.f) or that disturbs the platform (``disruptive``) runs *alone*: while it runs,
no other check of the run does, so that its figures are the platform's and not the other
checks' load.

Each check holds a lock of the run from its setup to the end of its teardown (its undo
included): shared for an ordinary check, exclusive for one that runs alone. The locks are
``flock(2)`` on two files of a directory the controller makes for the run and hands to the
workers. A turnstile keeps a check waiting to run alone from being starved by a stream of
shared ones: every check passes the turnstile to take its lock, and the waiting exclusive
check holds it until its turn comes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

#: Markers whose checks run alone. Not chapter 9's domain marker (``performance``): its checks
#: that measure nothing another check's load could move (9.4.2.b a job not interrupted,
#: 9.4.2.c the topology of a job's cards, 9.4.2.d the age of the fleet's samples) go side by
#: side; the others carry ``measuring``.
ALONE_MARKERS = ("measuring", "disruptive")


def runs_alone(item: pytest.Item) -> bool:
    """Whether a check runs alone: it carries one of :data:`ALONE_MARKERS` (its markers, not
    its keywords, which hold parametrization ids too)."""
    return any(item.get_closest_marker(marker) is not None for marker in ALONE_MARKERS)


class CheckLock:
    """One worker's hold on the run's lock (``directory``, made by the controller)."""

    def __init__(self, directory: Path) -> None:
        self._turnstile = os.open(directory / "turnstile", os.O_RDWR | os.O_CREAT, 0o600)
        self._room = os.open(directory / "room", os.O_RDWR | os.O_CREAT, 0o600)
        self.held = False

    def acquire(self, alone: bool) -> None:
        """Wait until the check may run: alone (exclusive) or beside others (shared)."""
        fcntl.flock(self._turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        self.held = True

    def release(self) -> None:
        """The check has finished (its teardown and undo too)."""
        if self.held:
            fcntl.flock(self._room, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.release()
        os.close(self._turnstile)
        os.close(self._room)
