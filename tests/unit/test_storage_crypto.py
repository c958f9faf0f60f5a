"""Field encryption and look-up hashes for personal data."""

from __future__ import annotations

import base64
import os

import pytest

from server.storage.crypto import DecryptionError, FieldCipher, KeyConfigError, key_from_env


@pytest.fixture()
def cipher() -> FieldCipher:
    return FieldCipher(os.urandom(32), os.urandom(32))


def test_round_trip_with_random_nonces(cipher):
    first = cipher.encrypt("11010519491231002X", "persons.id_number")
    second = cipher.encrypt("11010519491231002X", "persons.id_number")
    assert first != second, "a fresh nonce per encryption"
    assert b"11010519491231002X" not in first
    assert cipher.decrypt(first, "persons.id_number") == "11010519491231002X"


def test_tampering_wrong_context_and_wrong_key_fail(cipher):
    blob = bytearray(cipher.encrypt("secret", "persons.id_number"))
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), "persons.phone")
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), "persons.id_number")
    other = FieldCipher(os.urandom(32), os.urandom(32))
    with pytest.raises(DecryptionError):
        other.decrypt(cipher.encrypt("secret", "c"), "c")


def test_lookup_hash_is_keyed_and_context_separated(cipher):
    assert cipher.lookup_hash("x", "a") == cipher.lookup_hash("x", "a")
    assert cipher.lookup_hash("x", "a") != cipher.lookup_hash("x", "b")
    assert FieldCipher(os.urandom(32), os.urandom(32)).lookup_hash("x", "a") != cipher.lookup_hash("x", "a")


def test_keys_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SC_TEST_KEY_B64", base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv("SC_TEST_KEY_SHORT", base64.b64encode(b"k" * 16).decode())
    assert key_from_env("SC_TEST_KEY_B64") == b"k" * 32
    with pytest.raises(KeyConfigError, match="SC_TEST_KEY_SHORT"):
        key_from_env("SC_TEST_KEY_SHORT")
    with pytest.raises(KeyConfigError, match="SC_TEST_KEY_UNSET"):
        key_from_env("SC_TEST_KEY_UNSET")
    with pytest.raises(KeyConfigError, match="differ"):
        FieldCipher(b"k" * 32, b"k" * 32)
