"""Keep secrets out of every output: the values that came from ``${VAR}`` in a target file."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable

MASK = "***"
#: Values shorter than this are not masked: a 1–3 character value is no secret
#: anyone could keep, and masking it would corrupt every line of every report.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces each known secret, and its URL- and JSON-escaped forms, by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (e.g. an API key a check created at run time)."""
        needles = set(self._needles)
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            needles.update({secret, urllib.parse.quote(secret, safe=""),
                            json.dumps(secret)[1:-1]})
        # Longest first, so that a secret containing another is masked whole.
        self._needles = sorted(needles, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def bytes(self, data: bytes) -> bytes:
        """Redact binary content that is text (attachments); other bytes pass unchanged."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return self(text).encode("utf-8")
