"""Field encryption (AES-GCM) and keyed look-up hashes (HMAC-SHA256) for personal data at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32


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


class FieldCipher:
    """Encrypts single fields with AES-256-GCM (context bound as associated data) and derives look-up hashes."""

    def __init__(self, encryption_key: bytes, lookup_key: bytes) -> None:
        if len(encryption_key) != KEY_BYTES or len(lookup_key) != KEY_BYTES:
            raise KeyConfigError(f"keys must be {KEY_BYTES} bytes")
        if hmac.compare_digest(encryption_key, lookup_key):
            raise KeyConfigError("the encryption key and the look-up key must differ")
        self._aead = AESGCM(encryption_key)
        self._lookup_key = lookup_key

    @classmethod
    def from_env(cls, encryption_key_env: str, lookup_key_env: str) -> FieldCipher:
        """Build from two environment variables."""
        return cls(key_from_env(encryption_key_env), key_from_env(lookup_key_env))

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """Version byte, random nonce, ciphertext with tag; `context` (e.g. 'persons.id_number') is authenticated."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return bytes([FORMAT_VERSION]) + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> str:
        """Reverse encrypt(); raises DecryptionError on any mismatch."""
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
            raise DecryptionError("unknown ciphertext format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, context.encode("utf-8")).decode("utf-8")
        except InvalidTag as err:
            raise DecryptionError(f"cannot decrypt {context}: wrong key or tampered data") from err

    def lookup_hash(self, value: str, context: str) -> str:
        """Hex HMAC-SHA256 of a normalised value, separated by context, for equality look-ups."""
        message = context.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()
