"""Visitor-pass tokens the gates verify offline: ``SCP1.<payload>.<signature>``, Ed25519 over ``SCP1.<payload>``.

The format is the one edge/access/qr_pass.py verifies (payload: compact, key-sorted JSON with id, kid, site,
gates, nbf, exp, single and optional host; base64url without padding). The server may not import edge.access,
so signing lives here and tests check every token with the edge's own verifier.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PREFIX = "SCP1"
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_LEVEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class PassTokenError(ValueError):
    """A pass that cannot be signed (bad ids, window or key)."""


def _b64(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PassClaims:
    """What a pass grants: one visitor, some gates of one site (none = all), a window, once or many times."""

    pass_id: str
    site: str
    gates: tuple[str, ...]
    not_before: datetime
    expires: datetime
    single_use: bool
    host_person_id: str | None = None

    def __post_init__(self) -> None:
        """Refuse claims the gate could never accept."""
        if not _ID.match(self.pass_id) or (self.host_person_id is not None and not _ID.match(self.host_person_id)):
            raise PassTokenError("pass_id and host_person_id must be opaque ids (A-Z a-z 0-9 _ . : -)")
        if not _LEVEL.match(self.site) or not all(_LEVEL.match(gate) for gate in self.gates):
            raise PassTokenError("site and gates must be topic levels (a-z, 0-9, '-')")
        if self.not_before.tzinfo is None or self.expires.tzinfo is None:
            raise PassTokenError("pass times must be timezone-aware")
        if self.expires <= self.not_before:
            raise PassTokenError("a pass must expire after it becomes valid")


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 signing key from PKCS#8 PEM."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise PassTokenError(f"cannot load the pass signing key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise PassTokenError("the pass signing key is not an Ed25519 key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> str:
    """PKCS#8 PEM of a signing key (to put in the environment)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


class PassSigner:
    """Signs pass tokens with the platform's key; `public_key` is what edge configs carry."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        if not _ID.match(key_id):
            raise PassTokenError("key_id must be an opaque id (A-Z a-z 0-9 _ . : -, 1-64 chars)")
        self._key = private_key
        self.key_id = key_id

    @property
    def public_key(self) -> str:
        """Raw public key, base64url (the form edge/access/qr_pass.load_public_key reads)."""
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _b64(raw)

    def sign(self, claims: PassClaims) -> str:
        """The token for a pass."""
        body = {
            "id": claims.pass_id,
            "kid": self.key_id,
            "site": claims.site,
            "gates": list(claims.gates),
            "nbf": int(claims.not_before.timestamp()),
            "exp": int(claims.expires.timestamp()),
            "single": claims.single_use,
        }
        if claims.host_person_id is not None:
            body["host"] = claims.host_person_id
        signed = f"{PREFIX}.{_b64(json.dumps(body, separators=(',', ':'), sort_keys=True).encode())}"
        return f"{signed}.{_b64(self._key.sign(signed.encode('ascii')))}"

    def verify(self, token: str) -> dict:
        """The payload of a token this signer issued (signature only; the gate checks time and gate)."""
        parts = token.strip().split(".") if len(token) <= 1024 else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise PassTokenError("not a visitor pass token")
        try:
            body = json.loads(_unb64(parts[1]))
            self._key.public_key().verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
        except (ValueError, InvalidSignature) as err:
            raise PassTokenError("pass token does not verify") from err
        if not isinstance(body, dict) or body.get("kid") != self.key_id:
            raise PassTokenError("pass token is not signed with this key")
        return body


def _unb64(text: str) -> bytes:
    """Inverse of _b64; ValueError on bad input."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
