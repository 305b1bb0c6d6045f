"""Stash keys shared by the plugin's modules."""

from __future__ import annotations

from typing import Any

import pytest

from .runstate import ScaRun

RUN_KEY = pytest.StashKey[ScaRun]()
_RECORDED = pytest.StashKey[dict[str, list[dict[str, Any]]]]()


def evidence_of(item: pytest.Item, kind: str = "evidence") -> list[dict[str, Any]]:
    """The evidence (or measurements) a check recorded since its last report phase."""
    recorded = item.stash.setdefault(_RECORDED, {"evidence": [], "measurements": []})
    return recorded[kind]


def take_recorded(item: pytest.Item) -> dict[str, list[dict[str, Any]]]:
    """Hand over what was recorded so far (once: the next phase starts empty)."""
    recorded = item.stash.get(_RECORDED, {"evidence": [], "measurements": []})
    item.stash[_RECORDED] = {"evidence": [], "measurements": []}
    return recorded
