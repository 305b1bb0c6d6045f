"""Faults of tenant network isolation."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "network_isolation_off": "tenant networks share one bridge segment without isolation: "
                             "a job of one tenant reaches the services of another",
}
