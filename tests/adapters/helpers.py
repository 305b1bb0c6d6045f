"""Small helpers shared by the adapter tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_sca.adapters.platform import PlatformAdapter

#: Builds a platform adapter from an ``adapters.platform`` section (fixture ``make_adapter``).
MakeAdapter = Callable[..., "PlatformAdapter"]


def expand_env(value: Any, env: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` references, as the target loader does (kept tiny on purpose)."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)
    if isinstance(value, dict):
        return {key: expand_env(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item, env) for item in value]
    return value


def unique(stem: str) -> str:
    """A resource name no other test uses."""
    return f"sca-{stem}-{uuid.uuid4().hex[:8]}"
