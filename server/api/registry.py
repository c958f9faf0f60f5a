"""The installation's address model: sites, buildings, units, rooms and gates."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from server.api.common import Page, PagingDep, fetch_page
from server.api.deps import Caller, Tx, authorize
from server.security.policy import require_site, site_scope
from server.services.errors import Conflict, InvalidInput, NotFound
from server.storage.audit import append_audit
from server.storage.registry import Building, Gate, Room, Site, Unit

router = APIRouter(prefix="/api/v1", tags=["registry"], dependencies=[Depends(authorize)])
ROUTERS = (router,)
CODE = r"^[A-Za-z0-9_-]{1,32}$"
LEVEL = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


class Row(BaseModel):
    """Rows read from SQL."""

    model_config = ConfigDict(from_attributes=True)


class SiteIn(BaseModel):
    """A new site (its id is the topic level its devices publish under)."""

    id: str = Field(pattern=LEVEL)
    name: str = Field(min_length=1, max_length=128)
    address: str = Field(default="", max_length=500)
    division_code: str | None = Field(default=None, pattern=r"^\d{6,12}$")


class SiteOut(Row):
    """A site."""

    id: str
    name: str
    address: str
    division_code: str | None


class BuildingIn(BaseModel):
    """A new building."""

    site_id: str = Field(max_length=64)
    code: str = Field(pattern=CODE)
    name: str = Field(default="", max_length=128)


class BuildingOut(Row):
    """A building."""

    id: int
    site_id: str
    code: str
    name: str


class UnitIn(BaseModel):
    """A new unit of a building."""

    building_id: int
    code: str = Field(pattern=CODE)


class UnitOut(Row):
    """A unit."""

    id: int
    building_id: int
    code: str


class RoomIn(BaseModel):
    """A new room of a unit."""

    unit_id: int
    code: str = Field(pattern=CODE)
    floor: int | None = Field(default=None, ge=-10, le=300)
    address: str = Field(default="", max_length=500)


class RoomOut(Row):
    """A room."""

    id: int
    unit_id: int
    code: str
    floor: int | None
    address: str


class GateIn(BaseModel):
    """A new gate."""

    site_id: str = Field(max_length=64)
    code: str = Field(pattern=LEVEL)
    name: str = Field(default="", max_length=128)
    kind: str = Field(default="pedestrian", pattern=r"^(pedestrian|vehicle)$")


class GateOut(Row):
    """A gate."""

    id: int
    site_id: str
    code: str
    name: str
    kind: str


def _scoped(query, column, caller):
    scope = site_scope(caller)
    return query if scope is None else query.where(column.in_(scope))


def _insert(connection, table, values: dict, what: str, actor: str) -> int | str:
    try:
        with connection.begin_nested():
            key = connection.execute(insert(table).values(**values).returning(table.__table__.c["id"])).scalar_one()
    except IntegrityError as err:
        raise Conflict(f"{what} already exists or refers to a missing parent") from err
    append_audit(connection, actor, f"{table.__tablename__}.create", f"{table.__tablename__}:{key}")
    return key


def _building_site(connection, building_id: int) -> str:
    site = connection.execute(select(Building.site_id).where(Building.id == building_id)).scalar()
    if site is None:
        raise InvalidInput(f"building_id: unknown building {building_id}")
    return site


def _unit_site(connection, unit_id: int) -> str:
    site = connection.execute(
        select(Building.site_id).join(Unit, Unit.building_id == Building.id).where(Unit.id == unit_id)
    ).scalar()
    if site is None:
        raise InvalidInput(f"unit_id: unknown unit {unit_id}")
    return site


@router.get("/sites", response_model=Page[SiteOut])
def list_sites(caller: Caller, connection: Tx, page: PagingDep) -> Page[SiteOut]:
    """Sites in the caller's scope."""
    rows, total = fetch_page(connection, _scoped(select(Site).order_by(Site.id), Site.id, caller), page)
    return Page(items=[SiteOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/sites", response_model=SiteOut, status_code=201)
def create_site(body: SiteIn, caller: Caller, connection: Tx) -> SiteOut:
    """Create a site (admin)."""
    _insert(connection, Site, body.model_dump(), f"site {body.id}", caller.actor)
    return SiteOut.model_validate(connection.execute(select(Site).where(Site.id == body.id)).one())


@router.get("/sites/{site_id}", response_model=SiteOut)
def get_site(site_id: str, caller: Caller, connection: Tx) -> SiteOut:
    """One site."""
    require_site(caller, site_id)
    row = connection.execute(select(Site).where(Site.id == site_id)).first()
    if row is None:
        raise NotFound(f"site {site_id}")
    return SiteOut.model_validate(row)


@router.get("/buildings", response_model=Page[BuildingOut])
def list_buildings(
    caller: Caller, connection: Tx, page: PagingDep, site_id: str | None = Query(default=None, max_length=64)
) -> Page[BuildingOut]:
    """Buildings, optionally of one site."""
    query = _scoped(select(Building).order_by(Building.id), Building.site_id, caller)
    if site_id is not None:
        query = query.where(Building.site_id == site_id)
    rows, total = fetch_page(connection, query, page)
    return Page(items=[BuildingOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/buildings", response_model=BuildingOut, status_code=201)
def create_building(body: BuildingIn, caller: Caller, connection: Tx) -> BuildingOut:
    """Create a building at a site in scope."""
    require_site(caller, body.site_id)
    key = _insert(connection, Building, body.model_dump(), f"building {body.code}", caller.actor)
    return BuildingOut.model_validate(connection.execute(select(Building).where(Building.id == key)).one())


@router.get("/units", response_model=Page[UnitOut])
def list_units(
    caller: Caller, connection: Tx, page: PagingDep, building_id: int | None = Query(default=None)
) -> Page[UnitOut]:
    """Units, optionally of one building."""
    query = select(Unit).join(Building, Building.id == Unit.building_id).order_by(Unit.id)
    query = _scoped(query, Building.site_id, caller)
    if building_id is not None:
        query = query.where(Unit.building_id == building_id)
    rows, total = fetch_page(connection, query, page)
    return Page(items=[UnitOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/units", response_model=UnitOut, status_code=201)
def create_unit(body: UnitIn, caller: Caller, connection: Tx) -> UnitOut:
    """Create a unit in a building in scope."""
    require_site(caller, _building_site(connection, body.building_id))
    key = _insert(connection, Unit, body.model_dump(), f"unit {body.code}", caller.actor)
    return UnitOut.model_validate(connection.execute(select(Unit).where(Unit.id == key)).one())


@router.get("/rooms", response_model=Page[RoomOut])
def list_rooms(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    unit_id: int | None = Query(default=None),
    site_id: str | None = Query(default=None, max_length=64),
) -> Page[RoomOut]:
    """Rooms, optionally of one unit or site."""
    query = (
        select(Room)
        .join(Unit, Unit.id == Room.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .order_by(Room.id)
    )
    query = _scoped(query, Building.site_id, caller)
    if unit_id is not None:
        query = query.where(Room.unit_id == unit_id)
    if site_id is not None:
        query = query.where(Building.site_id == site_id)
    rows, total = fetch_page(connection, query, page)
    return Page(items=[RoomOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/rooms", response_model=RoomOut, status_code=201)
def create_room(body: RoomIn, caller: Caller, connection: Tx) -> RoomOut:
    """Create a room in a unit in scope."""
    require_site(caller, _unit_site(connection, body.unit_id))
    key = _insert(connection, Room, body.model_dump(), f"room {body.code}", caller.actor)
    return RoomOut.model_validate(connection.execute(select(Room).where(Room.id == key)).one())


@router.get("/gates", response_model=Page[GateOut])
def list_gates(
    caller: Caller, connection: Tx, page: PagingDep, site_id: str | None = Query(default=None, max_length=64)
) -> Page[GateOut]:
    """Gates, optionally of one site."""
    query = _scoped(select(Gate).order_by(Gate.id), Gate.site_id, caller)
    if site_id is not None:
        query = query.where(Gate.site_id == site_id)
    rows, total = fetch_page(connection, query, page)
    return Page(items=[GateOut.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/gates", response_model=GateOut, status_code=201)
def create_gate(body: GateIn, caller: Caller, connection: Tx) -> GateOut:
    """Create a gate at a site in scope."""
    require_site(caller, body.site_id)
    key = _insert(connection, Gate, body.model_dump(), f"gate {body.code}", caller.actor)
    return GateOut.model_validate(connection.execute(select(Gate).where(Gate.id == key)).one())
