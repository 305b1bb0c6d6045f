"""Named behavioural faults the sandbox can be started with.

A fault makes the platform really misbehave in one way, so that the project's
tests can show that a check fails when the behaviour it verifies breaks. A
fault is named for the behaviour it breaks, never for a clause id.

Each module of this package declares ``FAULTS: dict[str, str]`` (name → the
behaviour it breaks, one line) for one area of the platform; they are merged
here, so that an area adds its faults without touching another's file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable


def _collect() -> dict[str, str]:
    merged: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for name, behaviour in getattr(module, "FAULTS", {}).items():
            if name in merged:
                raise RuntimeError(f"sandbox fault {name!r} is declared twice")
            merged[name] = behaviour
    return merged


#: fault name → the behaviour it breaks (one line).
FAULTS: dict[str, str] = _collect()


def check_faults(names: Iterable[str]) -> tuple[str, ...]:
    """Return ``names`` as a tuple, or raise ``ValueError`` naming the first unknown fault."""
    checked = tuple(names)
    for name in checked:
        if name not in FAULTS:
            known = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown sandbox fault {name!r}: known faults are {known}")
    return checked
