"""Keep secrets out of every output: the values that came from ``${VAR}`` in a target file,
and those an adapter or check learns at run time (a user's API key, a presigned URL).

A secret reaches an output in many forms: raw, URL-encoded, JSON-escaped (once, or again
inside a JSON string), HTML/XML-escaped, ``repr``-escaped, or base64-encoded on its own or
inside a longer value (``Bearer <token>``, ``user:password`` of basic auth). The redactor
masks every one of them.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable

MASK = "***"
#: Values shorter than this are not masked: a 1–3 character value is no secret
#: anyone could keep, and masking it would corrupt every line of every report.
MIN_SECRET_LENGTH = 4
#: Base64 fragments shorter than this are not masked on their own: too short to be the
#: secret's and not something else's (a fragment of 8 base64 characters is 6 secret bytes).
MIN_BASE64_FRAGMENT = 8
#: How many times an escaping may be applied on top of another (a JSON string inside JSON…).
_ESCAPE_DEPTH = 3

#: The escapings a secret may go through on its way into an output.
_ESCAPES: tuple[Callable[[str], str], ...] = (
    lambda s: urllib.parse.quote(s, safe=""),
    lambda s: urllib.parse.quote(s),
    lambda s: urllib.parse.quote_plus(s),
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: html.escape(s, quote=True),
    lambda s: html.escape(s, quote=False),
    lambda s: html.escape(s, quote=True).replace("&#x27;", "&apos;"),
    lambda s: repr(s)[1:-1],
    lambda s: repr(s + "'")[1:-2],  # repr's other quoting: a value that holds a '
)


def escaped_forms(secret: str) -> set[str]:
    """The secret and every form the escapings give, applied on top of each other."""
    forms = {secret}
    frontier = {secret}
    for _ in range(_ESCAPE_DEPTH):
        frontier = {escape(form) for form in frontier for escape in _ESCAPES} - forms
        forms |= frontier
    return forms


def base64_fragments(secret: str) -> set[str]:
    """What is sure to appear in the base64 of any text that contains ``secret``.

    Base64 encodes 3 bytes at a time: wherever the secret starts in the text, the full
    groups that lie inside it are encoded alone. So for each of the three alignments, the
    encoding of those inner groups (standard and URL-safe alphabets) is a fragment of every
    such base64 (``Bearer <secret>``, ``user:<secret>``…).
    """
    data = secret.encode("utf-8")
    fragments: set[str] = set()
    for skip in range(3):
        inner = data[skip:]
        inner = inner[: len(inner) - len(inner) % 3]
        if not inner:
            continue
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            fragment = encode(inner).decode("ascii")
            if len(fragment) >= MIN_BASE64_FRAGMENT:
                fragments.add(fragment)
    for whole in (data, b"Bearer " + data):  # short secrets: their common whole forms
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            fragments.add(encode(whole).decode("ascii").rstrip("="))
    return fragments


class Redactor:
    """Replaces each known secret, in every form it can take, by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (e.g. an API key a check created at run time)."""
        needles = set(self._needles)
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            needles |= escaped_forms(secret) | base64_fragments(secret)
        needles = {needle for needle in needles if len(needle) >= MIN_SECRET_LENGTH}
        # Longest first, so that a secret containing another is masked whole.
        self._needles = sorted(needles, key=len, reverse=True)
        # One alternation: every output line is scanned once, not once per form.
        self._pattern = re.compile("|".join(map(re.escape, self._needles))) \
            if self._needles else None

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def bytes(self, data: bytes) -> bytes:
        """Redact binary content that is text (attachments); other bytes pass unchanged."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return self(text).encode("utf-8")
