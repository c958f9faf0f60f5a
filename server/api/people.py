"""Real population: persons (masked by role), households, occupancies, vehicles and credentials."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from protocol.cards import canonical_card
from server.api.common import Page, PagingDep, fetch_page
from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.security.policy import (
    Principal,
    Role,
    masked_id_number_for,
    masked_phone_for,
    require_site,
    require_staff_or_self,
    site_scope,
)
from server.services.edge_lists import CREDENTIAL_CONTEXT
from server.services.errors import Conflict, InvalidInput, NotFound
from server.services.hooks import after_commit
from server.services.pins import set_pin
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.crypto import FieldCipher
from server.storage.identity import IdentifierError
from server.storage.people import (
    ID_NUMBER_CONTEXT,
    OCCUPANT_RELATIONS,
    Credential,
    Occupancy,
    Person,
    Vehicle,
    person_values,
    vehicle_values,
)
from server.storage.registry import Building, Room, Unit
from server.storage.sync import CredentialValue

router = APIRouter(prefix="/api/v1", tags=["people"], dependencies=[Depends(authorize)])
ROUTERS = (router,)


class PersonIn(BaseModel):
    """A new person."""

    site_id: str = Field(max_length=64)
    kind: str = Field(default="resident", pattern=r"^(resident|visitor|staff)$")
    name: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(default=None, max_length=32)
    id_number: str | None = Field(default=None, max_length=32)


class PersonOut(BaseModel):
    """A person, phone and ID number masked according to the caller's role."""

    id: str
    site_id: str
    kind: str
    name: str
    phone: str | None
    id_number: str | None


class OccupancyIn(BaseModel):
    """A person living in a room."""

    person_id: str = Field(max_length=64)
    room_id: int
    relation: str = Field(default="owner", pattern=f"^({'|'.join(OCCUPANT_RELATIONS)})$")


class VehicleIn(BaseModel):
    """A vehicle (a resident registers their own)."""

    site_id: str | None = Field(default=None, max_length=64)
    plate: str = Field(min_length=5, max_length=16)
    colour: str = Field(default="blue", max_length=16)
    vehicle_type: str = Field(default="car", max_length=16)
    owner_id: str | None = Field(default=None, max_length=64)


class VehicleOut(BaseModel):
    """A vehicle."""

    id: int
    site_id: str
    plate: str
    colour: str
    vehicle_type: str
    owner_id: str | None


class CredentialIn(BaseModel):
    """A card or plate credential of a person (PINs: PUT /persons/{person_id}/pin)."""

    person_id: str = Field(max_length=64)
    kind: str = Field(pattern=r"^(card|plate)$")
    value: str = Field(min_length=1, max_length=64)
    access_group: str = Field(default="residents", pattern=r"^[a-z0-9-]{1,64}$")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class PinIn(BaseModel):
    """A person's PIN: the account code typed first (room or user code), then the PIN."""

    account: str = Field(min_length=1, max_length=16, description="Account code, 1-16 letters, digits or '-'")
    pin: str = Field(min_length=4, max_length=12, description="4-12 digits; only its hash is kept")
    access_group: str = Field(default="residents", pattern=r"^[a-z0-9-]{1,64}$", description="Staff only")
    valid_until: AwareDatetime | None = Field(default=None, description="Staff only")


class CredentialOut(BaseModel):
    """A credential; its value is never returned."""

    id: int
    ref: str
    person_id: str
    kind: str
    access_group: str
    valid_from: datetime | None
    valid_until: datetime | None
    revoked_at: datetime | None


def person_out(row: Any, caller: Principal, cipher: FieldCipher, reveal: bool = False) -> PersonOut:
    """A person as this caller may see it."""
    id_number = cipher.decrypt(row.id_number_enc, ID_NUMBER_CONTEXT) if row.id_number_enc else None
    return PersonOut(
        id=row.id,
        site_id=row.site_id,
        kind=row.kind,
        name=row.name,
        phone=masked_phone_for(caller, row.id, row.phone),
        id_number=masked_id_number_for(caller, id_number, reveal),
    )


