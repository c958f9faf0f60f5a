"""Retention enforcement: bounded batches per data class, snapshot files, face templates, edges, audit trail."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, insert, not_, or_, select, update

from protocol.commands import EraseScope
from server.privacy.audit_chain import SYSTEM_ACTOR, prune_audit, verify_and_anchor
from server.privacy.classes import ROW_SETS, RowSet
from server.privacy.edges import Send, erase_commands, gallery_holders, retention_commands, send_all
from server.privacy.settings import DataClass, PrivacySettings
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.enrolment import FaceTemplate
from server.storage.media import Snapshot
from server.storage.models import Event
from server.storage.people import Consent, Occupancy, Person
from server.storage.privacy import RetentionRun

log = logging.getLogger(__name__)
EVENT_CLASSES = (
    DataClass.RESIDENT_ACCESS,
    DataClass.VISITOR_RECORDS,
    DataClass.UNREGISTERED_PLATES,
    DataClass.ALARMS,
    DataClass.SECURITY_LOGS,
)
EDGE_EVENTS_MAX_S = 366 * 86400
EDGE_SNAPSHOTS_MAX_S = 31 * 86400


@dataclass
class RunResult:
    """What one run removed (counts only), what it told the edges, and anything that failed."""

    run_id: int
    deleted: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    edge_commands: int = 0
    timeseries: str = ""
    audit_chain_ok: bool = True
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "run_id": self.run_id,
            "deleted": dict(self.deleted),
            "files_removed": self.files_removed,
            "edge_commands": self.edge_commands,
            "timeseries": self.timeseries,
            "audit_chain_ok": self.audit_chain_ok,
            "errors": list(self.errors),
            "seconds": dict(self.seconds),
        }


def resolve_snapshot(root: Path, stored: str) -> Path | None:
    """The file of a snapshot row, or None when its path points outside the snapshot folder (never deleted)."""
    base = root.resolve()
    path = (base / stored).resolve() if not Path(stored).is_absolute() else Path(stored).resolve()
    return path if path.is_relative_to(base) else None


def remove_snapshot_file(root: Path, stored: str) -> bool:
    """Delete a snapshot's file; True when a file was removed."""
    path = resolve_snapshot(root, stored)
    if path is None:
        log.error("snapshot path %s lies outside %s: not deleted", stored, root)
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class RetentionEnforcer:
    """Deletes what has outlived its retention, in short transactions so ingest keeps running."""

    def __init__(
        self,
        engine: Engine,
        settings: PrivacySettings,
        timeseries: Any | None = None,
        send: Send | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.timeseries = timeseries
        self.send = send
        self.clock = clock

    def run(self, trigger: str = "manual") -> RunResult:
        """One full enforcement pass; every run ends with an audit entry holding its counts."""
        now = self.clock()
        with self.engine.begin() as connection:
            run_id = connection.execute(
                insert(RetentionRun).values(started_at=now, trigger=trigger, deleted={}).returning(RetentionRun.id)
            ).scalar_one()
        result = RunResult(run_id)
        retention = self.settings.retention
        for data_class, row_sets in ROW_SETS.items():
            cutoff = now - timedelta(days=retention.days(data_class))
            for row_set in row_sets:
                self._guarded(result, row_set.name, lambda rs=row_set, c=cutoff: self._purge_set(rs, c, now, result))
        self._guarded(result, "face_templates", lambda: self._expire_templates(now, result))
        audit_cutoff = now - timedelta(days=retention.days(DataClass.AUDIT_LOG))
        self._guarded(
            result,
            "audit_entries",
            lambda: self._count(
                result, "audit_entries", prune_audit(self.engine, audit_cutoff, self.settings.batch_size)
            ),
        )
        self._guarded(result, "timeseries", lambda: self._timeseries(result))
        self._guarded(result, "edges", lambda: self._tell_edges(run_id, result))
        self._finish(result)
        return result

    def _guarded(self, result: RunResult, name: str, step: Callable[[], object]) -> None:
        """Run one step (timed); a failure is recorded and the other classes still run."""
        started = time.monotonic()
        try:
            step()
        except Exception as err:  # noqa: BLE001 - one failing class must not stop the others
            log.exception("retention step %s failed", name)
            result.errors.append(f"{name}: {type(err).__name__}: {err}"[:500])
        result.seconds[name] = round(result.seconds.get(name, 0.0) + time.monotonic() - started, 3)

    @staticmethod
    def _count(result: RunResult, name: str, count: int) -> None:
        if count:
            result.deleted[name] = result.deleted.get(name, 0) + count

    def _pause(self) -> None:
        if self.settings.batch_pause_ms:
            time.sleep(self.settings.batch_pause_ms / 1000)

    def _purge_set(self, row_set: RowSet, cutoff: datetime, now: datetime, result: RunResult) -> None:
        """Delete a row set's expired rows in key order, one short statement and transaction per batch."""
        if row_set.table is Snapshot.__table__:
            self._purge_snapshots(cutoff, now, result)
            return
        table, key = row_set.table, row_set.table.primary_key.columns.values()[0]
        last = None
        while True:
            after = row_set.expired(cutoff) if last is None else and_(key > last, row_set.expired(cutoff))
            with self.engine.begin() as connection:
                # The batch's last key: one row back, then one ranged delete (both walk the primary key).
                bound = connection.execute(
                    select(key).where(after).order_by(key).offset(self.settings.batch_size - 1).limit(1)
                ).scalar()
                scope = after if bound is None else and_(after, key <= bound)
                removed = connection.execute(delete(table).where(scope)).rowcount
            self._count(result, row_set.name, removed)
            if bound is None:
                return
            last = bound
            self._pause()

    def _purge_snapshots(self, cutoff: datetime, now: datetime, result: RunResult) -> None:
        """Snapshots past retention, past their own expiry, or whose event is gone: file first, then the row."""
        snapshots = Snapshot.__table__
        orphan = and_(
            snapshots.c.event_id.is_not(None), not_(exists().where(Event.__table__.c.event_id == snapshots.c.event_id))
        )
        expired = or_(snapshots.c.taken_at < cutoff, snapshots.c.expires_at < now, orphan)
        while True:
            with self.engine.begin() as connection:
                rows = connection.execute(
                    select(snapshots.c.id, snapshots.c.path)
                    .where(expired)
                    .order_by(snapshots.c.id)
                    .limit(self.settings.batch_size)
                ).all()
                if not rows:
                    return
                for row in rows:
                    result.files_removed += remove_snapshot_file(self.settings.snapshot_root, row.path)
                removed = connection.execute(delete(snapshots).where(snapshots.c.id.in_([r.id for r in rows]))).rowcount
            self._count(result, "snapshots", removed)
            self._pause()

    def _expire_templates(self, now: datetime, result: RunResult) -> None:
        """Templates whose consent was withdrawn, whose person was erased, or who left more than N days ago."""
        grace = timedelta(days=self.settings.retention.days(DataClass.FACE_TEMPLATES))
        staying = exists().where(
            Occupancy.person_id == Person.id, or_(Occupancy.until.is_(None), Occupancy.until > now - grace)
        )
        left = and_(exists().where(Occupancy.person_id == Person.id), not_(staying))
        withdrawn = exists().where(Consent.id == FaceTemplate.consent_id, Consent.withdrawn_at.is_not(None))
        query = (
            select(Person.id, Person.site_id)
            .join(FaceTemplate, FaceTemplate.person_id == Person.id)
            .where(or_(Person.erased_at.is_not(None), withdrawn, left))
            .distinct()
        )
        with self.engine.connect() as connection:
            persons = connection.execute(query).all()
        for person_id, site_id in persons:
            with self.engine.begin() as connection:
                removed = connection.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person_id)).rowcount
                if not removed:
                    continue
                record_change(connection, site_id, "gallery", [person_id])
                holders = gallery_holders(connection, site_id)
                outgoing = erase_commands(connection, site_id, person_id, holders, EraseScope.TEMPLATES)
                append_audit(
                    connection,
                    SYSTEM_ACTOR,
                    "privacy.templates.expired",
                    f"person:{person_id}",
                    {"templates_deleted": removed, "edges": [device for _, device, _ in outgoing]},
                )
            self._count(result, "face_templates", removed)
            result.edge_commands += send_all(self.send, outgoing)

    def _timeseries(self, result: RunResult) -> None:
        """Time series expire by the store's own retention (bucket rule / retention policy / SQL prune)."""
        if self.timeseries is not None:
            result.timeseries = str(self.timeseries.ensure_retention(self.settings.timeseries_retention))

    def _tell_edges(self, run_id: int, result: RunResult) -> None:
        """Every known edge is told how long it may keep local events and snapshots."""
        days = min(self.settings.retention.days(data_class) for data_class in EVENT_CLASSES)
        snapshot_days = self.settings.retention.days(DataClass.UNKNOWN_FACE_SNAPSHOTS)
        with self.engine.begin() as connection:
            outgoing = retention_commands(
                connection,
                run_id,
                min(days * 86400.0, EDGE_EVENTS_MAX_S),
                min(snapshot_days * 86400.0, EDGE_SNAPSHOTS_MAX_S),
            )
        result.edge_commands += send_all(self.send, outgoing)

    def _finish(self, result: RunResult) -> None:
        """Close the run row, audit the counts, then verify the chain and move the anchor."""
        with self.engine.begin() as connection:
            connection.execute(
                update(RetentionRun)
                .where(RetentionRun.id == result.run_id)
                .values(
                    finished_at=self.clock(),
                    deleted=result.deleted,
                    files_removed=result.files_removed,
                    edge_commands=result.edge_commands,
                    error="; ".join(result.errors)[:4000] or None,
                )
            )
            append_audit(
                connection,
                SYSTEM_ACTOR,
                "privacy.retention.run",
                f"retention_run:{result.run_id}",
                {
                    "deleted": result.deleted,
                    "files_removed": result.files_removed,
                    "edge_commands": result.edge_commands,
                    "errors": len(result.errors),
                },
            )
        chain = verify_and_anchor(self.engine, self.settings.audit_anchor_file)
        result.audit_chain_ok = chain.ok
        if not chain.ok:
            result.errors.append(f"audit chain: entry {chain.bad_id}: {chain.problem}")
            log.error("audit chain check failed at entry %s: %s", chain.bad_id, chain.problem)
        log.info("retention run %d: %s", result.run_id, result.deleted)
