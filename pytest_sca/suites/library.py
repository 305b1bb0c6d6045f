"""The check library: what checks of every chapter share besides fixtures.

Probe commands and resource requests, and the classification of refusals. Waits are
:func:`pytest_sca.capabilities.wait_for` / ``wait_for_status`` (bounded, backing off),
names and labels come from the ``sca`` fixture (``sca.name()``, ``sca.labels``), and
removing what a check created is the adapters' job (they register it in the check's
cleanup), so nothing here deletes.
"""

from __future__ import annotations

import re
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


#: What an error answer must never show about the server behind it, by kind.
INTERNALS: dict[str, re.Pattern[str]] = {
    "a stack trace": re.compile(r"Traceback \(most recent call last\)|\n\s+at [\w.$<>]+\("),
    "a file path": re.compile(
        r"(?<![\w.-])(?:/(?:usr|home|opt|srv|var|etc|app|root|tmp|lib|workspace)/[\w./-]+"
        r"|[A-Za-z]:\\[\w\\. -]+|[\w/.-]+\.(?:py|pyc|java|go|rb|js|ts|php|cs|cpp|rs)(?::\d+)?\b)"),
    "an exception class": re.compile(
        r"\b(?:[A-Z][a-z0-9]+)+(?:Error|Exception)\b|\b[a-z_]+\.(?:[A-Z]\w*)(?:Error|Exception)"),
    "SQL": re.compile(r"\b(?:SELECT\s+[\w*.,\s]+?\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|"
                      r"DELETE\s+FROM|SQLSTATE|ORA-\d{5}|sqlite3?|psycopg2?|pymysql)\b", re.I),
    "a host:port": re.compile(
        r"\b(?:(?:\d{1,3}\.){3}\d{1,3}|localhost|[\w-]+(?:\.[\w-]+)*\.(?:internal|local|lan|svc"
        r"|cluster\.local))(?::\d{2,5})\b"),
}


def leaked_internals(text: str) -> list[str]:
    """The kinds of server internals an error answer's text shows ("a file path: /srv/x.py"…),
    whatever envelope they come in; empty when it shows none."""
    found = []
    for kind, pattern in INTERNALS.items():
        match = pattern.search(text)
        if match:
            found.append(f"{kind}: {match.group(0).strip()[:60]}")
    return found


def refusal_text(refusal: Refused) -> str:
    """Everything a refusal carried back from the target: its code and message."""
    return f"{refusal.code or ''} {refusal.message}"


#: A job that holds its resources for a minute and does nothing: work a check acts on while
#: it runs (stops it, diagnoses it, reads its topology).
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]
