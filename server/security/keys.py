"""The platform's secrets from the environment: JWT key, field cipher, visitor-pass signing key."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.security.pass_tokens import PassSigner, load_private_key
from server.security.settings import SecuritySettings
from server.storage.crypto import FieldCipher, KeyConfigError, key_from_env, previous_keys_from_env

log = logging.getLogger(__name__)
MIN_JWT_KEY_BYTES = 32


class MissingKeyError(RuntimeError):
    """A required key is not in the environment; the message names the variable and the config field."""


@dataclass(frozen=True)
class PlatformKeys:
    """Every key the API needs, loaded once at start."""

    jwt_key: bytes
    cipher: FieldCipher
    pass_signer: PassSigner


def _missing(settings: SecuritySettings, variable: str, field: str) -> None:
    """Raise in production; warn (and let the caller use a random key) otherwise."""
    if settings.keys_required:
        raise MissingKeyError(f"environment variable {variable} (security.{field}) is not set; it is required")
    log.warning("%s is not set: using a random key for this run only (security.%s)", variable, field)


def load_keys(settings: SecuritySettings) -> PlatformKeys:
    """Load the keys named by the settings; missing ones are an error when keys_required, else random."""
    raw_jwt = os.environ.get(settings.jwt_key_env, "")
    if raw_jwt and len(raw_jwt.encode()) < MIN_JWT_KEY_BYTES:
        raise MissingKeyError(f"environment variable {settings.jwt_key_env} must hold at least 32 bytes")
    if not raw_jwt:
        _missing(settings, settings.jwt_key_env, "jwt_key_env")
    jwt_key = raw_jwt.encode() if raw_jwt else secrets.token_bytes(32)

    field_keys = []
    for variable, field in ((settings.field_key_env, "field_key_env"), (settings.lookup_key_env, "lookup_key_env")):
        if os.environ.get(variable):
            try:
                field_keys.append(key_from_env(variable))
            except KeyConfigError as err:
                raise MissingKeyError(f"security.{field}: {err}") from err
        else:
            _missing(settings, variable, field)
            field_keys.append(secrets.token_bytes(32))
    try:
        # Retired keys stay readable, so data sealed before a rotation can be read while it is re-encrypted.
        cipher = FieldCipher(*field_keys, previous_keys=previous_keys_from_env(settings.field_key_env))
    except KeyConfigError as err:
        raise MissingKeyError(f"security.field_key_env / lookup_key_env: {err}") from err

    pem = os.environ.get(settings.pass_key_env, "").replace("\\n", "\n")  # one-line .env files carry "\n"
    if pem:
        private_key = load_private_key(pem.encode())
    else:
        _missing(settings, settings.pass_key_env, "pass_key_env")
        private_key = Ed25519PrivateKey.generate()
    return PlatformKeys(jwt_key, cipher, PassSigner(private_key, settings.pass_key_id))
