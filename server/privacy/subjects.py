"""Data-subject requests: a copy of everything held about a person (PIPL Art. 45) and erasure (Art. 47)."""

from __future__ import annotations

import io
import json
import logging
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from protocol.commands import EraseScope
from server.privacy.audit_chain import SYSTEM_ACTOR
from server.privacy.edges import Outgoing, erase_commands, person_holders
from server.privacy.purpose import check_purpose
from server.privacy.retention import remove_snapshot_file, resolve_snapshot
from server.services.sync import record_change
from server.storage.accounts import User
from server.storage.audit import AuditEntry, append_audit
from server.storage.crypto import FieldCipher
from server.storage.enrolment import ConsentDetail, FaceTemplate
from server.storage.media import Snapshot
from server.storage.models import Event
from server.storage.people import ID_NUMBER_CONTEXT, Consent, Credential, Occupancy, Person, Vehicle
from server.storage.privacy import SubjectRequest
from server.storage.registry import Room
from server.storage.visitors import VisitorPass
from server.storage.watchlists import WatchlistEntry

log = logging.getLogger(__name__)
ERASED_NAME = "[erased]"
PERSONAL_EVENT_FIELDS = ("person_id", "credential_ref", "pass_id", "plate", "vehicle_id")


class SubjectNotFound(LookupError):
    """No such person, or the person was erased already."""


def _person(connection: Connection, person_id: str) -> Any:
    person = connection.execute(select(Person).where(Person.id == person_id)).first()
    if person is None or person.erased_at is not None:
        raise SubjectNotFound(f"person {person_id} does not exist or was erased")
    return person


def _plates(connection: Connection, person_id: str) -> list[str]:
    return list(connection.execute(select(Vehicle.plate).where(Vehicle.owner_id == person_id)).scalars())


def _events_filter(person: Any, plates: list[str]) -> Any:
    """The person's events: passages naming them and plate reads of their vehicles at their site."""
    by_plate = and_(Event.plate.in_(plates), Event.site == person.site_id) if plates else None
    return or_(Event.person_id == person.id, by_plate) if by_plate is not None else Event.person_id == person.id


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _rows(connection: Connection, query: Any) -> list[dict[str, Any]]:
    return [{key: _iso(value) for key, value in row._mapping.items()} for row in connection.execute(query)]


def collect(connection: Connection, cipher: FieldCipher, person_id: str) -> tuple[dict[str, Any], list[Any]]:
    """Everything held about a person, as JSON-ready sections, and the snapshot rows linked to their events."""
    person = _person(connection, person_id)
    plates = _plates(connection, person_id)
    events = connection.execute(select(Event).where(_events_filter(person, plates)).order_by(Event.ts)).all()
    for site, device in {(event.site, event.device) for event in events}:
        check_purpose(connection, site, device, "subject_access")
    event_ids = [event.event_id for event in events]
    snapshots = connection.execute(select(Snapshot).where(Snapshot.event_id.in_(event_ids))).all()
    document = {
        "person": {
            "id": person.id,
            "site_id": person.site_id,
            "kind": person.kind,
            "name": person.name,
            "phone": person.phone,
            "created_at": _iso(person.created_at),
            "id_number": cipher.decrypt(person.id_number_enc, ID_NUMBER_CONTEXT) if person.id_number_enc else None,
        },
        "occupancies": _rows(
            connection,
            select(Occupancy.relation, Occupancy.since, Occupancy.until, Room.address)
            .join(Room, Room.id == Occupancy.room_id)
            .where(Occupancy.person_id == person_id),
        ),
        "vehicles": _rows(
            connection,
            select(Vehicle.plate, Vehicle.colour, Vehicle.vehicle_type, Vehicle.created_at).where(
                Vehicle.owner_id == person_id
            ),
        ),
        "credentials": _rows(
            connection,
            select(
                Credential.kind,
                Credential.ref,
                Credential.access_group,
                Credential.valid_from,
                Credential.valid_until,
                Credential.revoked_at,
            ).where(Credential.person_id == person_id),
        ),
        "consents": _rows(
            connection,
            select(
                Consent.purpose,
                Consent.granted_at,
                Consent.withdrawn_at,
                ConsentDetail.notice_version,
                ConsentDetail.channel,
                ConsentDetail.given_by,
            )
            .outerjoin(ConsentDetail, ConsentDetail.consent_id == Consent.id)
            .where(Consent.person_id == person_id),
        ),
        "face_templates": _rows(
            connection,
            select(FaceTemplate.template_id, FaceTemplate.created_at).where(FaceTemplate.person_id == person_id),
        ),
        "visitor_passes": _rows(
            connection,
            select(
                VisitorPass.id,
                VisitorPass.visitor_name,
                VisitorPass.plate,
                VisitorPass.valid_from,
                VisitorPass.valid_until,
            ).where(VisitorPass.host_person_id == person_id),
        ),
        "events": [
            {
                "event_id": str(e.event_id),
                "ts": _iso(e.ts),
                "site": e.site,
                "device": e.device,
                "gate": e.gate,
                "kind": e.kind,
                "method": e.method,
                "result": e.result,
                "plate": e.plate,
            }
            for e in events
        ],
        "snapshots": [
            {
                "file": f"snapshots/{s.id}-{Path(s.path).name}",
                "taken_at": _iso(s.taken_at),
                "event_id": str(s.event_id) if s.event_id else None,
                "sha256": s.sha256,
            }
            for s in snapshots
        ],
        "processing_log": _rows(
            connection,
            select(AuditEntry.ts, AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.subject == f"person:{person_id}")
            .order_by(AuditEntry.id),
        ),
        "notes": ["Face templates are listed, not exported: they are numbers derived from photos, not the photos."],
    }
    return document, list(snapshots)


