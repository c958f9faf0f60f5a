"""PIN credentials: a person's PIN, typed after an account code (room or user code) at the gates' keypads.

The platform keeps only the protocol.pins hash (encrypted like every credential value) and sends it on the
site's allowlist; gates check it offline. One PIN per person: setting a new one revokes the old.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from protocol.pins import PinFormatError, check_pin, hash_pin
from server.security.policy import Principal, Role
from server.services.edge_lists import CREDENTIAL_CONTEXT
from server.services.errors import Conflict, InvalidInput
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.crypto import FieldCipher
from server.storage.people import Credential, Person
from server.storage.sync import CredentialValue

RESIDENT_GROUP = "residents"


def set_pin(
    connection: Connection,
    cipher: FieldCipher,
    caller: Principal,
    person: Any,
    account: str,
    pin: str,
    access_group: str = RESIDENT_GROUP,
    valid_until: datetime | None = None,
) -> int:
    """Store a person's new PIN (hashed), revoke their previous one, queue both for the edges; the credential id."""
    if caller.role is Role.RESIDENT and (access_group != RESIDENT_GROUP or valid_until is not None):
        raise InvalidInput("access_group, valid_until: residents set only their own PIN, in their group")
    try:
        value = hash_pin(account, pin)
    except PinFormatError as err:
        raise InvalidInput(f"pin: {err}") from err
    account_hash = cipher.lookup_hash(account, CREDENTIAL_CONTEXT)
    others = connection.execute(
        select(Credential.person_id, CredentialValue.value_enc)
        .join(CredentialValue, CredentialValue.credential_id == Credential.id)
        .join(Person, Person.id == Credential.person_id)
        .where(
            Credential.kind == "pin",
            Credential.value_hash == account_hash,
            Credential.revoked_at.is_(None),
            Person.site_id == person.site_id,
            Credential.person_id != person.id,
        )
    )
    if any(check_pin(cipher.decrypt(row.value_enc, CREDENTIAL_CONTEXT), account, pin) for row in others):
        raise Conflict("pin: another person uses this PIN on this account; choose another")
    previous = list(
        connection.execute(
            update(Credential)
            .where(Credential.person_id == person.id, Credential.kind == "pin", Credential.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(Credential.ref)
        ).scalars()
    )
    ref = f"c-{secrets.token_hex(8)}"
    key = connection.execute(
        insert(Credential)
        .values(
            ref=ref,
            person_id=person.id,
            kind="pin",
            value_hash=account_hash,
            access_group=access_group,
            valid_until=valid_until,
        )
        .returning(Credential.id)
    ).scalar_one()
    connection.execute(
        insert(CredentialValue).values(credential_id=key, value_enc=cipher.encrypt(value, CREDENTIAL_CONTEXT))
    )
    record_change(connection, person.site_id, "allowlist", [ref, *previous])
    append_audit(connection, caller.actor, "credential.pin", f"person:{person.id}", {"ref": ref, "revoked": previous})
    return key
