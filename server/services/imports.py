"""Bulk import of residents and vehicles from CSV or Excel: validate every line, report errors, dry-run or apply.

Residents: name, phone, id_number, building, unit, room[, relation, kind]. Vehicles: plate[, colour,
vehicle_type, owner_id_number, owner_phone]. A file with any bad line is not applied (all or nothing).
"""

from __future__ import annotations

import csv
import io
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, insert, select

from server.services.errors import InvalidInput
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.crypto import FieldCipher
from server.storage.identity import IdentifierError, normalise_id_number, normalise_phone
from server.storage.people import (
    ID_NUMBER_CONTEXT,
    OCCUPANT_RELATIONS,
    Occupancy,
    Person,
    Vehicle,
    person_values,
    vehicle_values,
)
from server.storage.registry import Building, Room, Site, Unit

RESIDENT_COLUMNS = ("name", "phone", "id_number", "building", "unit", "room")
VEHICLE_COLUMNS = ("plate",)
MAX_LINES = 50_000
Progress = Callable[[int], None]


@dataclass
class LineError:
    """One problem on one line of the file (line 1 is the header)."""

    line: int
    field: str
    message: str


@dataclass
class ImportReport:
    """What an import found and did."""

    kind: str
    lines: int = 0
    valid: int = 0
    errors: list[LineError] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "lines": self.lines,
            "valid": self.valid,
            "applied": self.applied,
            "dry_run": self.dry_run,
            "errors": [vars(error) for error in self.errors],
        }


