"""Real population (实有人口): persons, where they live, their vehicles, credentials and consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Connection,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.crypto import FieldCipher
from server.storage.identity import mask_id_number, mask_phone, normalise_id_number, normalise_phone
from server.storage.types import utc_now

ID_NUMBER_CONTEXT = "persons.id_number"
PERSON_KINDS = ("resident", "visitor", "staff")
OCCUPANT_RELATIONS = ("owner", "tenant", "family", "other")
VEHICLE_TYPES = ("car", "suv", "van", "truck", "bus", "motorcycle", "other")
PLATE_COLOURS = ("blue", "yellow", "green", "white", "black", "unknown")
CREDENTIAL_KINDS = ("card", "pin", "qr", "plate", "face")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL text of a CHECK that a column holds one of the values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Person(Base):
    """A resident, visitor or staff member; the ID number is stored encrypted with a keyed hash for look-up."""

    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(20))
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    erased_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_one_of("kind", PERSON_KINDS), name="kind"),
        UniqueConstraint("site_id", "id_number_hash"),
    )


class Occupancy(Base):
    """A person living in (or owning) a room, over a period."""

    __tablename__ = "occupancies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(default=utc_now)
    until: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(_one_of("relation", OCCUPANT_RELATIONS), name="relation"),)


class Vehicle(Base):
    """A registered vehicle: normalised plate, plate colour and vehicle type."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(16), index=True)
    colour: Mapped[str] = mapped_column(String(16))
    vehicle_type: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        UniqueConstraint("site_id", "plate"),
        CheckConstraint(_one_of("colour", PLATE_COLOURS), name="colour"),
        CheckConstraint(_one_of("vehicle_type", VEHICLE_TYPES), name="vehicle_type"),
    )


class Credential(Base):
    """A card, PIN, QR pass, plate or face credential; `ref` is the opaque id events carry, never the value."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value_hash: Mapped[str | None] = mapped_column(String(64))
    access_group: Mapped[str] = mapped_column(String(64), default="residents")
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_one_of("kind", CREDENTIAL_KINDS), name="kind"),
        Index("ix_credentials_kind_value_hash", "kind", "value_hash"),
    )


class Consent(Base):
    """A person's consent to a purpose (e.g. face recognition), withdrawn by setting withdrawn_at."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(default=utc_now)
    withdrawn_at: Mapped[datetime | None]
    evidence: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_consents_person_id_purpose", "person_id", "purpose"),)


def person_values(
    cipher: FieldCipher,
    *,
    person_id: str,
    site_id: str,
    kind: str,
    name: str,
    phone: str | None = None,
    id_number: str | None = None,
) -> dict[str, Any]:
    """Validated column values of a new person: phone normalised, ID number checked, encrypted and hashed."""
    if kind not in PERSON_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {PERSON_KINDS}")
    values: dict[str, Any] = {"id": person_id, "site_id": site_id, "kind": kind, "name": name.strip()}
    values["phone"] = normalise_phone(phone) if phone else None
    if id_number:
        number = normalise_id_number(id_number)
        values["id_number_enc"] = cipher.encrypt(number, ID_NUMBER_CONTEXT)
        values["id_number_hash"] = cipher.lookup_hash(number, ID_NUMBER_CONTEXT)
    return values


def find_person_ids_by_id_number(connection: Connection, cipher: FieldCipher, id_number: str) -> list[str]:
    """Ids of persons registered with this ID number (looked up by keyed hash, never by clear text)."""
    digest = cipher.lookup_hash(normalise_id_number(id_number), ID_NUMBER_CONTEXT)
    return list(connection.execute(select(Person.id).where(Person.id_number_hash == digest)).scalars())


def masked_person(person: Person, cipher: FieldCipher) -> dict[str, Any]:
    """A person as shown to staff: phone and ID number masked."""
    id_number = cipher.decrypt(person.id_number_enc, ID_NUMBER_CONTEXT) if person.id_number_enc else None
    return {
        "id": person.id,
        "site_id": person.site_id,
        "kind": person.kind,
        "name": person.name,
        "phone": mask_phone(person.phone) if person.phone else None,
        "id_number": mask_id_number(id_number) if id_number else None,
    }


def vehicle_values(*, site_id: str, plate: str, colour: str, vehicle_type: str, owner_id: str | None = None) -> dict:
    """Validated column values of a vehicle: plate normalised and checked against the plate grammar."""
    from edge.vision.plate_rules import is_valid_plate, normalise_plate_text

    text = normalise_plate_text(plate)
    if not is_valid_plate(text):
        raise ValueError(f"plate: {plate!r} is not a valid plate")
    if colour not in PLATE_COLOURS:
        raise ValueError(f"colour: {colour!r} is not one of {PLATE_COLOURS}")
    if vehicle_type not in VEHICLE_TYPES:
        raise ValueError(f"vehicle_type: {vehicle_type!r} is not one of {VEHICLE_TYPES}")
    return {"site_id": site_id, "plate": text, "colour": colour, "vehicle_type": vehicle_type, "owner_id": owner_id}
