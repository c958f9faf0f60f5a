"""Which rows belong to each data class: the table, its timestamp column and the filter (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, ColumnElement, Connection, Table, and_, exists, func, not_, or_, select, true

from server.privacy.settings import DataClass
from server.storage.enrolment import EraseRequest
from server.storage.media import Snapshot
from server.storage.models import CommandResultRow, Event, RejectedMessage
from server.storage.people import Vehicle
from server.storage.privacy import EdgeRetentionCommand, RetentionRun, SubjectRequest
from server.storage.visitors import VisitorPass
from server.storage.watchlists import Alert

EVENTS: Table = Event.__table__  # type: ignore[assignment]
VEHICLES: Table = Vehicle.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class RowSet:
    """Rows of one table that belong to a data class and age by one timestamp column."""

    name: str
    table: Table
    ts_column: str
    condition: Callable[[], ColumnElement[bool]]

    @property
    def ts(self) -> Column:
        """The column the age is measured on."""
        return self.table.c[self.ts_column]

    def expired(self, cutoff: datetime) -> ColumnElement[bool]:
        """Rows of this set older than the cutoff."""
        return and_(self.ts < cutoff, self.condition())

    def oldest(self, connection: Connection) -> datetime | None:
        """Timestamp of the oldest row held, or None when there is none."""
        return connection.execute(select(func.min(self.ts)).where(self.condition())).scalar()


def _registered_plate() -> ColumnElement[bool]:
    """The event's plate belongs to a vehicle registered at the event's site."""
    return exists().where(VEHICLES.c.plate == EVENTS.c.plate, VEHICLES.c.site_id == EVENTS.c.site)


def _resident_access() -> ColumnElement[bool]:
    """Passages by credential, face or remote opening, and plate reads of registered vehicles."""
    passage = and_(EVENTS.c.kind == "access", or_(EVENTS.c.method.is_(None), EVENTS.c.method != "qr"))
    return or_(passage, and_(EVENTS.c.kind == "plate", _registered_plate()))


ROW_SETS: dict[DataClass, tuple[RowSet, ...]] = {
    DataClass.RESIDENT_ACCESS: (RowSet("events:access", EVENTS, "ts", _resident_access),),
    DataClass.VISITOR_RECORDS: (
        RowSet("events:qr-passage", EVENTS, "ts", lambda: and_(EVENTS.c.kind == "access", EVENTS.c.method == "qr")),
        RowSet("visitor_passes", VisitorPass.__table__, "valid_until", true),  # type: ignore[arg-type]
    ),
    DataClass.UNREGISTERED_PLATES: (
        RowSet("events:plate", EVENTS, "ts", lambda: and_(EVENTS.c.kind == "plate", not_(_registered_plate()))),
    ),
    DataClass.UNKNOWN_FACE_SNAPSHOTS: (RowSet("snapshots", Snapshot.__table__, "taken_at", true),),  # type: ignore[arg-type]
    DataClass.ALARMS: (
        RowSet("events:alarm", EVENTS, "ts", lambda: EVENTS.c.kind == "alarm"),
        RowSet("alerts", Alert.__table__, "ts", true),  # type: ignore[arg-type]
    ),
    DataClass.SECURITY_LOGS: (
        RowSet("events:door", EVENTS, "ts", lambda: EVENTS.c.kind == "door"),
        RowSet("rejected_messages", RejectedMessage.__table__, "received_at", true),  # type: ignore[arg-type]
    ),
    DataClass.AUDIT_LOG: (
        RowSet("command_results", CommandResultRow.__table__, "ts", true),  # type: ignore[arg-type]
        RowSet("erase_requests", EraseRequest.__table__, "sent_at", true),  # type: ignore[arg-type]
        RowSet("edge_retention_commands", EdgeRetentionCommand.__table__, "sent_at", true),  # type: ignore[arg-type]
        RowSet("retention_runs", RetentionRun.__table__, "started_at", true),  # type: ignore[arg-type]
        RowSet("subject_requests", SubjectRequest.__table__, "created_at", true),  # type: ignore[arg-type]
    ),
}
