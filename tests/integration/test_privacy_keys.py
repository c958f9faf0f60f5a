"""Encryption at rest (PIPL Art. 51): key ids beside ciphertexts, rotation in batches while readers keep working."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from server.privacy.keys import key_usage, rotate_keys
from server.services.edge_lists import decrypt_vector
from server.storage.crypto import DecryptionError, FieldCipher
from server.storage.enrolment import FaceTemplate
from server.storage.people import ID_NUMBER_CONTEXT, Person, find_person_ids_by_id_number
from tests.support.privacy_world import ALICE, ALICE_ID, seed

pytestmark = pytest.mark.integration


@pytest.fixture()
def engine(tmp_path):
    from server.storage.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path}/sc.db")
    migrate(engine)
    yield engine
    engine.dispose()


def test_pipl_art51_rotation_reencrypts_every_field_without_a_reader_losing_access(engine, tmp_path):
    old_key, lookup = os.urandom(32), os.urandom(32)
    old = FieldCipher(old_key, lookup)
    with engine.begin() as connection:
        seed(connection, old, tmp_path / "snapshots")
    new_key = os.urandom(32)
    during = FieldCipher(new_key, lookup, previous_keys=[old_key])
    assert key_usage(engine, during) == {
        "persons.id_number_enc": {old.key_id: 1},
        "face_templates.vector_enc": {old.key_id: 2},
        "credential_values.value_enc": {old.key_id: 1},
    }
    result = rotate_keys(engine, during, batch_size=1)
    assert result.rotated == {
        "persons.id_number_enc": 1,
        "face_templates.vector_enc": 2,
        "credential_values.value_enc": 1,
    }
    assert sum(result.unreadable.values()) == 0
    after = FieldCipher(new_key, lookup)  # the old key can now be dropped
    assert set(key_usage(engine, after)["face_templates.vector_enc"]) == {after.key_id}
    with engine.connect() as connection:
        blob = connection.execute(select(Person.id_number_enc).where(Person.id == ALICE)).scalar_one()
        assert after.decrypt(blob, ID_NUMBER_CONTEXT) == ALICE_ID
        with pytest.raises(DecryptionError):
            old.decrypt(blob, ID_NUMBER_CONTEXT)
        assert decrypt_vector(
            after, connection.execute(select(FaceTemplate.vector_enc).limit(1)).scalar_one()
        ).shape == (128,)
        assert find_person_ids_by_id_number(connection, after, ALICE_ID) == [ALICE], "look-ups survive rotation"
    assert rotate_keys(engine, after).rotated == {}, "a second pass has nothing left to do"


def test_first_format_ciphertexts_stay_readable_and_get_rotated(engine, tmp_path):
    key, lookup = os.urandom(32), os.urandom(32)
    cipher = FieldCipher(key, lookup)
    sealed = cipher.encrypt(ALICE_ID, ID_NUMBER_CONTEXT)
    legacy = bytes([1]) + sealed[2 + sealed[1] :]  # the format before key ids: version byte, nonce, ciphertext
    assert cipher.decrypt(legacy, ID_NUMBER_CONTEXT) == ALICE_ID and cipher.blob_key_id(legacy) is None
    with engine.begin() as connection:
        seed(connection, cipher, tmp_path / "snapshots")
        connection.execute(Person.__table__.update().where(Person.id == ALICE).values(id_number_enc=legacy))
    assert key_usage(engine, cipher)["persons.id_number_enc"] == {"legacy": 1}
    assert rotate_keys(engine, cipher).rotated == {"persons.id_number_enc": 1}
    assert key_usage(engine, cipher)["persons.id_number_enc"] == {cipher.key_id: 1}
