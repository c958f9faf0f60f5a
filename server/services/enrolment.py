"""Face consent and enrolment: templates only under a recorded consent; withdrawal erases them on every edge."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from protocol.commands import ErasePerson, ErasePersonResult, EraseScope
from server.security.policy import Principal, require_staff_or_self
from server.services.edge_lists import FACE_PURPOSE, encrypt_vector
from server.services.errors import Conflict, InvalidInput, NotFound, Unavailable
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.crypto import FieldCipher
from server.storage.enrolment import ConsentDetail, EraseRequest, FaceTemplate
from server.storage.models import CommandResultRow
from server.storage.people import ID_NUMBER_CONTEXT, Consent, Person
from server.storage.registry import Device
from server.storage.sync import DeviceSync

log = logging.getLogger(__name__)
GUARDIAN_BELOW_AGE = 14
CHANNELS = ("in_person", "app", "paper", "web")
MAX_PHOTOS = 10


@dataclass(frozen=True)
class ConsentIn:
    """A face consent as recorded: who gave it, under which notice, how; a guardian for a child under 14."""

    given_by: str
    notice_version: str
    channel: str
    subject_birth_date: date | None = None
    guardian_name: str | None = None
    guardian_relation: str | None = None


def _person(connection: Connection, caller: Principal, person_id: str) -> Any:
    person = connection.execute(select(Person).where(Person.id == person_id)).first()
    if person is None or person.erased_at is not None:
        raise NotFound(f"person {person_id}")
    require_staff_or_self(caller, person_id, person.site_id)
    return person


def birth_date_of(person: Any, cipher: FieldCipher) -> date | None:
    """The birth date encoded in the person's ID number (GB 11643 digits 7-14), if registered."""
    if person.id_number_enc is None:
        return None
    number = cipher.decrypt(person.id_number_enc, ID_NUMBER_CONTEXT)
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def age_on(born: date, day: date) -> int:
    """Full years between a birth date and a day."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def active_consent(connection: Connection, person_id: str) -> Any:
    """The person's standing face consent row, or None."""
    return connection.execute(
        select(Consent)
        .where(Consent.person_id == person_id, Consent.purpose == FACE_PURPOSE, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id.desc())
        .limit(1)
    ).first()


def record_consent(
    connection: Connection, cipher: FieldCipher, caller: Principal, person_id: str, consent: ConsentIn
) -> int:
    """Record a face consent; a person under 14 needs a guardian's name and relation. Audited."""
    person = _person(connection, caller, person_id)
    if consent.channel not in CHANNELS:
        raise InvalidInput(f"channel: one of {CHANNELS}")
    if not consent.given_by.strip() or not consent.notice_version.strip():
        raise InvalidInput("given_by and notice_version are required")
    born = birth_date_of(person, cipher) or consent.subject_birth_date
    if born is None:
        raise InvalidInput(
            "subject_birth_date: the person has no ID number; the birth date decides whether a guardian must consent"
        )
    minor = age_on(born, datetime.now(UTC).date()) < GUARDIAN_BELOW_AGE
    if minor and not (consent.guardian_name and consent.guardian_relation):
        raise InvalidInput(
            f"guardian_name, guardian_relation: the person is under {GUARDIAN_BELOW_AGE}; "
            "a guardian must give the consent"
        )
    if active_consent(connection, person_id) is not None:
        raise Conflict(f"person {person_id} already has a standing face consent")
    evidence = {
        "notice_version": consent.notice_version,
        "channel": consent.channel,
        "given_by": consent.given_by,
        "guardian": consent.guardian_name if minor else None,
    }
    consent_id = connection.execute(
        insert(Consent)
        .values(person_id=person_id, purpose=FACE_PURPOSE, evidence=json.dumps(evidence, ensure_ascii=False))
        .returning(Consent.id)
    ).scalar_one()
    connection.execute(
        insert(ConsentDetail).values(
            consent_id=consent_id,
            given_by=consent.given_by,
            notice_version=consent.notice_version,
            channel=consent.channel,
            recorded_by=caller.actor,
            subject_birth_date=consent.subject_birth_date,
            guardian_name=consent.guardian_name if minor else None,
            guardian_relation=consent.guardian_relation if minor else None,
        )
    )
    append_audit(
        connection,
        caller.actor,
        "consent.face.grant",
        f"person:{person_id}",
        {
            "consent_id": consent_id,
            "notice_version": consent.notice_version,
            "channel": consent.channel,
            "guardian": bool(minor),
        },
    )
    return consent_id


class EnrolmentEngine:
    """The edge's own enrolment code (edge.vision.enrol.Enroller), loaded on first use."""

    def __init__(self) -> None:
        self._enroller: Any = None
        self._lock = threading.Lock()

    def enrol(self, data: bytes, person_id: str, source: str) -> Any:
        """One photo's outcome (template or refusal)."""
        with self._lock:
            if self._enroller is None:
                try:
                    from edge.vision.enrol import Enroller
                except ImportError as err:
                    raise Unavailable(f"face models are not installed: {err}") from err
                self._enroller = Enroller()
            return self._enroller.enrol_bytes(data, person_id, source)


