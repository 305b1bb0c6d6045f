"""Small helpers shared by the adapter tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_sca.adapters.platform import PlatformAdapter, PlatformClient

#: Builds a platform principal from an ``adapters.platform`` section (fixture ``make_adapter``).
MakeAdapter = Callable[..., "Platform"]


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


class Platform:
    """A platform principal in tests: its capabilities as attributes (``admin.jobs``), its
    client's operations (``call``, ``sweep``, ``recent_exchanges``, ``context``) and
    another user's view (``acting_as``). Checks get capabilities from fixtures instead."""

    def __init__(self, adapter: PlatformAdapter, client: PlatformClient | None = None) -> None:
        self.adapter = adapter
        self.client = client or adapter.client

    def capability(self, name: str) -> Any:
        """The implementation of capability ``name`` as this principal."""
        return self.adapter.implementations[name](self.client)

    @property
    def provides(self) -> frozenset[str]:
        return self.adapter.provides

    def acting_as(self, credential: str) -> Platform:
        return Platform(self.adapter, self.client.acting_as(credential))

    def close(self) -> None:
        self.adapter.close()

    def __getattr__(self, name: str) -> Any:
        if name in type(self.adapter).implementations:
            return self.capability(name)
        return getattr(self.client, name)
