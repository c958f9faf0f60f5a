"""The content of the lists edges hold, read live from SQL: face gallery entries and allowlist entries."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Connection, select

from protocol.cards import CardFormatError, canonical_card
from protocol.commands import AllowlistEntry, CredentialKind, GalleryEntry
from server.storage.crypto import FieldCipher
from server.storage.enrolment import FaceTemplate
from server.storage.people import Consent, Credential, Person, Vehicle
from server.storage.sync import CredentialValue
from server.storage.visitors import VisitorPass
from server.storage.watchlists import WatchlistEntry

TEMPLATE_CONTEXT = "face_templates.vector"
CREDENTIAL_CONTEXT = "credential_values.value"
FACE_PURPOSE = "face"


def encrypt_vector(cipher: FieldCipher, vector: np.ndarray) -> bytes:
    """A template vector (float32 little-endian, base64) encrypted for the face_templates table."""
    text = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return cipher.encrypt(text, TEMPLATE_CONTEXT)


def decrypt_vector(cipher: FieldCipher, blob: bytes) -> np.ndarray:
    """Inverse of encrypt_vector."""
    return np.frombuffer(base64.b64decode(cipher.decrypt(blob, TEMPLATE_CONTEXT)), dtype="<f4")


def gallery_entries(
    connection: Connection, cipher: FieldCipher, site_id: str, person_ids: Iterable[str] | None = None
) -> list[GalleryEntry]:
    """Templates of the site's persons whose face consent stands (only `person_ids` when given)."""
    query = (
        select(FaceTemplate.template_id, FaceTemplate.person_id, FaceTemplate.vector_enc)
        .join(Consent, Consent.id == FaceTemplate.consent_id)
        .join(Person, Person.id == FaceTemplate.person_id)
        .where(Person.site_id == site_id, Person.erased_at.is_(None), Consent.withdrawn_at.is_(None))
        .order_by(FaceTemplate.id)
    )
    if person_ids is not None:
        query = query.where(FaceTemplate.person_id.in_(list(person_ids)))
    return [
        GalleryEntry(
            person_id=row.person_id,
            template_id=row.template_id,
            embedding=[float(x) for x in decrypt_vector(cipher, row.vector_enc)],
        )
        for row in connection.execute(query)
    ]


def _canonical_card(value: str) -> str:
    """A stored card number in the form gates look it up by (kept as stored if it is not a card number)."""
    try:
        return canonical_card(value)
    except CardFormatError:
        return value


def allowlist_entries(
    connection: Connection, cipher: FieldCipher, site_id: str, refs: Iterable[str] | None = None
) -> list[AllowlistEntry]:
    """Cards, PINs and plates of the site: resident credentials and vehicles, visitor plates, watchlist plates."""
    wanted = set(refs) if refs is not None else None
    now = datetime.now(UTC)
    entries: list[AllowlistEntry] = []

    credentials = (
        select(Credential, CredentialValue.value_enc)
        .join(CredentialValue, CredentialValue.credential_id == Credential.id)
        .join(Person, Person.id == Credential.person_id)
        .where(
            Person.site_id == site_id,
            Person.erased_at.is_(None),
            Credential.revoked_at.is_(None),
            Credential.kind.in_(["card", "pin", "plate"]),
        )
    )
    if wanted is not None:
        credentials = credentials.where(Credential.ref.in_(wanted))
    for row in connection.execute(credentials):
        value = cipher.decrypt(row.value_enc, CREDENTIAL_CONTEXT)
        entries.append(
            AllowlistEntry(
                kind=CredentialKind(row.kind),
                value=_canonical_card(value) if row.kind == "card" else value,
                person_id=row.person_id,
                credential_ref=row.ref,
                group=row.access_group,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
            )
        )

    vehicles = select(Vehicle).where(Vehicle.site_id == site_id)
    for row in connection.execute(vehicles):
        ref = f"vehicle-{row.id}"
        if wanted is None or ref in wanted:
            entries.append(
                AllowlistEntry(kind=CredentialKind.PLATE, value=row.plate, person_id=row.owner_id, credential_ref=ref)
            )

    passes = select(VisitorPass).where(
        VisitorPass.site_id == site_id,
        VisitorPass.plate.is_not(None),
        VisitorPass.revoked_at.is_(None),
        VisitorPass.valid_until > now,
    )
    for row in connection.execute(passes):
        ref = f"pass-{row.id}"
        if wanted is None or ref in wanted:
            entries.append(
                AllowlistEntry(
                    kind=CredentialKind.PLATE,
                    value=row.plate,
                    credential_ref=ref,
                    group="visitors",
                    gates=list(row.gates.get("codes", [])),
                    valid_from=row.valid_from,
                    valid_until=row.valid_until,
                )
            )

    watched = select(WatchlistEntry).where(
        WatchlistEntry.site_id == site_id, WatchlistEntry.kind == "plate", WatchlistEntry.removed_at.is_(None)
    )
    for row in connection.execute(watched):
        ref = f"watch-{row.id}"
        if wanted is None or ref in wanted:
            entries.append(
                AllowlistEntry(
                    kind=CredentialKind.PLATE, value=row.value, credential_ref=ref, group="watchlist", watchlist=True
                )
            )
    return entries
