"""The sandbox's state: JSON documents in one SQLite file, safe to share between threads.

Every resource (tenant, user, job, usage record, order, audit entry…) is one
row of ``documents`` keyed by kind and id, with its tenant and status in
columns so that per-tenant listings and the scheduler's "pending jobs" query
do not parse every document. ``meta`` holds single values
such as the platform admin's API key. The file survives restarts: a sandbox
started again on the same state directory sees everything it held before.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

Document = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant_id TEXT,
    status TEXT,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS documents_by_tenant ON documents (kind, tenant_id);
CREATE INDEX IF NOT EXISTS documents_by_status ON documents (kind, status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def utc_now() -> str:
    """The current time as RFC 3339 UTC text with microseconds (sorts as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_ago(seconds: float) -> str:
    """The time ``seconds`` ago, as :func:`utc_now` writes it."""
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(prefix: str) -> str:
    """A short random identifier such as ``job-3f9a0c21d4``."""
    return f"{prefix}-{secrets.token_hex(5)}"


class Store:
    """JSON documents by kind and id in SQLite; every call takes one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM documents").fetchone()
        self._seq = int(row[0])

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    # meta values -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A single stored value, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a single value."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # documents ----------------------------------------------------------------------

    def put(self, kind: str, doc: Document) -> Document:
        """Insert or replace ``doc`` (it must have an ``id``); keeps its first insertion order."""
        body = json.dumps(doc, separators=(",", ":"))
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM documents WHERE kind = ? AND id = ?", (kind, doc["id"])
            ).fetchone()
            if row is None:
                self._seq += 1
                seq = self._seq
            else:
                seq = int(row[0])
            self._db.execute(
                "INSERT OR REPLACE INTO documents (kind, id, tenant_id, status, seq, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, doc["id"], doc.get("tenant_id"), doc.get("status"), seq, body),
            )
        return doc

    def get(self, kind: str, doc_id: str) -> Document | None:
        """The document, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? AND id = ?", (kind, doc_id)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def delete(self, kind: str, doc_id: str) -> bool:
        """Remove a document; ``True`` if it existed."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM documents WHERE kind = ? AND id = ?", (kind, doc_id)
            )
        return cursor.rowcount > 0

    def list(
        self,
        kind: str,
        tenant_id: str | None = None,
        where: Callable[[Document], bool] | None = None,
        status: str | None = None,
    ) -> list[Document]:
        """Documents of ``kind`` in insertion order, optionally of one tenant/status, filtered."""
        sql = "SELECT body FROM documents WHERE kind = ?"
        args: list[str] = [kind]
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            args.append(tenant_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        docs = [json.loads(row[0]) for row in rows]
        return docs if where is None else [doc for doc in docs if where(doc)]

    def update(self, kind: str, doc_id: str, change: Callable[[Document], None]) -> Document | None:
        """Read, change in place and write back one document atomically; ``None`` if absent."""
        with self._lock:
            doc = self.get(kind, doc_id)
            if doc is None:
                return None
            change(doc)
            self.put(kind, doc)
        return doc

    @property
    def lock(self) -> threading.RLock:
        """The store's lock, for callers that need several operations to be atomic."""
        return self._lock
