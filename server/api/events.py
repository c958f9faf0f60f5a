"""Event search: time range, gate, device, kind, person and plate filters, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from server.api.auth import require_admin
from server.storage.models import Event

router = APIRouter(prefix="/api/v1", tags=["events"])


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


@router.get("/events", response_model=EventPage)
def list_events(
    request: Request,
    _role: str = Depends(require_admin),
    since: AwareDatetime | None = Query(default=None, description="Earliest ts (inclusive)"),
    until: AwareDatetime | None = Query(default=None, description="Latest ts (exclusive)"),
    site: str | None = Query(default=None, max_length=64),
    gate: str | None = Query(default=None, max_length=64),
    device: str | None = Query(default=None, max_length=64),
    kind: str | None = Query(default=None, max_length=32),
    person_id: str | None = Query(default=None, max_length=64),
    plate: str | None = Query(default=None, max_length=16),
    before_id: int | None = Query(default=None, ge=1, description="Cursor from the previous page"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> EventPage:
    """Search events, newest first, with keyset pagination."""
    query = select(Event)
    filters = {"site": site, "gate": gate, "device": device, "kind": kind, "person_id": person_id, "plate": plate}
    for column, value in filters.items():
        if value is not None:
            query = query.where(getattr(Event, column) == value)
    if since is not None:
        query = query.where(Event.ts >= since)
    if until is not None:
        query = query.where(Event.ts < until)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    query = query.order_by(Event.id.desc()).limit(limit + 1)
    with request.app.state.platform.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    items = [EventOut.model_validate(dict(row)) for row in rows[:limit]]
    next_id = rows[limit - 1]["id"] if len(rows) > limit else None
    return EventPage(items=items, next_before_id=next_id)
