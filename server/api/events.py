"""Event search (time range, site, gate, device, kind, person, plate, method, result) and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Connection, Select, false, or_, select

from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.privacy.purpose import events_readable_for
from server.security.policy import Principal, Role, site_scope
from server.storage.audit import append_audit
from server.storage.models import Event
from server.storage.people import Vehicle

router = APIRouter(prefix="/api/v1", tags=["events"], dependencies=[Depends(authorize)])
ROUTERS = (router,)
EXPORT_MAX_ROWS = 100_000
CSV_COLUMNS = ("event_id", "ts", "site", "gate", "device", "kind", "method", "result", "person_id", "plate")


class EventOut(BaseModel):
    """One stored event."""

    event_id: UUID
    schema_name: str
    kind: str
    site: str
    device: str
    seq: int
    ts: datetime
    received_at: datetime
    gate: str | None
    method: str | None
    result: str | None
    person_id: str | None
    plate: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    """A page of events and the cursor for the next one."""

    items: list[EventOut]
    next_before_id: int | None


@dataclass
class EventFilters:
    """Search criteria shared by the list and the export."""

    since: AwareDatetime | None = Query(default=None, description="Earliest ts (inclusive)")
    until: AwareDatetime | None = Query(default=None, description="Latest ts (exclusive)")
    site: str | None = Query(default=None, max_length=64)
    gate: str | None = Query(default=None, max_length=64)
    device: str | None = Query(default=None, max_length=64)
    kind: str | None = Query(default=None, max_length=32)
    person_id: str | None = Query(default=None, max_length=64)
    plate: str | None = Query(default=None, max_length=16)
    method: str | None = Query(default=None, max_length=16)
    result: str | None = Query(default=None, max_length=16)


def scoped_query(connection: Connection, caller: Principal, filters: EventFilters) -> Select:
    """Events matching the filters that the caller may see: a resident only their own (person or vehicles).

    Events from cameras registered for public security are never read here (PIPL Art. 26: access control
    is another purpose); police reach them only through an authorisation.
    """
    query = select(Event).where(events_readable_for(connection, "access_control"))
    if caller.role is Role.RESIDENT:
        if caller.person_id is None:
            return query.where(false())
        plates = list(connection.execute(select(Vehicle.plate).where(Vehicle.owner_id == caller.person_id)).scalars())
        own = [Event.person_id == caller.person_id]
        if plates:
            own.append(Event.plate.in_(plates))
        query = query.where(or_(*own), Event.site.in_(caller.site_ids))
    elif (scope := site_scope(caller)) is not None:
        query = query.where(Event.site.in_(scope))
    for column in ("site", "gate", "device", "kind", "person_id", "plate", "method", "result"):
        value = getattr(filters, column)
        if value is not None:
            query = query.where(getattr(Event, column) == value)
    if filters.since is not None:
        query = query.where(Event.ts >= filters.since)
    if filters.until is not None:
        query = query.where(Event.ts < filters.until)
    return query


@router.get("/events", response_model=EventPage)
def list_events(
    caller: Caller,
    connection: Tx,
    filters: EventFilters = Depends(),
    before_id: int | None = Query(default=None, ge=1, description="Cursor from the previous page"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> EventPage:
    """Search events, newest first, with keyset pagination."""
    query = scoped_query(connection, caller, filters)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    rows = connection.execute(query.order_by(Event.id.desc()).limit(limit + 1)).mappings().all()
    items = [EventOut.model_validate(dict(row)) for row in rows[:limit]]
    next_id = rows[limit - 1]["id"] if len(rows) > limit else None
    return EventPage(items=items, next_before_id=next_id)


def _cell(value: Any) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    text = "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@router.get(
    "/events/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Matching events as CSV"}},
)
def export_events(
    caller: Caller, connection: Tx, services: ServicesDep, filters: EventFilters = Depends()
) -> StreamingResponse:
    """Matching events as CSV (at most 100,000 rows, oldest first); every export is audited."""
    query = scoped_query(connection, caller, filters).order_by(Event.id).limit(EXPORT_MAX_ROWS)
    criteria = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(filters).items() if v is not None}
    append_audit(connection, caller.actor, "events.export", "events", {"filters": criteria})
    columns = [getattr(Event, name) for name in CSV_COLUMNS]
    statement = query.with_only_columns(*columns)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with services.engine.connect() as reader:
            for batch in reader.execution_options(yield_per=2000).execute(statement).partitions():
                for row in batch:
                    writer.writerow([_cell(value) for value in row])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        if buffer.getvalue():
            yield buffer.getvalue()

    headers = {"Content-Disposition": 'attachment; filename="events.csv"'}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)
