"""Detached Ed25519 signatures over export documents, and the verification a receiver runs."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.police.settings import ExportSettings

log = logging.getLogger(__name__)
ALGORITHM = "Ed25519"


class SigningKeyError(RuntimeError):
    """The export signing key is missing or unusable; the message names the variable."""


class SignatureError(ValueError):
    """A signature that does not verify (tampered document, wrong key, malformed signature)."""


def canonical_json(document: Any) -> bytes:
    """The exact bytes that are signed: UTF-8 JSON, keys sorted, no insignificant whitespace."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Signature:
    """A detached signature: algorithm, key id and the base64 signature value."""

    algorithm: str
    key_id: str
    value: str

    def as_dict(self) -> dict[str, str]:
        """JSON form (what the .sig file holds)."""
        return {"algorithm": self.algorithm, "key_id": self.key_id, "value": self.value}


class ExportSigner:
    """Signs export documents with the platform's police export key."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        self._key, self.key_id = private_key, key_id

    def sign(self, document: bytes) -> Signature:
        """The detached signature of the document bytes."""
        value = base64.b64encode(self._key.sign(document)).decode("ascii")
        return Signature(ALGORITHM, self.key_id, value)

    def public_key_pem(self) -> str:
        """The public key receivers verify with (SubjectPublicKeyInfo PEM)."""
        public = self._key.public_key()
        return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
            "ascii"
        )


def load_signer(settings: ExportSettings) -> ExportSigner:
    """The signer from the environment variable the settings name; a random key per run unless required."""
    pem = os.environ.get(settings.signing_key_env, "")
    if not pem:
        if settings.key_required:
            raise SigningKeyError(f"{settings.signing_key_env} (police.export.signing_key_env) is not set")
        log.warning("%s is not set: exports are signed with a random key for this run only", settings.signing_key_env)
        return ExportSigner(Ed25519PrivateKey.generate(), settings.key_id)
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise SigningKeyError(f"{settings.signing_key_env}: cannot load the export key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{settings.signing_key_env}: not an Ed25519 key")
    return ExportSigner(key, settings.key_id)


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; SignatureError when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as err:
        raise SignatureError(f"cannot load the public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("the public key is not an Ed25519 key")
    return key


def verify_export(document: bytes, signature: str, public_key_pem: bytes | str) -> None:
    """Check a detached signature (base64) over the exact document bytes; SignatureError when it fails."""
    key = load_public_key(public_key_pem)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as err:
        raise SignatureError("the signature is not base64") from err
    try:
        key.verify(raw, document)
    except InvalidSignature as err:
        raise SignatureError("the signature does not match the document") from err
