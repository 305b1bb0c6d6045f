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
import threading
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


class _Alternation:
    """Literal needles matched as one alternation, longest first, compiled when next used."""

    def __init__(self) -> None:
        self.needles: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def add(self, needles: set[str]) -> None:
        self.needles |= needles
        self._stale = True

    def take(self, other: _Alternation) -> None:
        self.add(other.needles)
        other.needles, other._pattern, other._stale = set(), None, False

    def pattern(self) -> re.Pattern[str] | None:
        if self._stale:
            # Longest first, so that a secret containing another is masked whole.
            ordered = sorted(self.needles, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._stale = False
        return self._pattern


class Redactor:
    """Replaces each known secret, in every form it can take, by ``***``."""

    #: The recent needles are folded into the settled ones once they are this many, or a
    #: quarter of the settled ones if more.
    _FOLD_AT = 64

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        # Secrets arrive one by one during a run (an API key per probe user) between calls:
        # compiling the alternation of every form of every secret again after each took
        # seconds a run. New forms go to a small alternation of their own, applied first,
        # folded into the settled one as it grows (amortised: each form is compiled a
        # bounded number of times). Only forms that neither contain nor lie inside a
        # settled form go there, so either order masks each secret whole.
        self._settled = _Alternation()
        self._recent = _Alternation()
        self._lock = threading.Lock()  # checks may run side by side in threads
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (e.g. an API key a check created at run time)."""
        new = {secret for secret in secrets
               if len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets}
        if not new:  # adapters register the same credential on every session: no cost
            return
        forms = {form for secret in new
                 for form in escaped_forms(secret) | base64_fragments(secret)
                 if len(form) >= MIN_SECRET_LENGTH}
        with self._lock:
            self._secrets |= new
            overlapping = any(form in settled or settled in form
                              for form in forms for settled in self._settled.needles)
            self._recent.add(forms)
            if overlapping or len(self._recent.needles) >= max(
                    self._FOLD_AT, len(self._settled.needles) // 4):
                self._settled.take(self._recent)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        with self._lock:
            patterns = [p for p in (self._recent.pattern(), self._settled.pattern()) if p]
        for pattern in patterns:
            text = pattern.sub(MASK, text)
        return text

    def bytes(self, data: bytes) -> bytes:
        """Redact binary content that is text (attachments); other bytes pass unchanged."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return self(text).encode("utf-8")
