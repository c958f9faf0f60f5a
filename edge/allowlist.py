"""The cached allowlist of this device: versioned syncs from the platform, persisted in SQLite.

Decisions read the access layer's index (edge.access.Allowlist: cards by their protocol.cards canonical form,
plates by the recogniser's, PINs by account), which this store replaces whole after every committed change.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

from edge.access.allowlist import Allowlist
from protocol.commands import AllowlistEntry, AllowlistSync, SyncMode

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (credential_ref TEXT PRIMARY KEY, person_id TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class AllowlistError(RuntimeError):
    """A sync that cannot be applied (wrong base version) or a store that cannot be used."""


class AllowlistStore:
    """Persists the allowlist (survives restarts) and swaps a new index into `snapshot` after each change."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._staged: dict[int, AllowlistSync] = {}
        self._staged_key: tuple | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            self.snapshot = Allowlist()
            self._load()
        except (OSError, sqlite3.Error) as err:
            raise AllowlistError(f"cannot open allowlist {self.path}: {err}") from err
        log.info("allowlist opened: version %d, %d entries", self.snapshot.version, len(self.snapshot))

    @property
    def version(self) -> int:
        """The version held."""
        return self.snapshot.version

    def apply(self, sync: AllowlistSync) -> Allowlist:
        """Apply a full or incremental sync atomically; an increment must start from the version held.

        A sync in several chunks is staged in memory and written in one transaction when its last chunk
        arrives; until then the list held (and its version) is unchanged.
        """
        with self._lock:
            held = self.snapshot.version
            if sync.mode is SyncMode.INCREMENTAL and sync.base_version != held:
                self._staged = {}
                raise AllowlistError(f"increment is based on version {sync.base_version}, this edge holds {held}")
            if sync.version <= held and sync.mode is SyncMode.INCREMENTAL:
                raise AllowlistError(f"version {sync.version} is not newer than {held}")
            whole = self._stage(sync)
            if whole is None:
                return self.snapshot
            self._write(whole)
            self._load()
            return self.snapshot

    def _stage(self, sync: AllowlistSync) -> AllowlistSync | None:
        """The whole sync once every chunk is in (chunks of another sync are dropped); None while staging."""
        if sync.chunks == 1:
            self._staged = {}
            return sync
        key = (sync.request_id, sync.mode, sync.base_version, sync.version, sync.chunks)
        if self._staged_key != key:
            self._staged_key, self._staged = key, {}
        self._staged[sync.chunk] = sync
        if len(self._staged) < sync.chunks:
            log.info("allowlist v%d: chunk %d of %d staged", sync.version, sync.chunk + 1, sync.chunks)
            return None
        parts = [self._staged[index] for index in range(sync.chunks)]
        self._staged = {}
        return sync.model_copy(
            update={
                "upserts": [entry for part in parts for entry in part.upserts],
                "removes": [ref for part in parts for ref in part.removes],
                "chunk": 0,
                "chunks": 1,
            }
        )

    def erase_person(self, person_id: str) -> int:
        """Remove every entry of a person (the version is kept); returns how many were removed."""
        with self._lock:
            try:
                removed = self._db.execute("DELETE FROM entries WHERE person_id = ?", (person_id,)).rowcount
            except sqlite3.Error as err:
                raise AllowlistError(f"allowlist {self.path}: {err}") from err
            self._load()
            return removed

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _write(self, sync: AllowlistSync) -> None:
        """Write one sync in a single transaction."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            if sync.mode is SyncMode.FULL:
                self._db.execute("DELETE FROM entries")
            self._db.executemany("DELETE FROM entries WHERE credential_ref = ?", [(r,) for r in sync.removes])
            self._db.executemany(
                "INSERT OR REPLACE INTO entries(credential_ref, person_id, body) VALUES (?, ?, ?)",
                [(e.credential_ref, e.person_id, e.model_dump_json()) for e in sync.upserts],
            )
            self._db.execute(
                "INSERT INTO meta(name, value) VALUES('version', ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                (sync.version, sync.version),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            self._db.execute("ROLLBACK")
            raise AllowlistError(f"allowlist {self.path}: {err}") from err

    def _load(self) -> None:
        """Read the stored entries into the index (the same object, so policies holding it see the change)."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        entries = [
            AllowlistEntry.model_validate(json.loads(body))
            for (body,) in self._db.execute("SELECT body FROM entries ORDER BY credential_ref")
        ]
        self.snapshot.replace(entries, int(row[0]) if row else 0)
