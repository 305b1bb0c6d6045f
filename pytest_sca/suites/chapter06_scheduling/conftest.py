"""Helpers the chapter 6 checks share: reading the inventory, running probe jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

#: Environment variables through which platforms tell a process which cards it holds.
VISIBLE_DEVICE_VARIABLES = (
    "SCA_VISIBLE_ACCELERATORS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
    "ASCEND_RT_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES", "MLU_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES", "XPU_VISIBLE_DEVICES",
)

#: A probe that prints the card-visibility variables it was given, one ``name=value`` a line.
PRINT_VISIBLE_DEVICES = [
    "python", "-c",
    "import os\nfor n in " + repr((*VISIBLE_DEVICE_VARIABLES, "SCA_ACCELERATOR_SHARE"))
    + ":\n    print(n + '=' + os.environ.get(n, ''))",
]



def sleeper(seconds: float) -> list[str]:
    """A probe command that sleeps ``seconds`` and ends with 0."""
    return ["python", "-c", f"import time; time.sleep({seconds})"]


def visible_devices(log: str) -> list[str] | None:
    """The devices a probe printed as visible (first variable that was set), or ``None``."""
    values = dict(line.split("=", 1) for line in log.splitlines() if "=" in line)
    for name in VISIBLE_DEVICE_VARIABLES:
        if values.get(name):
            return [d for d in values[name].split(",") if d.strip()]
    return None


@dataclass(frozen=True)
class CardPool:
    """The cards of one accelerator model in the inventory."""

    model: str
    vendor: str
    nodes: tuple[Mapping[str, Any], ...]

    @property
    def cards(self) -> int:
        return sum(len(self.of(node)) for node in self.nodes)

    @property
    def free(self) -> int:
        return sum(1 for node in self.nodes for c in self.of(node) if not c.get("allocated_to"))

    def of(self, node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [c for c in node.get("accelerators") or [] if c.get("model") == self.model]


def card_pools(nodes: Sequence[Mapping[str, Any]]) -> list[CardPool]:
    """One pool per accelerator model, smallest first (ties: by model name)."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    vendors: dict[str, str] = {}
    for node in nodes:
        for card in node.get("accelerators") or []:
            if card.get("model"):
                vendors[card["model"]] = str(card.get("vendor") or "")
                if node not in found.setdefault(card["model"], []):
                    found[card["model"]].append(node)
    pools = [CardPool(m, vendors[m], tuple(n)) for m, n in found.items()]
    return sorted(pools, key=lambda p: (p.cards, p.model))


@pytest.fixture
def submit(sca: CheckContext, jobs: Any, cleanup: Cleanup, probe_image: str) -> Any:
    """Submit a probe job (as the target's principal, or as ``as_jobs``), removed afterwards."""

    def run(suffix: str, command: Sequence[str], resources: Mapping[str, Any], *,
            as_jobs: Any = None, workers: int = 1) -> dict[str, Any]:
        owner = as_jobs or jobs
        job = owner.submit(sca.name(suffix), probe_image, command, resources, workers=workers,
                           labels=sca.labels)
        return job  # type: ignore[no-any-return]

    return run