def export_person(
    connection: Connection, cipher: FieldCipher, snapshot_root: Path, person_id: str, actor: str
) -> tuple[uuid.UUID, bytes]:
    """A ZIP with person.json and the snapshot files; recorded as a subject request and audited (counts only)."""
    document, snapshots = collect(connection, cipher, person_id)
    buffer = io.BytesIO()
    files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(document, ensure_ascii=False, indent=2))
        for snapshot, entry in zip(snapshots, document["snapshots"], strict=True):
            path = resolve_snapshot(snapshot_root, snapshot.path)
            if path is not None and path.is_file():
                archive.write(path, entry["file"])
                files += 1
    counts = {key: len(value) for key, value in document.items() if isinstance(value, list)} | {"files": files}
    request_id = uuid.uuid4()
    now = datetime.now(UTC)
    connection.execute(
        insert(SubjectRequest).values(
            id=request_id,
            kind="export",
            person_id=person_id,
            site_id=document["person"]["site_id"],
            requested_by=actor,
            created_at=now,
            completed_at=now,
            detail={"counts": counts},
        )
    )
    append_audit(connection, actor, "privacy.export", f"person:{person_id}", {"request": str(request_id)} | counts)
    return request_id, buffer.getvalue()


def _pseudonymise_events(connection: Connection, condition: Any) -> int:
    """Keep the events for statistics, with every field that could link them to the person cleared."""
    rows = connection.execute(select(Event.id, Event.data).where(condition)).all()
    for row in rows:
        data = {key: (None if key in PERSONAL_EVENT_FIELDS else value) for key, value in dict(row.data).items()}
        connection.execute(update(Event).where(Event.id == row.id).values(person_id=None, plate=None, data=data))
    return len(rows)


