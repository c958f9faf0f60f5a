"""Durable edge outbox: events are stored in SQLite (WAL) before publishing and removed on PUBACK."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxItem:
    """One stored event waiting for the broker's acknowledgement."""

    row_id: int
    event_id: str
    seq: int
    topic: str
    payload: bytes
    created: float


class Outbox:
    """A bounded, ordered, crash-safe queue of encoded events."""

    def __init__(self, path: Path | str, max_events: int = 100_000, max_age_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def next_seq(self) -> int:
        """Reserve and return the next per-device sequence number (persisted across restarts)."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO counters(name, value) VALUES('seq', 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value"
            ).fetchone()
            return int(row[0])

    def put(self, event_id: str, seq: int, topic: str, payload: bytes) -> int:
        """Store an event durably; returns the number of old events dropped to respect the bounds."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox(event_id, seq, topic, payload, created) VALUES (?, ?, ?, ?, ?)",
                (event_id, seq, topic, payload, time.time()),
            )
            return self._enforce_bounds_locked()

    def pending(self, after_row: int = 0, limit: int = 500) -> list[OutboxItem]:
        """Events not yet acknowledged, oldest first, starting after a row id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event_id, seq, topic, payload, created FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, limit),
            ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def remove(self, row_id: int) -> None:
        """Forget an event the broker has acknowledged."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def remove_many(self, row_ids: list[int]) -> None:
        """Forget several acknowledged events in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(row_id,) for row_id in row_ids])
            self._db.execute("COMMIT")

    def depth(self) -> int:
        """Number of events waiting."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def _enforce_bounds_locked(self) -> int:
        """Drop the oldest events beyond the size or age bound; returns how many were dropped."""
        dropped = self._db.execute("DELETE FROM outbox WHERE created < ?", (time.time() - self.max_age_s,)).rowcount
        excess = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - self.max_events
        if excess > 0:
            dropped += self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,)
            ).rowcount
        if dropped:
            log.warning("outbox bound reached: dropped %d oldest events", dropped)
        return dropped

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
