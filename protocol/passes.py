"""Visitor-pass tokens, the one format the platform signs and gates verify offline.

Token: ``SCP1.<payload>.<signature>``, both parts base64url without padding. The payload is compact,
key-sorted JSON ``{"id", "kid", "site", "gates", "nbf", "exp", "single"[, "host"]}`` (times in Unix seconds);
the Ed25519 signature covers the ASCII bytes ``SCP1.<payload>``. The payload holds no names, so a photographed
pass leaks nothing personal. Pure computation: no I/O, no clock (callers pass `now`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "SCP1"
MAX_TOKEN_CHARS = 1024
OPAQUE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_LEVEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class PassTokenError(ValueError):
    """A token, claim set or key that does not fit the format; `reason` is the stable code gates put in events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def b64url(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Inverse of `b64url`; ValueError on anything that is not base64url."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError(f"not base64url: {err}") from err


@dataclass(frozen=True)
class PassClaims:
    """What a pass grants: one visitor, some gates of one site (none = all), a time window, once or many times."""

    pass_id: str
    site: str
    gates: tuple[str, ...]
    not_before: datetime
    expires: datetime
    single_use: bool = True
    host_person_id: str | None = None
    key_id: str = ""

    def __post_init__(self) -> None:
        """Refuse claims a gate could never accept or an event could not carry."""
        if not OPAQUE_ID.match(self.pass_id) or (
            self.host_person_id is not None and not OPAQUE_ID.match(self.host_person_id)
        ):
            raise PassTokenError("pass-malformed", "pass_id and host_person_id must be opaque ids (A-Za-z0-9_.:-)")
        if not _LEVEL.match(self.site) or not all(_LEVEL.match(gate) for gate in self.gates):
            raise PassTokenError("pass-malformed", "site and gates must be topic levels (a-z, 0-9, '-')")
        if self.not_before.tzinfo is None or self.expires.tzinfo is None:
            raise PassTokenError("pass-malformed", "pass times must be timezone-aware")
        if self.expires <= self.not_before:
            raise PassTokenError("pass-malformed", "a pass must expire after it becomes valid")

    def payload(self, key_id: str | None = None) -> dict[str, Any]:
        """The JSON payload that is signed (with `key_id`, else the claims' own key id)."""
        body: dict[str, Any] = {
            "id": self.pass_id,
            "kid": self.key_id if key_id is None else key_id,
            "site": self.site,
            "gates": list(self.gates),
            "nbf": int(self.not_before.timestamp()),
            "exp": int(self.expires.timestamp()),
            "single": self.single_use,
        }
        if self.host_person_id is not None:
            body["host"] = self.host_person_id
        return body

    @classmethod
    def from_payload(cls, body: Mapping[str, Any]) -> PassClaims:
        """Rebuild claims from a payload; PassTokenError('pass-malformed') when it does not fit."""
        try:
            host = body.get("host")
            gates = body["gates"]
            if not isinstance(gates, list):
                raise TypeError("gates is not a list")
            return cls(
                pass_id=str(body["id"]),
                site=str(body["site"]),
                gates=tuple(str(gate) for gate in gates),
                not_before=datetime.fromtimestamp(int(body["nbf"]), UTC),
                expires=datetime.fromtimestamp(int(body["exp"]), UTC),
                single_use=bool(body["single"]),
                host_person_id=None if host is None else str(host),
                key_id=str(body["kid"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as err:
            if isinstance(err, PassTokenError):
                raise
            raise PassTokenError("pass-malformed", f"pass payload is malformed: {err!r}") from err


def check_key_id(key_id: str) -> str:
    """A key id as tokens carry it; PassTokenError('pass-bad-key') when it is not an opaque id."""
    if not OPAQUE_ID.match(key_id):
        raise PassTokenError("pass-bad-key", "key_id must be an opaque id (A-Z a-z 0-9 _ . : -, 1-64 chars)")
    return key_id


def sign_token(private_key: Ed25519PrivateKey, key_id: str, claims: PassClaims) -> str:
    """The token for `claims`, signed with `private_key` under `key_id` (written into the payload)."""
    check_key_id(key_id)
    body = json.dumps(claims.payload(key_id), separators=(",", ":"), sort_keys=True).encode()
    signed = f"{PREFIX}.{b64url(body)}"
    return f"{signed}.{b64url(private_key.sign(signed.encode('ascii')))}"


def verify_token(token: str, public_keys: Mapping[str, Ed25519PublicKey]) -> PassClaims:
    """The claims of a token whose signature checks out under the key it names (time and gate are not checked)."""
    parts = token.strip().split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or parts[0] != PREFIX:
        raise PassTokenError("pass-malformed", "not a visitor pass token")
    try:
        body = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PassTokenError("pass-malformed", f"pass token does not decode: {err}") from err
    if not isinstance(body, dict):
        raise PassTokenError("pass-malformed", "pass payload is not an object")
    key = public_keys.get(str(body.get("kid")))
    if key is None:
        raise PassTokenError("pass-unknown-key", "pass is signed with a key this verifier does not know")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature as err:
        raise PassTokenError("pass-bad-signature", "pass signature does not verify") from err
    return PassClaims.from_payload(body)


def check_claims(claims: PassClaims, site: str, gate: str, now: datetime, skew: timedelta = timedelta(0)) -> None:
    """Raise PassTokenError with a reason code unless the pass is valid at this site and gate at `now`."""
    if claims.site != site:
        raise PassTokenError("wrong-site", f"pass is for site {claims.site}")
    if claims.gates and gate not in claims.gates:
        raise PassTokenError("wrong-gate", f"pass is not valid at gate {gate}")
    if now + skew < claims.not_before:
        raise PassTokenError("not-yet-valid", "pass is not valid yet")
    if now - skew >= claims.expires:
        raise PassTokenError("expired", "pass has expired")


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key for the platform."""
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key as base64url (what edge configs carry)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from base64url raw bytes or a PEM block; PassTokenError('pass-bad-key') otherwise."""
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(unb64url(text.strip()))
    except (ValueError, TypeError) as err:
        raise PassTokenError("pass-bad-key", f"not an Ed25519 public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise PassTokenError("pass-bad-key", "the PEM key is not an Ed25519 public key")
    return key


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """The platform's signing key from PKCS#8 PEM; PassTokenError('pass-bad-key') otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as err:
        raise PassTokenError("pass-bad-key", f"cannot load the pass signing key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise PassTokenError("pass-bad-key", "the pass signing key is not an Ed25519 key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> str:
    """PKCS#8 PEM of a signing key (to put in the environment)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