def erase_person(
    connection: Connection, snapshot_root: Path, person_id: str, actor: str, events_policy: str
) -> tuple[uuid.UUID, Outgoing]:
    """Erase a person here and queue ErasePerson(all) for every edge that may hold them; returns the commands."""
    person = _person(connection, person_id)
    plates = _plates(connection, person_id)
    condition = _events_filter(person, plates)
    event_ids = list(connection.execute(select(Event.event_id).where(condition)).scalars())
    snapshots = connection.execute(
        select(Snapshot.id, Snapshot.path, Snapshot.sha256).where(Snapshot.event_id.in_(event_ids))
    ).all()
    files = [
        {"path": s.path, "sha256": s.sha256, "removed": remove_snapshot_file(snapshot_root, s.path)} for s in snapshots
    ]
    counts: dict[str, int] = {
        "snapshots": connection.execute(delete(Snapshot).where(Snapshot.id.in_([s.id for s in snapshots]))).rowcount
    }
    if events_policy == "delete":
        counts["events_deleted"] = connection.execute(delete(Event).where(condition)).rowcount
    else:
        counts["events_pseudonymised"] = _pseudonymise_events(connection, condition)
    refs = list(connection.execute(select(Credential.ref).where(Credential.person_id == person_id)).scalars())
    counts["face_templates"] = connection.execute(
        delete(FaceTemplate).where(FaceTemplate.person_id == person_id)
    ).rowcount
    counts["credentials"] = connection.execute(delete(Credential).where(Credential.person_id == person_id)).rowcount
    counts["consents"] = connection.execute(delete(Consent).where(Consent.person_id == person_id)).rowcount
    counts["occupancies"] = connection.execute(delete(Occupancy).where(Occupancy.person_id == person_id)).rowcount
    counts["vehicles"] = connection.execute(delete(Vehicle).where(Vehicle.owner_id == person_id)).rowcount
    counts["visitor_passes"] = connection.execute(
        delete(VisitorPass).where(VisitorPass.host_person_id == person_id)
    ).rowcount
    counts["user_accounts_unlinked"] = connection.execute(
        update(User).where(User.person_id == person_id).values(person_id=None, disabled=True)
    ).rowcount
    now = datetime.now(UTC)
    connection.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(name=ERASED_NAME, phone=None, id_number_enc=None, id_number_hash=None, erased_at=now)
    )
    counts["person_fields"] = 4
    record_change(connection, person.site_id, "gallery", [person_id])
    if refs:
        record_change(connection, person.site_id, "allowlist", refs)
    outgoing = erase_commands(
        connection, person.site_id, person_id, person_holders(connection, person.site_id, person_id), EraseScope.ALL
    )
    request_id = uuid.uuid4()
    append_audit(
        connection,
        actor,
        "privacy.erase",
        f"person:{person_id}",
        {"request": str(request_id), "edges": len(outgoing)} | counts,
    )
    retained = {
        "audit_entries": len(
            connection.execute(select(AuditEntry.id).where(AuditEntry.subject == f"person:{person_id}")).all()
        ),
        "watchlist_entries": len(
            connection.execute(
                select(WatchlistEntry.id).where(WatchlistEntry.kind == "person", WatchlistEntry.value == person_id)
            ).all()
        ),
    }
    connection.execute(
        insert(SubjectRequest).values(
            id=request_id,
            kind="erase",
            person_id=person_id,
            site_id=person.site_id,
            requested_by=actor,
            created_at=now,
            detail={
                "local": counts,
                "files": files,
                "events_policy": events_policy,
                "edge_requests": [str(command.request_id) for _, _, command in outgoing],
                "retained": retained,
            },
        )
    )
    log.warning("person %s erased (request %s): %s; %d edges asked", person_id, request_id, counts, len(outgoing))
    return request_id, outgoing


RETAINED_REASONS = {
    "audit_entries": "kept under PIPL Art. 55-56 (records of processing, 3 years); they name the person id only",
    "watchlist_entries": "security measure decided by staff; review under PIPL Art. 47 exceptions",
}


def erasure_certificate(connection: Connection, request_id: uuid.UUID, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """The certificate of an erasure: what went where, the edges' receipts; hash-bound into the audit chain once
    every edge confirmed."""
    from server.privacy.certificates import bind_certificate, certificate_document

    request = connection.execute(
        select(SubjectRequest).where(SubjectRequest.id == request_id, SubjectRequest.kind == "erase")
    ).first()
    if request is None:
        raise SubjectNotFound(f"erasure request {request_id}")
    document = certificate_document(connection, request, RETAINED_REASONS)
    return bind_certificate(connection, request, document, actor)
