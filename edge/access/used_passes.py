"""The gate's record of single-use passes already used, persisted in SQLite so a restart cannot replay them."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from edge.access.errors import AccessError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_pass (
    pass_id TEXT PRIMARY KEY,
    gate TEXT NOT NULL,
    used_at REAL NOT NULL,
    expires_at REAL NOT NULL
)
"""


class UsedPassStore:
    """Claims single-use passes atomically; forgets a pass only after it has expired anyway."""

    def __init__(self, path: Path | str, keep_after_expiry_s: float = 86400.0) -> None:
        self.path = Path(path)
        self.keep_after_expiry = timedelta(seconds=keep_after_expiry_s)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as err:
            raise AccessError(f"{self.path}: cannot open the used-pass store: {err}") from err

    def claim(self, pass_id: str, gate: str, now: datetime, expires: datetime) -> bool:
        """Mark a pass used; False when it was used before (a replay)."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO used_pass VALUES (?, ?, ?, ?)",
                    (pass_id, gate, now.timestamp(), expires.timestamp()),
                )
            except sqlite3.Error as err:
                raise AccessError(f"{self.path}: cannot record a used pass: {err}") from err
            return cursor.rowcount == 1

    def used(self, pass_id: str) -> bool:
        """Whether a pass has been used."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM used_pass WHERE pass_id = ?", (pass_id,)).fetchone()
        return row is not None

    def purge(self, now: datetime) -> int:
        """Forget passes that expired long enough ago; returns how many."""
        cutoff = (now - self.keep_after_expiry).timestamp()
        with self._lock:
            return self._db.execute("DELETE FROM used_pass WHERE expires_at < ?", (cutoff,)).rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
