"""QR visitor passes: Ed25519-signed, time- and gate-limited tokens the platform issues and gates verify offline.

Token: ``SCP1.<payload>.<signature>``, both parts base64url without padding; the payload is compact JSON
``{"id", "kid", "site", "gates", "nbf", "exp", "single"[, "host"]}`` (times in Unix seconds) and the signature
covers the ASCII bytes ``SCP1.<payload>``. The payload holds no names: a photographed pass leaks nothing personal.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.access.errors import PassError, PassKeyError

PREFIX = "SCP1"
MAX_TOKEN_CHARS = 1024
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_LEVEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _b64(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Inverse of `_b64`; raises ValueError on bad input."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VisitorPass:
    """What a pass grants: one visitor, some gates of one site, a time window, once or many times."""

    pass_id: str
    site: str
    gates: tuple[str, ...]
    not_before: datetime
    expires: datetime
    single_use: bool = True
    host_person_id: str | None = None
    key_id: str = ""

    def __post_init__(self) -> None:
        """Refuse passes that could never be valid or could not be carried in events."""
        if not _ID.match(self.pass_id) or (self.host_person_id is not None and not _ID.match(self.host_person_id)):
            raise ValueError("pass_id and host_person_id must be opaque ids (A-Z a-z 0-9 _ . : -, 1-64 chars)")
        if not _LEVEL.match(self.site) or not all(_LEVEL.match(gate) for gate in self.gates):
            raise ValueError("site and gates must be topic levels (a-z, 0-9, '-')")
        if self.not_before.tzinfo is None or self.expires.tzinfo is None:
            raise ValueError("pass times must be timezone-aware")
        if self.expires <= self.not_before:
            raise ValueError("a pass must expire after it becomes valid")

    def payload(self) -> dict:
        """The signed JSON payload."""
        body = {
            "id": self.pass_id,
            "kid": self.key_id,
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
    def from_payload(cls, body: dict) -> VisitorPass:
        """Rebuild a pass from a verified payload; ValueError/KeyError/TypeError on a malformed one."""
        host = body.get("host")
        return cls(
            pass_id=str(body["id"]),
            site=str(body["site"]),
            gates=tuple(str(gate) for gate in body["gates"]),
            not_before=datetime.fromtimestamp(int(body["nbf"]), UTC),
            expires=datetime.fromtimestamp(int(body["exp"]), UTC),
            single_use=bool(body["single"]),
            host_person_id=None if host is None else str(host),
            key_id=str(body["kid"]),
        )


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key for the platform."""
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key as base64url (what edge configs carry)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_public_key(text: str) -> Ed25519PublicKey:
    """Load a public key from base64url raw bytes or a PEM block."""
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(_unb64(text.strip()))
    except (ValueError, TypeError, binascii.Error) as err:
        raise PassKeyError(f"not an Ed25519 public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise PassKeyError("the PEM key is not an Ed25519 public key")
    return key


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load the platform's signing key from PEM (PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as err:
        raise PassKeyError(f"cannot load the pass signing key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise PassKeyError("the pass signing key is not an Ed25519 key")
    return key


class PassSigner:
    """Issues signed pass tokens (the platform holds this; gates never do)."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        if not _ID.match(key_id):
            raise PassKeyError("key_id must be an opaque id (A-Z a-z 0-9 _ . : -, 1-64 chars)")
        self.private_key = private_key
        self.key_id = key_id

    def issue(self, visitor_pass: VisitorPass) -> str:
        """The token for a pass, signed with this signer's key (its key id is written into the payload)."""
        body = {**visitor_pass.payload(), "kid": self.key_id}
        signed = f"{PREFIX}.{_b64(json.dumps(body, separators=(',', ':'), sort_keys=True).encode())}"
        return f"{signed}.{_b64(self.private_key.sign(signed.encode('ascii')))}"


class PassVerifier:
    """Verifies tokens offline with the platform's public keys (several, to rotate keys)."""

    def __init__(self, public_keys: dict[str, Ed25519PublicKey], site: str, clock_skew_s: float = 60.0) -> None:
        self.public_keys = dict(public_keys)
        self.site = site
        self.skew = timedelta(seconds=clock_skew_s)

    def verify(self, token: str, gate: str, now: datetime) -> VisitorPass:
        """The pass if the token is authentic and valid at this gate now; PassError with a reason code if not."""
        body = self._authentic_payload(token)
        try:
            visitor_pass = VisitorPass.from_payload(body)
        except (KeyError, TypeError, ValueError) as err:
            raise PassError("pass-malformed", f"pass payload is malformed: {err}") from err
        if visitor_pass.site != self.site:
            raise PassError("wrong-site", f"pass is for site {visitor_pass.site}")
        if visitor_pass.gates and gate not in visitor_pass.gates:
            raise PassError("wrong-gate", f"pass is not valid at gate {gate}")
        if now + self.skew < visitor_pass.not_before:
            raise PassError("not-yet-valid", "pass is not valid yet")
        if now - self.skew >= visitor_pass.expires:
            raise PassError("expired", "pass has expired")
        return visitor_pass

    def _authentic_payload(self, token: str) -> dict:
        """The payload of a token whose signature checks out under the key it names."""
        parts = token.strip().split(".") if len(token) <= MAX_TOKEN_CHARS else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise PassError("pass-malformed", "not a visitor pass token")
        try:
            body = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise PassError("pass-malformed", f"pass token does not decode: {err}") from err
        if not isinstance(body, dict):
            raise PassError("pass-malformed", "pass payload is not an object")
        key = self.public_keys.get(str(body.get("kid")))
        if key is None:
            raise PassError("pass-unknown-key", "pass is signed with a key this gate does not know")
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
        except InvalidSignature as err:
            raise PassError("pass-bad-signature", "pass signature does not verify") from err
        return body
