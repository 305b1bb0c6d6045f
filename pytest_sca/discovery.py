"""Find the modules an area of the code adds by naming convention, and merge what they declare.

Several tables grow by adding a module rather than editing a shared file: the
platform adapter's operations (``adapters/ops_*``) and capability facades
(``adapters/platform_*``), the sandbox's routes (``sandbox/routes_*``) and
faults (``sandbox/faults/*``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType
from typing import Any


def modules_named(package: str, prefix: str = "") -> list[ModuleType]:
    """The modules of ``package`` whose name starts with ``prefix``, imported, in name order."""
    path = importlib.import_module(package).__path__
    names = sorted(m.name for m in pkgutil.iter_modules(path) if m.name.startswith(prefix))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def merge_declared(package: str, prefix: str, attribute: str, taken: Mapping[str, Any],
                   what: str) -> dict[str, Any]:
    """Merge the ``attribute`` dicts of those modules; a key declared twice is a bug."""
    found: dict[str, Any] = {}
    for module in modules_named(package, prefix):
        for key, value in getattr(module, attribute, {}).items():
            if key in taken or key in found:
                raise RuntimeError(f"{what} {key!r} is declared twice ({module.__name__})")
            found[key] = value
    return found
