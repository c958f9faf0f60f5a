"""Key rotation of encrypted fields: re-encrypt with the current key in short batches while the platform runs."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, Table, select, update

from server.storage.crypto import DecryptionError, FieldCipher
from server.storage.enrolment import FaceTemplate
from server.storage.people import ID_NUMBER_CONTEXT, Person
from server.storage.sync import CredentialValue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncryptedColumn:
    """A column of AES-GCM ciphertexts and the context they were sealed with."""

    table: Table
    column: str
    context: str


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(Person.__table__, "id_number_enc", ID_NUMBER_CONTEXT),  # type: ignore[arg-type]
    EncryptedColumn(FaceTemplate.__table__, "vector_enc", "face_templates.vector"),  # type: ignore[arg-type]
    EncryptedColumn(CredentialValue.__table__, "value_enc", "credential_values.value"),  # type: ignore[arg-type]
)


@dataclass
class RotationResult:
    """Per column: fields re-encrypted, already current, changed meanwhile (left for the next pass), unreadable."""

    rotated: Counter = field(default_factory=Counter)
    current: Counter = field(default_factory=Counter)
    raced: Counter = field(default_factory=Counter)
    unreadable: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain JSON form."""
        return {name: dict(getattr(self, name)) for name in ("rotated", "current", "raced", "unreadable")}


def _name(column: EncryptedColumn) -> str:
    return f"{column.table.name}.{column.column}"


def key_usage(engine: Engine, cipher: FieldCipher) -> dict[str, dict[str, int]]:
    """Per encrypted column, how many fields each key id sealed ('legacy' for the first format)."""
    usage: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for column in ENCRYPTED_COLUMNS:
            counts: Counter = Counter()
            values = column.table.c[column.column]
            query = select(values).where(values.is_not(None)).execution_options(yield_per=5000)
            for (blob,) in connection.execute(query):
                counts[cipher.blob_key_id(bytes(blob)) or "legacy"] += 1
            usage[_name(column)] = dict(counts)
    return usage


def rotate_keys(engine: Engine, cipher: FieldCipher, batch_size: int = 500) -> RotationResult:
    """Re-encrypt every field not sealed by the current key; each batch is one transaction, each row written only
    if it still holds the ciphertext that was read (so a concurrent write is never overwritten)."""
    result = RotationResult()
    for column in ENCRYPTED_COLUMNS:
        name, table = _name(column), column.table
        key, values = table.primary_key.columns.values()[0], table.c[column.column]
        last = None
        while True:
            with engine.begin() as connection:
                query = select(key, values).where(values.is_not(None)).order_by(key).limit(batch_size)
                rows = connection.execute(query if last is None else query.where(key > last)).all()
                if not rows:
                    break
                for row_key, blob in rows:
                    blob = bytes(blob)
                    if cipher.blob_key_id(blob) == cipher.key_id:
                        result.current[name] += 1
                        continue
                    try:
                        fresh = cipher.encrypt(cipher.decrypt(blob, column.context), column.context)
                    except DecryptionError:
                        result.unreadable[name] += 1
                        log.error("%s %s cannot be decrypted with the loaded keys", name, row_key)
                        continue
                    written = connection.execute(
                        update(table).where(key == row_key, values == blob).values({column.column: fresh})
                    ).rowcount
                    (result.rotated if written else result.raced)[name] += 1
                last = rows[-1][0]
    log.info("key rotation to %s: %s", cipher.key_id, result.as_dict())
    return result
