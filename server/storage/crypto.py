"""Field encryption (AES-GCM) and keyed look-up hashes (HMAC-SHA256) for personal data at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
FORMAT_KEYED = 2
NONCE_BYTES = 12
KEY_BYTES = 32
PREVIOUS_SUFFIX = "_PREVIOUS"


class KeyConfigError(RuntimeError):
    """A key is missing or malformed; the message names the environment variable."""


class DecryptionError(RuntimeError):
    """A ciphertext could not be decrypted (wrong key, wrong context or tampered data)."""


def key_from_env(variable: str) -> bytes:
    """A 32-byte key from an environment variable holding base64 (or 64 hex characters)."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        raise KeyConfigError(f"environment variable {variable} is not set (32 random bytes, base64)")
    try:
        key = bytes.fromhex(raw) if len(raw) == 2 * KEY_BYTES else base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error) as err:
        raise KeyConfigError(f"environment variable {variable} is not base64 or hex") from err
    if len(key) != KEY_BYTES:
        raise KeyConfigError(f"environment variable {variable} holds {len(key)} bytes, expected {KEY_BYTES}")
    return key


def previous_keys_from_env(encryption_key_env: str) -> list[bytes]:
    """Retired keys still readable during a rotation: `<VAR>_PREVIOUS`, comma-separated base64 or hex."""
    variable = encryption_key_env + PREVIOUS_SUFFIX
    keys = []
    items = [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]
    for index, raw in enumerate(items):
        try:
            key = bytes.fromhex(raw) if len(raw) == 2 * KEY_BYTES else base64.b64decode(raw, validate=True)
        except (ValueError, binascii.Error) as err:
            raise KeyConfigError(f"environment variable {variable} item {index} is not base64 or hex") from err
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"environment variable {variable} item {index} is not {KEY_BYTES} bytes")
        keys.append(key)
    return keys


def key_id_of(key: bytes) -> str:
    """A short public id of a key (a hash of it), written beside every ciphertext it sealed."""
    return "k" + hashlib.sha256(b"sc-field-key-id\x00" + key).hexdigest()[:12]


class FieldCipher:
    """Encrypts single fields with AES-256-GCM (context bound as associated data) and derives look-up hashes.

    Ciphertexts carry the id of the key that sealed them, so retired keys (`previous_keys`) stay readable
    while a rotation re-encrypts the stored fields with the current key.
    """

    def __init__(self, encryption_key: bytes, lookup_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        if any(len(key) != KEY_BYTES for key in (encryption_key, lookup_key, *previous_keys)):
            raise KeyConfigError(f"keys must be {KEY_BYTES} bytes")
        if hmac.compare_digest(encryption_key, lookup_key):
            raise KeyConfigError("the encryption key and the look-up key must differ")
        self.key_id = key_id_of(encryption_key)
        self._aead = AESGCM(encryption_key)
        self._by_id = {key_id_of(key): AESGCM(key) for key in previous_keys} | {self.key_id: self._aead}
        self._lookup_key = lookup_key

    @classmethod
    def from_env(cls, encryption_key_env: str, lookup_key_env: str) -> FieldCipher:
        """Build from two environment variables (and `<encryption var>_PREVIOUS` during a rotation)."""
        previous = previous_keys_from_env(encryption_key_env)
        return cls(key_from_env(encryption_key_env), key_from_env(lookup_key_env), previous)

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """Format byte, key id, random nonce, sealed text; `context` (e.g. 'persons.id_number') is authenticated."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        key_id = self.key_id.encode("ascii")
        return bytes([FORMAT_KEYED, len(key_id)]) + key_id + nonce + sealed

    def blob_key_id(self, blob: bytes) -> str | None:
        """The id of the key that sealed a ciphertext (None for the first format, which names no key)."""
        if len(blob) > 2 and blob[0] == FORMAT_KEYED:
            return blob[2 : 2 + blob[1]].decode("ascii", "replace")
        return None

    def decrypt(self, blob: bytes, context: str) -> str:
        """Reverse encrypt(); raises DecryptionError on any mismatch."""
        if len(blob) > 2 and blob[0] == FORMAT_KEYED:
            start = 2 + blob[1]
            aead = self._by_id.get(blob[2:start].decode("ascii", "replace"))
            if aead is None:
                raise DecryptionError(f"cannot decrypt {context}: key {blob[2:start]!r} is not loaded")
            candidates = [aead]
        elif len(blob) >= 1 + NONCE_BYTES + 16 and blob[0] == FORMAT_VERSION:
            start, candidates = 1, list(self._by_id.values())
        else:
            raise DecryptionError("unknown ciphertext format")
        nonce, sealed = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
        for aead in candidates:
            try:
                return aead.decrypt(nonce, sealed, context.encode("utf-8")).decode("utf-8")
            except InvalidTag:
                continue
        raise DecryptionError(f"cannot decrypt {context}: wrong key or tampered data")

    def lookup_hash(self, value: str, context: str) -> str:
        """Hex HMAC-SHA256 of a normalised value, separated by context, for equality look-ups."""
        message = context.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()