def household_ids(connection: Connection, person_id: str) -> set[str]:
    """Persons currently sharing a room with this person (the person included)."""
    rooms = select(Occupancy.room_id).where(Occupancy.person_id == person_id, Occupancy.until.is_(None))
    members = select(Occupancy.person_id).where(Occupancy.room_id.in_(rooms), Occupancy.until.is_(None))
    return set(connection.execute(members).scalars()) | {person_id}


def _load_person(connection: Connection, caller: Principal, person_id: str, household_ok: bool = False) -> Any:
    row = connection.execute(select(Person).where(Person.id == person_id, Person.erased_at.is_(None))).first()
    if row is None:
        raise NotFound(f"person {person_id}")
    household = household_ids(connection, caller.person_id) if household_ok and caller.person_id else set()
    require_staff_or_self(caller, person_id, row.site_id, household)
    return row


@router.get("/persons", response_model=Page[PersonOut])
def list_persons(
    caller: Caller,
    connection: Tx,
    services: ServicesDep,
    page: PagingDep,
    site_id: str | None = Query(default=None, max_length=64),
    kind: str | None = Query(default=None, max_length=16),
    name: str | None = Query(default=None, max_length=64, description="Part of the name"),
    room_id: int | None = Query(default=None),
) -> Page[PersonOut]:
    """Persons in scope (a resident sees their household)."""
    query = select(Person).where(Person.erased_at.is_(None)).order_by(Person.id)
    if caller.role is Role.RESIDENT:
        query = query.where(Person.id.in_(household_ids(connection, caller.person_id or "")))
    elif (scope := site_scope(caller)) is not None:
        query = query.where(Person.site_id.in_(scope))
    if site_id is not None:
        query = query.where(Person.site_id == site_id)
    if kind is not None:
        query = query.where(Person.kind == kind)
    if name:
        query = query.where(Person.name.contains(name, autoescape=True))
    if room_id is not None:
        query = query.where(Person.id.in_(select(Occupancy.person_id).where(Occupancy.room_id == room_id)))
    rows, total = fetch_page(connection, query, page)
    cipher = services.keys.cipher
    return Page(items=[person_out(r, caller, cipher) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/persons", response_model=PersonOut, status_code=201)
def create_person(body: PersonIn, caller: Caller, connection: Tx, services: ServicesDep) -> PersonOut:
    """Register a person (ID number checked, encrypted, hashed for look-up)."""
    require_site(caller, body.site_id)
    cipher = services.keys.cipher
    person_id = f"p-{secrets.token_hex(6)}"
    try:
        values = person_values(
            cipher,
            person_id=person_id,
            site_id=body.site_id,
            kind=body.kind,
            name=body.name,
            phone=body.phone,
            id_number=body.id_number,
        )
    except (IdentifierError, ValueError) as err:
        raise InvalidInput(str(err)) from err
    try:
        with connection.begin_nested():
            connection.execute(insert(Person).values(**values))
    except IntegrityError as err:
        raise Conflict("a person with this ID number is already registered at the site") from err
    append_audit(connection, caller.actor, "person.create", f"person:{person_id}")
    return person_out(connection.execute(select(Person).where(Person.id == person_id)).one(), caller, cipher)


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(
    person_id: str,
    caller: Caller,
    connection: Tx,
    services: ServicesDep,
    reveal: bool = Query(default=False, description="Admin only: show the full ID number (audited)"),
) -> PersonOut:
    """One person (a resident: themself or a household member)."""
    row = _load_person(connection, caller, person_id, household_ok=True)
    if reveal and caller.is_admin:
        append_audit(connection, caller.actor, "person.reveal_id_number", f"person:{person_id}")
    return person_out(row, caller, services.keys.cipher, reveal)


@router.get("/persons/{person_id}/household", response_model=list[PersonOut])
def get_household(person_id: str, caller: Caller, connection: Tx, services: ServicesDep) -> list[PersonOut]:
    """Everyone currently living in the person's rooms."""
    _load_person(connection, caller, person_id, household_ok=True)
    rows = connection.execute(
        select(Person)
        .where(Person.id.in_(household_ids(connection, person_id)), Person.erased_at.is_(None))
        .order_by(Person.id)
    ).all()
    return [person_out(r, caller, services.keys.cipher) for r in rows]


@router.post("/occupancies", status_code=201)
def create_occupancy(body: OccupancyIn, caller: Caller, connection: Tx) -> dict[str, int]:
    """Record that a person lives in a room of the same site."""
    person = _load_person(connection, caller, body.person_id)
    room_site = connection.execute(
        select(Building.site_id)
        .join(Unit, Unit.building_id == Building.id)
        .join(Room, Room.unit_id == Unit.id)
        .where(Room.id == body.room_id)
    ).scalar()
    if room_site is None:
        raise InvalidInput(f"room_id: unknown room {body.room_id}")
    if room_site != person.site_id:
        raise InvalidInput("room_id: the room is at another site than the person")
    key = connection.execute(insert(Occupancy).values(**body.model_dump()).returning(Occupancy.id)).scalar_one()
    append_audit(connection, caller.actor, "occupancy.create", f"person:{body.person_id}", {"room": body.room_id})
    return {"id": key}


def _vehicles_query(caller: Principal):
    query = select(Vehicle).order_by(Vehicle.id)
    if caller.role is Role.RESIDENT:
        return query.where(Vehicle.owner_id == caller.person_id)
    scope = site_scope(caller)
    return query if scope is None else query.where(Vehicle.site_id.in_(scope))


@router.get("/vehicles", response_model=Page[VehicleOut])
def list_vehicles(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    site_id: str | None = Query(default=None, max_length=64),
    plate: str | None = Query(default=None, max_length=16),
    owner_id: str | None = Query(default=None, max_length=64),
) -> Page[VehicleOut]:
    """Vehicles in scope (a resident: their own)."""
    query = _vehicles_query(caller)
    if site_id is not None:
        query = query.where(Vehicle.site_id == site_id)
    if plate:
        query = query.where(Vehicle.plate == re.sub(r"[\s·.\-•]", "", plate).upper())
    if owner_id is not None:
        query = query.where(Vehicle.owner_id == owner_id)
    rows, total = fetch_page(connection, query, page)
    return Page(
        items=[VehicleOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/vehicles", response_model=VehicleOut, status_code=201)
def create_vehicle(body: VehicleIn, caller: Caller, connection: Tx, services: ServicesDep) -> VehicleOut:
    """Register a vehicle; it joins the site's allowlist at the next sync."""
    owner, site_id = body.owner_id, body.site_id
    if caller.role is Role.RESIDENT:
        owner = caller.person_id
    if owner is not None:
        site_id = _load_person(connection, caller, owner).site_id
    if site_id is None:
        raise InvalidInput("site_id: required for a vehicle without owner")
    require_site(caller, site_id)
    try:
        values = vehicle_values(
            site_id=site_id, plate=body.plate, colour=body.colour, vehicle_type=body.vehicle_type, owner_id=owner
        )
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    try:
        with connection.begin_nested():
            key = connection.execute(insert(Vehicle).values(**values).returning(Vehicle.id)).scalar_one()
    except IntegrityError as err:
        raise Conflict(f"plate {values['plate']} is already registered at site {site_id}") from err
    record_change(connection, site_id, "allowlist", [f"vehicle-{key}"])
    append_audit(connection, caller.actor, "vehicle.create", f"vehicle:{key}")
    after_commit(connection, services.sync.kick)
    return VehicleOut.model_validate(
        connection.execute(select(Vehicle).where(Vehicle.id == key)).one(), from_attributes=True
    )


@router.delete("/vehicles/{vehicle_id}", status_code=204)
def delete_vehicle(vehicle_id: int, caller: Caller, connection: Tx, services: ServicesDep) -> None:
    """Remove a vehicle (a resident: their own); it leaves the allowlist at the next sync."""
    row = connection.execute(_vehicles_query(caller).where(Vehicle.id == vehicle_id)).first()
    if row is None:
        raise NotFound(f"vehicle {vehicle_id}")
    connection.execute(Vehicle.__table__.delete().where(Vehicle.id == vehicle_id))
    record_change(connection, row.site_id, "allowlist", [f"vehicle-{vehicle_id}"])
    append_audit(connection, caller.actor, "vehicle.delete", f"vehicle:{vehicle_id}")
    after_commit(connection, services.sync.kick)


@router.get("/credentials", response_model=Page[CredentialOut])
def list_credentials(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    person_id: str | None = Query(default=None, max_length=64),
    kind: str | None = Query(default=None, max_length=16),
) -> Page[CredentialOut]:
    """Credentials of persons in scope (values are never shown)."""
    query = select(Credential).join(Person, Person.id == Credential.person_id).order_by(Credential.id)
    if (scope := site_scope(caller)) is not None:
        query = query.where(Person.site_id.in_(scope))
    if person_id is not None:
        query = query.where(Credential.person_id == person_id)
    if kind is not None:
        query = query.where(Credential.kind == kind)
    rows, total = fetch_page(connection, query, page)
    return Page(
        items=[CredentialOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/credentials", response_model=CredentialOut, status_code=201)
def create_credential(body: CredentialIn, caller: Caller, connection: Tx, services: ServicesDep) -> CredentialOut:
    """Issue a card or plate credential; the value is stored encrypted and synced to the site's edges."""
    person = _load_person(connection, caller, body.person_id)
    value = re.sub(r"[\s·.\-•]", "", body.value).upper()
    if body.kind == "card":
        if not re.fullmatch(r"(0X)?[0-9A-F]{4,20}", value):
            raise InvalidInput("value: a card number is 4-20 decimal or hex digits")
        value = canonical_card(value)  # the one form gates look cards up by
    cipher = services.keys.cipher
    digest = cipher.lookup_hash(value, CREDENTIAL_CONTEXT)
    clash = connection.execute(
        select(Credential.id)
        .join(Person, Person.id == Credential.person_id)
        .where(
            Credential.kind == body.kind,
            Credential.value_hash == digest,
            Credential.revoked_at.is_(None),
            Person.site_id == person.site_id,
        )
    ).first()
    if clash is not None:
        raise Conflict(f"this {body.kind} is already issued at site {person.site_id}")
    ref = f"c-{secrets.token_hex(8)}"
    key = connection.execute(
        insert(Credential)
        .values(
            ref=ref,
            person_id=body.person_id,
            kind=body.kind,
            value_hash=digest,
            access_group=body.access_group,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
        )
        .returning(Credential.id)
    ).scalar_one()
    connection.execute(
        insert(CredentialValue).values(credential_id=key, value_enc=cipher.encrypt(value, CREDENTIAL_CONTEXT))
    )
    record_change(connection, person.site_id, "allowlist", [ref])
    append_audit(connection, caller.actor, "credential.issue", f"person:{body.person_id}", {"ref": ref})
    after_commit(connection, services.sync.kick)
    return CredentialOut.model_validate(
        connection.execute(select(Credential).where(Credential.id == key)).one(), from_attributes=True
    )


@router.put("/persons/{person_id}/pin", response_model=CredentialOut)
def set_person_pin(person_id: str, body: PinIn, caller: Caller, connection: Tx, services: ServicesDep) -> CredentialOut:
    """Set a person's keypad PIN (a resident: their own); only its hash is stored and synced to the edges."""
    person = _load_person(connection, caller, person_id)
    key = set_pin(
        connection, services.keys.cipher, caller, person, body.account, body.pin, body.access_group, body.valid_until
    )
    after_commit(connection, services.sync.kick)
    row = connection.execute(select(Credential).where(Credential.id == key)).one()
    return CredentialOut.model_validate(row, from_attributes=True)


@router.delete("/credentials/{credential_id}", status_code=204)
def revoke_credential(credential_id: int, caller: Caller, connection: Tx, services: ServicesDep) -> None:
    """Revoke a credential; it leaves the allowlist at the next sync."""
    row = connection.execute(
        select(Credential, Person.site_id)
        .join(Person, Person.id == Credential.person_id)
        .where(Credential.id == credential_id)
    ).first()
    if row is None:
        raise NotFound(f"credential {credential_id}")
    require_site(caller, row.site_id)
    done = connection.execute(
        update(Credential)
        .where(Credential.id == credential_id, Credential.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    if not done:
        raise Conflict(f"credential {credential_id} is already revoked")
    record_change(connection, row.site_id, "allowlist", [row.ref])
    append_audit(connection, caller.actor, "credential.revoke", f"person:{row.person_id}", {"ref": row.ref})
    after_commit(connection, services.sync.kick)
