"""Named behavioural faults the sandbox can be started with.

A fault makes the platform really misbehave in one way, so that the project's
tests can show that a check fails when the behaviour it verifies breaks. A
fault is named for the behaviour it breaks, never for a clause id.

Each module of this package declares ``FAULTS: dict[str, str]`` (name → the
behaviour it breaks, one line) for one area of the platform; they are merged
here, so that an area adds its faults without touching another's file.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_sca.discovery import merge_declared

#: fault name → the behaviour it breaks (one line).
FAULTS: dict[str, str] = merge_declared(__name__, "", "FAULTS", {}, "sandbox fault")


def check_faults(names: Iterable[str]) -> tuple[str, ...]:
    """Return ``names`` as a tuple, or raise ``ValueError`` naming the first unknown fault."""
    checked = tuple(names)
    for name in checked:
        if name not in FAULTS:
            known = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown sandbox fault {name!r}: known faults are {known}")
    return checked
