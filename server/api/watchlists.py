"""Watchlists of plates and persons with an alert level, and the alerts raised when one shows up at a gate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from server.api.common import Page, PagingDep, fetch_page
from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.security.policy import require_site, site_scope
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.hooks import after_commit
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.people import Person
from server.storage.watchlists import Alert, WatchlistEntry

router = APIRouter(prefix="/api/v1", tags=["watchlists"], dependencies=[Depends(authorize)])
ROUTERS = (router,)


class EntryIn(BaseModel):
    """A plate or person to watch for at a site."""

    site_id: str = Field(max_length=64)
    kind: str = Field(pattern=r"^(plate|person)$")
    value: str = Field(min_length=1, max_length=64, description="Plate text or person id")
    level: str = Field(default="warning", pattern=r"^(info|warning|critical)$")
    reason: str = Field(default="", max_length=500)


class EntryOut(BaseModel):
    """A watchlist entry."""

    id: int
    site_id: str
    kind: str
    value: str
    level: str
    reason: str
    created_by: str
    created_at: datetime
    removed_at: datetime | None


class AlertOut(BaseModel):
    """A watchlist hit."""

    id: int
    site_id: str
    entry_id: int
    event_id: uuid.UUID
    level: str
    gate: str | None
    device: str
    ts: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@router.get("/watchlist", response_model=Page[EntryOut])
def list_entries(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    site_id: str | None = Query(default=None, max_length=64),
    kind: str | None = Query(default=None, pattern=r"^(plate|person)$"),
    include_removed: bool = Query(default=False),
) -> Page[EntryOut]:
    """Watchlist entries of the caller's sites."""
    query = select(WatchlistEntry).order_by(WatchlistEntry.id)
    if (scope := site_scope(caller)) is not None:
        query = query.where(WatchlistEntry.site_id.in_(scope))
    if site_id is not None:
        query = query.where(WatchlistEntry.site_id == site_id)
    if kind is not None:
        query = query.where(WatchlistEntry.kind == kind)
    if not include_removed:
        query = query.where(WatchlistEntry.removed_at.is_(None))
    rows, total = fetch_page(connection, query, page)
    return Page(
        items=[EntryOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/watchlist", response_model=EntryOut, status_code=201)
def add_entry(body: EntryIn, caller: Caller, connection: Tx, services: ServicesDep) -> EntryOut:
    """Watch a plate (also pushed to the edges as a watchlist entry) or a person."""
    require_site(caller, body.site_id)
    value = body.value.strip()
    if body.kind == "plate":
        from edge.vision.plate_rules import is_valid_plate, normalise_plate_text

        value = normalise_plate_text(value)
        if not is_valid_plate(value):
            raise InvalidInput(f"value: {body.value!r} is not a valid plate")
    elif (
        connection.execute(select(Person.id).where(Person.id == value, Person.site_id == body.site_id)).first() is None
    ):
        raise InvalidInput(f"value: no person {value} at site {body.site_id}")
    key = connection.execute(
        insert(WatchlistEntry)
        .values(
            site_id=body.site_id,
            kind=body.kind,
            value=value,
            level=body.level,
            reason=body.reason,
            created_by=caller.actor,
        )
        .returning(WatchlistEntry.id)
    ).scalar_one()
    if body.kind == "plate":
        record_change(connection, body.site_id, "allowlist", [f"watch-{key}"])
        after_commit(connection, services.sync.kick)
    append_audit(
        connection, caller.actor, "watchlist.add", f"watchlist:{key}", {"kind": body.kind, "level": body.level}
    )
    after_commit(connection, services.watchlist.invalidate)
    row = connection.execute(select(WatchlistEntry).where(WatchlistEntry.id == key)).one()
    return EntryOut.model_validate(row, from_attributes=True)


@router.delete("/watchlist/{entry_id}", status_code=204)
def remove_entry(entry_id: int, caller: Caller, connection: Tx, services: ServicesDep) -> None:
    """Stop watching (the entry is kept, marked removed, for the record)."""
    row = connection.execute(select(WatchlistEntry).where(WatchlistEntry.id == entry_id)).first()
    if row is None:
        raise NotFound(f"watchlist entry {entry_id}")
    require_site(caller, row.site_id)
    if row.removed_at is not None:
        raise Conflict(f"watchlist entry {entry_id} is already removed")
    connection.execute(update(WatchlistEntry).where(WatchlistEntry.id == entry_id).values(removed_at=datetime.now(UTC)))
    if row.kind == "plate":
        record_change(connection, row.site_id, "allowlist", [f"watch-{entry_id}"])
        after_commit(connection, services.sync.kick)
    append_audit(connection, caller.actor, "watchlist.remove", f"watchlist:{entry_id}")
    after_commit(connection, services.watchlist.invalidate)


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    site_id: str | None = Query(default=None, max_length=64),
    unacknowledged: bool = Query(default=False),
) -> Page[AlertOut]:
    """Watchlist hits at the caller's sites, newest first."""
    query = select(Alert).order_by(Alert.id.desc())
    if (scope := site_scope(caller)) is not None:
        query = query.where(Alert.site_id.in_(scope))
    if site_id is not None:
        query = query.where(Alert.site_id == site_id)
    if unacknowledged:
        query = query.where(Alert.acknowledged_at.is_(None))
    rows, total = fetch_page(connection, query, page)
    return Page(
        items=[AlertOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/alerts/{alert_id}/acknowledge", status_code=204)
def acknowledge(alert_id: int, caller: Caller, connection: Tx) -> None:
    """Mark an alert as handled."""
    row = connection.execute(select(Alert).where(Alert.id == alert_id)).first()
    if row is None:
        raise NotFound(f"alert {alert_id}")
    require_site(caller, row.site_id)
    connection.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(acknowledged_by=caller.actor, acknowledged_at=datetime.now(UTC))
    )
    append_audit(connection, caller.actor, "alert.acknowledge", f"alert:{alert_id}")
