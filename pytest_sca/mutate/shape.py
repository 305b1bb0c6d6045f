"""Where things are in a JSON answer: fields, timestamps, owners, record lists.

A field is named by its *location*: the keys leading to the object that holds it, with
``[]`` for "any element of a list", and its own key, e.g. ``("items", "[]", "status")``.
Operators choose locations, so that one choice applies to every record of a list alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

#: How deep operators look into an answer (metric series and blobs below are left alone).
MAX_DEPTH = 5

Location = tuple[str, ...]

_IDENTIFIER = re.compile(r"^(id|uid|uuid|.*_ids?|.*Ids?)$")
_TIME_KEY = re.compile(r"(_at|_time|time|timestamp|^ts|date|_seen|_since|_until)$", re.I)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_OWNER_KEY = re.compile(
    r"^(tenant|owner|project|user|account|namespace|org|organi[sz]ation|creator|created_by)"
    r"(_?id|_?name)?$", re.I)


def is_identifier(key: str) -> bool:
    """An identity key (``id``, ``job_id``…): no plausible defect drops or renames it."""
    return bool(_IDENTIFIER.match(key))


def is_owner_key(key: str) -> bool:
    """A key naming who a record belongs to (tenant, owner, project, user…)."""
    return bool(_OWNER_KEY.match(key))


def is_epoch(value: Any) -> bool:
    """A number that reads as a Unix time in seconds or milliseconds (2001–2096)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 1e9 <= value < 4e9 or 1e12 <= value < 4e12


def is_timestamp(key: str, value: Any) -> bool:
    """An ISO-8601 time string anywhere, or a Unix time under a time-like key."""
    if isinstance(value, str):
        return bool(_ISO_TIME.match(value))
    return bool(_TIME_KEY.search(key)) and is_epoch(value)


def is_leaf(value: Any) -> bool:
    """A value that is not a container of records: a scalar or a list of scalars."""
    if isinstance(value, dict):
        return False
    if isinstance(value, list):
        return not any(isinstance(element, (dict, list)) for element in value)
    return True


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def objects(doc: Any, location: Location = (), depth: int = 0
            ) -> Iterator[tuple[Location, dict[str, Any]]]:
    """Every object in ``doc`` (to :data:`MAX_DEPTH`) with the location of its keys."""
    if depth > MAX_DEPTH:
        return
    if isinstance(doc, dict):
        yield location, doc
        for key, value in doc.items():
            if isinstance(value, (dict, list)):
                yield from objects(value, (*location, key), depth + 1)
    elif isinstance(doc, list):
        for element in doc:
            if isinstance(element, (dict, list)):
                yield from objects(element, (*location, "[]"), depth + 1)


def fields(doc: Any, accept: Callable[[str, Any], bool]
           ) -> dict[Location, list[dict[str, Any]]]:
    """Locations of the fields ``accept(key, value)`` admits → the objects holding them."""
    found: dict[Location, list[dict[str, Any]]] = {}
    for location, obj in objects(doc):
        for key, value in obj.items():
            if accept(key, value):
                found.setdefault((*location, key), []).append(obj)
    return found


def record_lists(doc: Any, location: Location = (), depth: int = 0
                 ) -> Iterator[tuple[Location, list[Any]]]:
    """Every list of objects (records) in ``doc``, with its location."""
    if depth > MAX_DEPTH:
        return
    if isinstance(doc, list):
        if doc and all(isinstance(element, dict) for element in doc):
            yield location, doc
        for element in doc:
            yield from record_lists(element, (*location, "[]"), depth + 1)
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield from record_lists(value, (*location, key), depth + 1)


def camel(key: str) -> str:
    """The name a renamed field gets: ``created_at`` → ``createdAt``, ``status`` → ``Status``."""
    if "_" in key.strip("_"):
        head, *rest = key.split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)
    return key[:1].upper() + key[1:] if key[:1].islower() else key.lower()
