"""The check library: what checks of every chapter share besides fixtures.

Probe commands and resource requests, and the classification of refusals. Waits are
:func:`pytest_sca.capabilities.wait_for` / ``wait_for_status`` (bounded, backing off),
names and labels come from the ``sca`` fixture (``sca.name()``, ``sca.labels``), and
removing what a check created is the adapters' job (they register it in the check's
cleanup), so nothing here deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pytest_sca.capabilities import RefusalReason, Refused, Resources

#: A job that proves it ran: prints a token and ends.
PROBE_COMMAND = ["python", "-c", "print('sca-probe')"]
#: The smallest job request: one CPU core, 1 GiB, no card.
SMALL: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": 0}

#: What a platform may answer a caller who must not read another tenant's resource: a
#: refusal of access, or "not found" (hiding that it exists).
READ_DENIED = frozenset({RefusalReason.UNAUTHENTICATED, RefusalReason.FORBIDDEN,
                         RefusalReason.NOT_FOUND})
#: What a platform may answer a caller who must not act: a refusal of access only.
ACTION_DENIED = frozenset({RefusalReason.UNAUTHENTICATED, RefusalReason.FORBIDDEN})


def refusal_of(call: Callable[[], object]) -> Refused | None:
    """The refusal a call met, or None when it succeeded. Any other error propagates
    (the check could not find out: ``error``)."""
    try:
        call()
    except Refused as refusal:
        return refusal
    return None


def denied(call: Callable[[], object], reasons: Collection[RefusalReason]) -> bool:
    """Whether the call was refused for one of ``reasons`` (an access-control refusal, say);
    a success or a refusal for another reason is not a denial."""
    refusal = refusal_of(call)
    return refusal is not None and refusal.reason in reasons


#: A job that holds its resources for a minute and does nothing: work a check acts on while
#: it runs (stops it, diagnoses it, reads its topology).
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]
