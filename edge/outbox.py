"""Durable edge outbox: events are stored in SQLite (WAL) before publishing and removed once confirmed.

Confirmed means receipted by the platform, or acknowledged by the broker (see edge.publisher.Confirm).

Bounds policy: the outbox holds at most `max_events` events, `max_bytes` of payload and nothing older than
`max_age_s`. When a bound is exceeded the oldest events are dropped first; every drop is counted (persisted in
the `dropped` counter) and reported to the caller, which raises an outbox_overflow alarm.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
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
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(created);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_BUMP = (
    "INSERT INTO counters(name, value) VALUES(?, ?) "
    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value"
)
_CHUNK = 500


class OutboxError(RuntimeError):
    """The outbox database cannot be opened or written."""


@dataclass(frozen=True)
class OutboxItem:
    """One stored event waiting for its confirmation."""

    row_id: int
    event_id: str
    seq: int
    topic: str
    payload: bytes
    created: float


@dataclass(frozen=True)
class Appended:
    """What an append did: the sequence number given to the event and how many old events were dropped."""

    seq: int
    dropped: int


MakeRecord = Callable[[int], tuple[str, str, bytes]]


class Outbox:
    """A bounded, ordered, crash-safe queue of encoded events."""

    def __init__(
        self,
        path: Path | str,
        max_events: int = 100_000,
        max_age_s: float = 7 * 86400,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_events = max_events
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM outbox").fetchone()
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
        self._count, self._bytes = int(count), int(size)

    def set_bounds(self, max_events: int, max_bytes: int, max_age_s: float) -> int:
        """Change the bounds (config update) and apply them at once; returns how many events were dropped."""
        with self._lock:
            self.max_events, self.max_bytes, self.max_age_s = max_events, max_bytes, max_age_s
            return self._in_transaction(self._enforce_bounds_locked)

    def next_seq(self) -> int:
        """Reserve and return the next per-device sequence number (persisted across restarts)."""
        with self._lock:
            return int(self._db.execute(_BUMP, ("seq", 1)).fetchone()[0])

    def append(self, make: MakeRecord) -> Appended:
        """Reserve a sequence number and store the record `make(seq)` returns, atomically and in seq order.

        `make` returns (event_id, topic, payload). Holding one lock across numbering and insertion keeps the
        row order equal to the seq order when several threads send at once.
        """
        with self._lock:

            def work() -> Appended:
                seq = int(self._db.execute(_BUMP, ("seq", 1)).fetchone()[0])
                event_id, topic, payload = make(seq)
                self._insert_locked(event_id, seq, topic, payload)
                return Appended(seq, self._enforce_bounds_locked())

            return self._in_transaction(work)

    def put(self, event_id: str, seq: int, topic: str, payload: bytes) -> int:
        """Store an already numbered event durably; returns the number of old events dropped by the bounds."""
        with self._lock:

            def work() -> int:
                self._insert_locked(event_id, seq, topic, payload)
                return self._enforce_bounds_locked()

            return self._in_transaction(work)

    def pending(self, after_row: int = 0, limit: int = 500) -> list[OutboxItem]:
        """Events not yet acknowledged, oldest first, starting after a row id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event_id, seq, topic, payload, created FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, limit),
            ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def items(self, row_ids: list[int]) -> list[OutboxItem]:
        """The events with these row ids that are still stored, oldest first."""
        found: list[OutboxItem] = []
        with self._lock:
            for start in range(0, len(row_ids), _CHUNK):
                chunk = row_ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, event_id, seq, topic, payload, created FROM outbox WHERE id IN ({marks})", chunk
                ).fetchall()
                found.extend(OutboxItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows)
        return sorted(found, key=lambda item: item.row_id)

    def remove_events(self, event_ids: list[str]) -> int:
        """Forget the events the platform has receipted (ids not stored are ignored); returns how many went."""
        if not event_ids:
            return 0
        with self._lock:

            def work() -> int:
                removed = 0
                for start in range(0, len(event_ids), _CHUNK):
                    chunk = event_ids[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(f"SELECT id FROM outbox WHERE event_id IN ({marks})", chunk).fetchall()
                    removed += self._delete_locked([row[0] for row in rows]) if rows else 0
                return removed

            return self._in_transaction(work)

    def remove(self, row_id: int) -> None:
        """Forget an event the broker has acknowledged."""
        self.remove_many([row_id])

    def remove_many(self, row_ids: list[int]) -> None:
        """Forget several acknowledged events in one transaction (ids already gone are ignored)."""
        if not row_ids:
            return
        with self._lock:

            def work() -> None:
                for start in range(0, len(row_ids), _CHUNK):
                    self._delete_locked(row_ids[start : start + _CHUNK])

            self._in_transaction(work)

    def expire(self) -> int:
        """Apply the bounds now (the age bound also needs time to pass); returns how many events were dropped."""
        with self._lock:
            return self._in_transaction(self._enforce_bounds_locked)

    def rewrite(self, transform: Callable[[OutboxItem], bytes | None]) -> int:
        """Replace the payload of every stored event for which `transform` returns new bytes; returns the count.

        Used by erasure: pending events keep their id and place in the queue but lose the personal data.
        """
        changed = 0
        after = 0
        while batch := self.pending(after_row=after, limit=_CHUNK):
            updates = [(new, item.row_id) for item in batch if (new := transform(item)) is not None]
            after = batch[-1].row_id
            if not updates:
                continue
            with self._lock:

                def work(updates: list[tuple[bytes, int]] = updates) -> int:
                    done = 0
                    for payload, row_id in updates:
                        old = self._db.execute("SELECT length(payload) FROM outbox WHERE id = ?", (row_id,)).fetchone()
                        if old is None:
                            continue
                        self._db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (payload, row_id))
                        self._bytes += len(payload) - int(old[0])
                        done += 1
                    return done

                changed += self._in_transaction(work)
        return changed

    def depth(self) -> int:
        """Number of events waiting."""
        with self._lock:
            return self._count

    def size_bytes(self) -> int:
        """Payload bytes waiting."""
        with self._lock:
            return self._bytes

    def dropped_total(self) -> int:
        """Events dropped by the bounds since the outbox was created (persisted)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _in_transaction(self, work: Callable[[], object]):
        """Run `work` inside one IMMEDIATE transaction; the in-memory counters roll back with it."""
        count, size = self._count, self._bytes
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self._db.execute("ROLLBACK")
                self._count, self._bytes = count, size
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            self._count, self._bytes = count, size
            raise OutboxError(f"outbox {self.path}: {err}") from err
        return result

    def _insert_locked(self, event_id: str, seq: int, topic: str, payload: bytes) -> None:
        """Insert one record (a repeated event id is ignored: the event is already queued)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox(event_id, seq, topic, payload, created) VALUES (?, ?, ?, ?, ?)",
            (event_id, seq, topic, payload, self._clock()),
        )
        if cursor.rowcount == 1:
            self._count += 1
            self._bytes += len(payload)

    def _delete_locked(self, row_ids: list[int]) -> int:
        """Delete rows by id, keeping the counters right; returns how many existed."""
        marks = ",".join("?" * len(row_ids))
        sizes = self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING length(payload)", row_ids)
        deleted = [int(size) for (size,) in sizes.fetchall()]
        self._count -= len(deleted)
        self._bytes -= sum(deleted)
        return len(deleted)

    def _enforce_bounds_locked(self) -> int:
        """Drop the oldest events beyond the age, count or byte bound; returns how many were dropped."""
        if not self._count:
            return 0
        victims: list[int] = []
        cutoff = self._clock() - self.max_age_s
        count_excess = self._count - self.max_events
        bytes_excess = self._bytes - self.max_bytes
        if count_excess <= 0 and bytes_excess <= 0:
            oldest = self._db.execute("SELECT MIN(created) FROM outbox").fetchone()[0]
            if oldest is None or oldest >= cutoff:
                return 0
        for row_id, created, size in self._db.execute("SELECT id, created, length(payload) FROM outbox ORDER BY id"):
            if created >= cutoff and count_excess <= 0 and bytes_excess <= 0:
                break
            victims.append(row_id)
            count_excess -= 1
            bytes_excess -= size
        dropped = sum(self._delete_locked(victims[i : i + _CHUNK]) for i in range(0, len(victims), _CHUNK))
        if dropped:
            self._db.execute(_BUMP, ("dropped", dropped))
            log.warning("outbox bound reached: dropped the %d oldest events", dropped)
        return dropped
