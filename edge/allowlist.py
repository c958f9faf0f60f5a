"""The cached allowlist of this device: versioned syncs from the platform, persisted in SQLite, read lock-free."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.vision.plate_rules import normalise_plate_text
from protocol.commands import AllowlistEntry, AllowlistSync, CredentialKind, SyncMode

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (credential_ref TEXT PRIMARY KEY, person_id TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class AllowlistError(RuntimeError):
    """A sync that cannot be applied (wrong base version) or a store that cannot be used."""


def credential_key(kind: CredentialKind | str, value: str) -> tuple[str, str]:
    """The lookup key of a credential: plates are normalised like the recogniser's reads, others stripped."""
    kind = CredentialKind(kind)
    text = normalise_plate_text(value) if kind is CredentialKind.PLATE else value.strip()
    return kind.value, text


@dataclass(frozen=True)
class AllowlistSnapshot:
    """An immutable view used by decisions: entries by credential and by person."""

    version: int = 0
    by_credential: Mapping[tuple[str, str], AllowlistEntry] = field(default_factory=dict)
    by_person: Mapping[str, tuple[AllowlistEntry, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, version: int, entries: Iterable[AllowlistEntry]) -> AllowlistSnapshot:
        """Index entries by credential key and by person."""
        by_credential: dict[tuple[str, str], AllowlistEntry] = {}
        by_person: dict[str, list[AllowlistEntry]] = {}
        for entry in entries:
            by_credential[credential_key(entry.kind, entry.value)] = entry
            if entry.person_id:
                by_person.setdefault(entry.person_id, []).append(entry)
        return cls(version, by_credential, {p: tuple(e) for p, e in by_person.items()})

    def lookup(self, kind: CredentialKind, value: str) -> AllowlistEntry | None:
        """The entry for a credential, if any."""
        return self.by_credential.get(credential_key(kind, value))

    def __len__(self) -> int:
        """Number of entries."""
        return len(self.by_credential)


class AllowlistStore:
    """Persists the allowlist (survives restarts) and swaps in a new snapshot after each committed change."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            self.snapshot = self._load()
        except (OSError, sqlite3.Error) as err:
            raise AllowlistError(f"cannot open allowlist {self.path}: {err}") from err
        log.info("allowlist opened: version %d, %d entries", self.snapshot.version, len(self.snapshot))

    @property
    def version(self) -> int:
        """The version held."""
        return self.snapshot.version

    def apply(self, sync: AllowlistSync) -> AllowlistSnapshot:
        """Apply a full or incremental sync atomically; an increment must start from the version held."""
        with self._lock:
            held = self.snapshot.version
            if sync.mode is SyncMode.INCREMENTAL and sync.base_version != held:
                raise AllowlistError(f"increment is based on version {sync.base_version}, this edge holds {held}")
            if sync.version <= held and sync.mode is SyncMode.INCREMENTAL:
                raise AllowlistError(f"version {sync.version} is not newer than {held}")
            self._write(sync)
            self.snapshot = self._load()
            return self.snapshot

    def erase_person(self, person_id: str) -> int:
        """Remove every entry of a person (the version is kept); returns how many were removed."""
        with self._lock:
            try:
                removed = self._db.execute("DELETE FROM entries WHERE person_id = ?", (person_id,)).rowcount
            except sqlite3.Error as err:
                raise AllowlistError(f"allowlist {self.path}: {err}") from err
            self.snapshot = self._load()
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

    def _load(self) -> AllowlistSnapshot:
        """Read the stored entries into a new snapshot."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        entries = [
            AllowlistEntry.model_validate(json.loads(body))
            for (body,) in self._db.execute("SELECT body FROM entries ORDER BY credential_ref")
        ]
        return AllowlistSnapshot.build(int(row[0]) if row else 0, entries)
