"""What every capability shares: acting as another principal (a credential, or the second
principal a target file names), run labels, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from .errors import TargetError, WaitTimeout

#: The label (or tag) that ties a resource to the run that created it: ``sca-run=<run id>``.
#: Cleanup and the sweep of a killed run trust only this label.
RUN_LABEL = "sca-run"

#: Labels a caller puts on what it creates (string → string).
Labels = Mapping[str, str]

_Self = TypeVar("_Self", bound="ActsAs")
_Measured = TypeVar("_Measured", bound="Unretried")
_Other = TypeVar("_Other", bound="OtherTenant")
_Read = TypeVar("_Read")
_Resource = TypeVar("_Resource", bound=Mapping[str, Any])


@runtime_checkable
class ActsAs(Protocol):
    """A capability that can act as another principal of the platform."""

    def acting_as(self: _Self, credential: str) -> _Self:
        """The same capability, authenticated with ``credential`` (e.g. a user's API key)."""
        ...


@runtime_checkable
class Unretried(Protocol):
    """A capability whose requests can be sent exactly once, for measurements."""

    def unretried(self: _Measured) -> _Measured:
        """The same capability (same principal) whose every request is sent once and never
        retried: a 5xx or a lost connection raises at once, so that a measurement counts it
        (:class:`Unsupported` where the transport cannot turn its retries off)."""
        ...


@runtime_checkable
class OtherTenant(Protocol):
    """A capability that can act as a second principal the target file names.

    Key-based platforms (an OpenAI-compatible API) cannot create users: the evaluator
    gives a second principal's credential in the target file (``adapters.openai.other_key``)
    and isolation and usage-attribution checks act as it. Platforms that create users
    answer ``False`` here; a check gets another tenant from them through ``tenancy``
    (the ``probe_tenant`` fixture).
    """

    @property
    def has_other_tenant(self) -> bool:
        """Whether the target file names a second principal for this capability."""
        ...

    def as_other_tenant(self: _Other) -> _Other:
        """The same capability as the second principal; :class:`Unsupported` when the target
        file names none."""
        ...


#: Growth of the pause between two reads of :func:`wait_for`. A change is seen late by at
#: most this factor less one of the time already waited, and by at most ``longest``: ×1.25
#: up to 1 s sees it within 25 % or 1 s (×1.5 up to 2 s saw a job that ended after 3.3 s
#: 1.6 s late), for a few more reads of a short wait and one read a second of a long one.
BACKOFF = 1.25
#: Default first pause and longest pause of :func:`wait_for` (seconds).
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 1.0


def wait_for(read: Callable[[], _Read], done: Callable[[_Read], bool], timeout: float,
             describe: Callable[[_Read], str], *, first: float = FIRST_PAUSE_S,
             longest: float = LONGEST_PAUSE_S) -> _Read:
    """Call ``read`` until ``done`` says yes, backing off ×:data:`BACKOFF` from ``first`` to
    ``longest`` seconds between reads; :class:`WaitTimeout` (``describe(last)``, ``.last``)
    after ``timeout`` seconds.

    Every wait of the suite is bounded and every poll backs off: this is the one loop.
    A caller that wants the last value after the deadline reads ``WaitTimeout.last``.
    """
    deadline = time.monotonic() + timeout
    interval = first
    while True:
        value = read()
        if done(value):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"{describe(value)} after {timeout:g} s", value)
        time.sleep(min(interval, remaining))
        interval = min(interval * BACKOFF, longest)


#: Reads in a row whose answer carries no ``status`` before :func:`wait_for_status` gives up:
#: a resource read that way is of another shape than the adapter knows, and waiting for a
#: field that is never sent only spends the whole timeout (a blank status just after
#: creation, as an eventually consistent store may answer, is allowed twice).
STATUSLESS_READS = 3


def wait_for_status(read: Callable[[], _Resource], until: Collection[str], timeout: float,
                    what: str, *, first: float = FIRST_PAUSE_S,
                    longest: float = LONGEST_PAUSE_S) -> _Resource:
    """Read a resource until its ``status`` is in ``until``; :class:`WaitTimeout` naming
    ``what`` and the status it kept; :class:`TargetError` when :data:`STATUSLESS_READS`
    reads in a row answer without a ``status`` (could not find out, not a wait to spend)."""
    statusless = 0

    def done(value: _Resource) -> bool:
        nonlocal statusless
        statusless = 0 if value.get("status") is not None else statusless + 1
        if statusless >= STATUSLESS_READS:
            raise TargetError(f"{what}: {STATUSLESS_READS} reads in a row answered without a "
                              f"status (fields: {', '.join(sorted(value)) or 'none'})")
        return value.get("status") in until

    return wait_for(read, done, timeout,
                    lambda value: f"{what} still {value.get('status')!r} (waited for "
                                  f"{', '.join(sorted(until))})",
                    first=first, longest=longest)