def read_rows(filename: str, data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs from a .csv (UTF-8, BOM allowed) or .xlsx file; headers are lower-cased."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InvalidInput(f"{filename}: not UTF-8 text") from err
        reader = csv.reader(io.StringIO(text))
        rows: Iterator[list[Any]] = iter(reader)
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as err:
            raise InvalidInput(f"{filename}: not a readable Excel workbook: {err}") from err
        rows = (list(values) for values in workbook.active.iter_rows(values_only=True))
    else:
        raise InvalidInput(f"{filename}: use a .csv or .xlsx file")
    header = next(rows, None)
    if not header:
        raise InvalidInput(f"{filename}: empty file")
    names = [str(name or "").strip().lower() for name in header]
    for number, values in enumerate(rows, start=2):
        cells = ["" if v is None else str(v).strip() for v in values]
        if not any(cells):
            continue
        if number > MAX_LINES + 1:
            raise InvalidInput(f"{filename}: more than {MAX_LINES} lines")
        yield number, dict(zip(names, cells + [""] * (len(names) - len(cells)), strict=False))


def _rooms(connection: Connection, site_id: str) -> dict[tuple[str, str, str], int]:
    query = (
        select(Building.code, Unit.code, Room.code, Room.id)
        .join(Unit, Unit.building_id == Building.id)
        .join(Room, Room.unit_id == Unit.id)
        .where(Building.site_id == site_id)
    )
    return {(b, u, r): room_id for b, u, r, room_id in connection.execute(query)}


def _check_site(connection: Connection, site_id: str) -> None:
    if connection.execute(select(Site.id).where(Site.id == site_id)).first() is None:
        raise InvalidInput(f"site_id: unknown site {site_id}")


def import_residents(
    connection: Connection,
    cipher: FieldCipher,
    actor: str,
    site_id: str,
    filename: str,
    data: bytes,
    dry_run: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate (and unless dry_run, insert) residents with their rooms."""
    _check_site(connection, site_id)
    report = ImportReport("residents", dry_run=dry_run)
    rooms = _rooms(connection, site_id)
    seen_ids: dict[str, int] = {}
    persons, occupancies = [], []
    for line, row in read_rows(filename, data):
        report.lines += 1
        errors = [LineError(line, column, "missing") for column in RESIDENT_COLUMNS if column not in row]
        if errors:
            report.errors += errors
            break
        problems: list[LineError] = []
        if not row["name"]:
            problems.append(LineError(line, "name", "required"))
        for column, check in (("phone", normalise_phone), ("id_number", normalise_id_number)):
            if row[column]:
                try:
                    row[column] = check(row[column])
                except IdentifierError as err:
                    problems.append(LineError(line, column, str(err).split(": ", 1)[-1]))
        if row["id_number"] and not any(p.field == "id_number" for p in problems):
            if row["id_number"] in seen_ids:
                problems.append(LineError(line, "id_number", f"duplicate of line {seen_ids[row['id_number']]}"))
            else:
                seen_ids[row["id_number"]] = line
                digest = cipher.lookup_hash(row["id_number"], ID_NUMBER_CONTEXT)
                if connection.execute(
                    select(Person.id).where(Person.site_id == site_id, Person.id_number_hash == digest)
                ).first():
                    problems.append(LineError(line, "id_number", "already registered at this site"))
        room_id = rooms.get((row["building"], row["unit"], row["room"]))
        if room_id is None:
            problems.append(LineError(line, "room", f"unknown room {row['building']}-{row['unit']}-{row['room']}"))
        relation = row.get("relation") or "owner"
        if relation not in OCCUPANT_RELATIONS:
            problems.append(LineError(line, "relation", f"one of {OCCUPANT_RELATIONS}"))
        kind = row.get("kind") or "resident"
        if problems:
            report.errors += problems
        else:
            report.valid += 1
            if not dry_run:
                person_id = f"p-{secrets.token_hex(6)}"
                persons.append(
                    person_values(
                        cipher,
                        person_id=person_id,
                        site_id=site_id,
                        kind=kind,
                        name=row["name"],
                        phone=row["phone"] or None,
                        id_number=row["id_number"] or None,
                    )
                )
                occupancies.append({"person_id": person_id, "room_id": room_id, "relation": relation})
        if progress:
            progress(1)
    if not dry_run and not report.errors and persons:
        connection.execute(insert(Person), persons)
        connection.execute(insert(Occupancy), occupancies)
        report.applied = True
    append_audit(
        connection,
        actor,
        "import.residents",
        f"site:{site_id}",
        {"lines": report.lines, "errors": len(report.errors), "applied": report.applied},
    )
    return report


def import_vehicles(
    connection: Connection,
    cipher: FieldCipher,
    actor: str,
    site_id: str,
    filename: str,
    data: bytes,
    dry_run: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate (and unless dry_run, insert) vehicles; owners are found by ID number or phone at the site."""
    _check_site(connection, site_id)
    report = ImportReport("vehicles", dry_run=dry_run)
    existing = set(connection.execute(select(Vehicle.plate).where(Vehicle.site_id == site_id)).scalars())
    seen: dict[str, int] = {}
    vehicles = []
    for line, row in read_rows(filename, data):
        report.lines += 1
        if "plate" not in row:
            report.errors.append(LineError(line, "plate", "missing column"))
            break
        problems: list[LineError] = []
        values = None
        try:
            values = vehicle_values(
                site_id=site_id,
                plate=row["plate"],
                colour=row.get("colour") or "blue",
                vehicle_type=row.get("vehicle_type") or "car",
            )
        except ValueError as err:
            column, _, message = str(err).partition(": ")
            problems.append(LineError(line, column or "plate", message or str(err)))
        if values is not None:
            plate = values["plate"]
            if plate in seen:
                problems.append(LineError(line, "plate", f"duplicate plate {plate} (line {seen[plate]})"))
            elif plate in existing:
                problems.append(LineError(line, "plate", f"duplicate plate {plate} (already registered)"))
            seen.setdefault(plate, line)
        owner, problem = _owner(connection, cipher, site_id, line, row)
        if problem:
            problems.append(problem)
        if problems:
            report.errors += problems
        else:
            report.valid += 1
            assert values is not None
            vehicles.append({**values, "owner_id": owner})
        if progress:
            progress(1)
    if not dry_run and not report.errors and vehicles:
        ids = connection.execute(insert(Vehicle).returning(Vehicle.id), vehicles).scalars().all()
        record_change(connection, site_id, "allowlist", [f"vehicle-{key}" for key in ids])
        report.applied = True
    append_audit(
        connection,
        actor,
        "import.vehicles",
        f"site:{site_id}",
        {"lines": report.lines, "errors": len(report.errors), "applied": report.applied},
    )
    return report


def _owner(
    connection: Connection, cipher: FieldCipher, site_id: str, line: int, row: dict[str, str]
) -> tuple[str | None, LineError | None]:
    """The owner's person id from owner_id_number or owner_phone (both optional)."""
    if row.get("owner_id_number"):
        try:
            number = normalise_id_number(row["owner_id_number"])
        except IdentifierError as err:
            return None, LineError(line, "owner_id_number", str(err).split(": ", 1)[-1])
        digest = cipher.lookup_hash(number, ID_NUMBER_CONTEXT)
        owner = connection.execute(
            select(Person.id).where(Person.site_id == site_id, Person.id_number_hash == digest)
        ).scalar()
        return (owner, None) if owner else (None, LineError(line, "owner_id_number", "no such person at the site"))
    if row.get("owner_phone"):
        try:
            phone = normalise_phone(row["owner_phone"])
        except IdentifierError as err:
            return None, LineError(line, "owner_phone", str(err).split(": ", 1)[-1])
        owners = connection.execute(select(Person.id).where(Person.site_id == site_id, Person.phone == phone)).all()
        if len(owners) != 1:
            return None, LineError(line, "owner_phone", "no single person with this phone at the site")
        return owners[0].id, None
    return None, None
