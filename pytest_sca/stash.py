"""Stash keys shared by the plugin's modules."""

from __future__ import annotations

from typing import Any

import pytest

from .runstate import ScaRun

RUN_KEY = pytest.StashKey[ScaRun]()
Recorded = dict[str, list[dict[str, Any]]]
_RECORDED = pytest.StashKey[Recorded]()


def _empty() -> Recorded:
    return {"evidence": [], "measurements": []}


def evidence_of(item: pytest.Item, kind: str = "evidence") -> list[dict[str, Any]]:
    """The evidence (or measurements) a check recorded since its last report phase."""
    if _RECORDED not in item.stash:
        item.stash[_RECORDED] = _empty()
    return item.stash[_RECORDED][kind]


def take_recorded(item: pytest.Item) -> Recorded:
    """Hand over what was recorded so far (once: the next phase starts empty)."""
    recorded = item.stash.get(_RECORDED, _empty())
    item.stash[_RECORDED] = _empty()
    return recorded
