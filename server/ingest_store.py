"""Writes one ingest batch in one transaction: idempotent inserts through SQLAlchemy Core, device-state upserts."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError

from server.ingest_rows import BatchRows
from server.metrics import Metrics
from server.storage.bulk import bulk_insert
from server.storage.models import CommandResultRow, DeviceState, Event, RejectedMessage
from server.timeseries import Point, TimeSeriesStore

log = logging.getLogger(__name__)

DEVICE_STATE_DEFAULTS: dict[str, Any] = {
    "online": True,
    "software": "",
    "gallery_version": 0,
    "allowlist_version": 0,
    "telemetry": {},
    "capabilities": None,
}


class StorageUnavailable(RuntimeError):
    """The database cannot be reached or is busy: the batch should be retried later as a whole."""


def is_transient(err: BaseException) -> bool:
    """Whether a database error is about reaching the database (retry) rather than about the data."""
    if isinstance(err, OperationalError | DisconnectionError):
        return True
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


class BatchStore:
    """Stores ingest batches exactly once per event_id (ON CONFLICT DO NOTHING ... RETURNING)."""

    def __init__(self, engine: Engine, timeseries: TimeSeriesStore, metrics: Metrics) -> None:
        self.engine = engine
        self.timeseries = timeseries
        self.metrics = metrics
        self.dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    @property
    def transactional_timeseries(self) -> bool:
        """Whether time-series points are written inside the SQL transaction."""
        return bool(getattr(self.timeseries, "transactional", False))

    def commit(self, rows: BatchRows) -> set[str]:
        """Write a batch in one transaction; returns the event ids that were new. Raises StorageUnavailable."""
        started = time.perf_counter()
        try:
            with self.engine.begin() as connection:
                inserted = self._write(connection, rows)
        except SQLAlchemyError as err:
            if is_transient(err):
                raise StorageUnavailable(f"{type(err).__name__}: {str(err.orig or err)[:200]}") from err
            raise
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        return inserted

    def _write(self, connection: Connection, rows: BatchRows) -> set[str]:
        """The statements of one batch."""
        inserted: set[str] = set()
        if rows.events:
            events = unique_by_event_id(rows.events)
            new = bulk_insert(connection, Event.__table__, events, conflict_column="event_id", returning="event_id")
            inserted = {str(event_id) for event_id in new}
        if rows.rejected:
            bulk_insert(connection, RejectedMessage.__table__, rows.rejected)
        if rows.results:
            results = unique_by_event_id(rows.results)
            bulk_insert(connection, CommandResultRow.__table__, results, conflict_column="event_id")
        for key in sorted(rows.device_states):  # one order everywhere: concurrent workers cannot deadlock
            self._upsert_device_state(connection, rows.device_states[key])
        if self.transactional_timeseries:
            self.timeseries.write(new_points(rows, inserted), connection)
        return inserted

    def _upsert_device_state(self, connection: Connection, row: dict[str, Any]) -> None:
        """Insert or update a device's state in one statement, so two workers cannot both insert it."""
        values = DEVICE_STATE_DEFAULTS | row
        statement = self.dialect.insert(DeviceState).values(**values)
        changed = {key: statement.excluded[key] for key in row if key not in ("site", "device")}
        connection.execute(statement.on_conflict_do_update(index_elements=["site", "device"], set_=changed))

    def count_online(self) -> int:
        """Devices whose last status says online."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(DeviceState.online.is_(True))).scalar_one())


def unique_by_event_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated event ids inside one batch (a redelivery can land beside the original)."""
    seen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row["event_id"], row)
    return list(seen.values())


def new_points(rows: BatchRows, inserted: set[str]) -> list[Point]:
    """Points of newly stored events only (redelivered duplicates are not counted twice), plus telemetry."""
    points = list(rows.other_points)
    for event_id in inserted:
        points.extend(rows.event_points.get(event_id, []))
    return points
