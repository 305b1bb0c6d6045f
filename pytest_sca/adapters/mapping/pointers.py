"""RFC 6901 JSON pointers: where a field is in a vendor's answer."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pytest_sca.capabilities import ErrorEnvelope

_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")

#: ``resolve_pointer``'s marker for "raise KeyError when absent".
MISSING: Any = object()


def is_pointer(value: str) -> bool:
    """Whether ``value`` is an RFC 6901 JSON pointer (``""`` or ``/a/b``)."""
    return bool(_POINTER.match(value))


def check_pointer(value: str) -> str:
    """Return ``value`` if it is an RFC 6901 JSON pointer, else raise ValueError."""
    if not is_pointer(value):
        raise ValueError(
            f"{value!r} is not a JSON pointer: use '' or '/a/b' (escape ~ as ~0, / as ~1)"
        )
    return value


def resolve_pointer(document: Any, pointer: str, default: Any = MISSING) -> Any:
    """Resolve an RFC 6901 JSON pointer; return ``default`` (or raise KeyError) if absent."""
    if pointer == "":
        return document
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        elif default is MISSING:
            raise KeyError(pointer)
        else:
            return default
    return current


def error_envelope(text: str, code_pointers: Sequence[str],
                   message_pointers: Sequence[str]) -> ErrorEnvelope | None:
    """The code and message of an error answer's JSON ``text``: the first of
    ``code_pointers`` (and of ``message_pointers``) that holds non-empty text — a number
    code (``{"code": 40001}``) is still machine-readable; None when either is missing."""
    try:
        body = json.loads(text)
    except ValueError:
        return None

    def first(pointers: Sequence[str]) -> str | None:
        for pointer in pointers:
            value = resolve_pointer(body, pointer, default=None)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                return value
        return None

    code, message = first(code_pointers), first(message_pointers)
    if code is None or message is None:
        return None
    return {"code": code, "message": message}