def enrol_photos(
    connection: Connection,
    cipher: FieldCipher,
    engine: EnrolmentEngine,
    caller: Principal,
    person_id: str,
    photos: list[tuple[str, bytes]],
) -> dict[str, Any]:
    """Compute templates from photos and store them encrypted; refused without a standing face consent."""
    person = _person(connection, caller, person_id)
    consent = active_consent(connection, person_id)
    if consent is None:
        raise Conflict(f"person {person_id} has no standing face consent; record one first")
    if not photos or len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"photos: 1 to {MAX_PHOTOS} files")
    accepted, refused = [], []
    for name, data in photos:
        outcome = engine.enrol(data, person_id, name)
        if outcome.template is None:
            refused.append({"photo": name, "reason": str(outcome.refusal), "detail": outcome.detail})
        else:
            accepted.append(outcome.template)
    if accepted:
        connection.execute(
            insert(FaceTemplate),
            [
                {
                    "template_id": f"t-{uuid.uuid4().hex[:24]}",
                    "person_id": person_id,
                    "consent_id": consent.id,
                    "vector_enc": encrypt_vector(cipher, template.vector),
                }
                for template in accepted
            ],
        )
        record_change(connection, person.site_id, "gallery", [person_id])
    append_audit(
        connection,
        caller.actor,
        "face.enrol",
        f"person:{person_id}",
        {"accepted": len(accepted), "refused": len(refused)},
    )
    total = connection.execute(select(FaceTemplate.id).where(FaceTemplate.person_id == person_id)).all()
    return {"person_id": person_id, "accepted": len(accepted), "refused": refused, "templates": len(total)}


def withdraw_consent(connection: Connection, caller: Principal, person_id: str) -> list[tuple[str, str, ErasePerson]]:
    """Withdraw the face consent: delete templates, bump the gallery, and return the erase commands to send."""
    person = _person(connection, caller, person_id)
    consent = active_consent(connection, person_id)
    if consent is None:
        raise Conflict(f"person {person_id} has no standing face consent")
    now = datetime.now(UTC)
    connection.execute(update(Consent).where(Consent.id == consent.id).values(withdrawn_at=now))
    connection.execute(
        update(ConsentDetail).where(ConsentDetail.consent_id == consent.id).values(withdrawn_by=caller.actor)
    )
    erased = connection.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person_id)).rowcount
    record_change(connection, person.site_id, "gallery", [person_id])
    holders = (
        connection.execute(
            select(Device.code)
            .join(DeviceSync, DeviceSync.device_id == Device.id)
            .where(Device.site_id == person.site_id, DeviceSync.list_name == "gallery", DeviceSync.sent_version > 0)
        )
        .scalars()
        .all()
    )
    commands = []
    for device in sorted(set(holders)):
        command = ErasePerson(request_id=uuid.uuid4(), person_id=person_id, scope=EraseScope.TEMPLATES)
        connection.execute(
            insert(EraseRequest).values(
                request_id=command.request_id, person_id=person_id, site=person.site_id, device=device, sent_at=now
            )
        )
        commands.append((person.site_id, device, command))
    append_audit(
        connection,
        caller.actor,
        "consent.face.withdraw",
        f"person:{person_id}",
        {"consent_id": consent.id, "templates_deleted": erased, "edges": [c[1] for c in commands]},
    )
    return commands


def face_status(connection: Connection, caller: Principal, person_id: str) -> dict[str, Any]:
    """Consent, template count, and per-edge erasure confirmations (complete when every edge confirmed)."""
    _person(connection, caller, person_id)
    consent = active_consent(connection, person_id)
    templates = len(connection.execute(select(FaceTemplate.id).where(FaceTemplate.person_id == person_id)).all())
    requests = connection.execute(
        select(EraseRequest).where(EraseRequest.person_id == person_id).order_by(EraseRequest.id)
    ).all()
    erasures = []
    for request in requests:
        result = connection.execute(
            select(CommandResultRow).where(
                CommandResultRow.request_id == request.request_id,
                CommandResultRow.device == request.device,
                CommandResultRow.command == ErasePersonResult.TOPIC_NAME,
            )
        ).first()
        erasures.append(
            {
                "device": request.device,
                "request_id": str(request.request_id),
                "sent_at": request.sent_at,
                "confirmed": bool(result and result.ok),
                "error": result.error if result else None,
                "confirmed_at": result.ts if result else None,
                "templates_erased": int(result.data.get("templates_erased", 0)) if result else None,
            }
        )
    return {
        "person_id": person_id,
        "consent": None if consent is None else {"id": consent.id, "granted_at": consent.granted_at},
        "templates": templates,
        "erasures": erasures,
        "erasure_complete": all(item["confirmed"] for item in erasures),
    }
