"""QR visitor passes at the gate: the token format lives in protocol.passes (shared with the platform); this
module turns its errors into the access layer's and verifies passes against a gate's site, gate and clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.access.errors import PassError, PassKeyError
from protocol import passes
from protocol.passes import MAX_TOKEN_CHARS, PREFIX, PassClaims, generate_private_key, public_key_text
from protocol.passes import b64url as _b64
from protocol.passes import unb64url as _unb64

VisitorPass = PassClaims

__all__ = [
    "MAX_TOKEN_CHARS",
    "PREFIX",
    "PassSigner",
    "PassVerifier",
    "VisitorPass",
    "_b64",
    "_unb64",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "public_key_text",
]


def load_public_key(text: str) -> Ed25519PublicKey:
    """Load a public key from base64url raw bytes or a PEM block."""
    try:
        return passes.load_public_key(text)
    except passes.PassTokenError as err:
        raise PassKeyError(str(err)) from err


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load the platform's signing key from PEM (PKCS#8)."""
    try:
        return passes.load_private_key(pem, password)
    except passes.PassTokenError as err:
        raise PassKeyError(str(err)) from err


class PassSigner:
    """Issues signed pass tokens (the platform holds this; gates never do): simulators and tests."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        try:
            self.key_id = passes.check_key_id(key_id)
        except passes.PassTokenError as err:
            raise PassKeyError(str(err)) from err
        self.private_key = private_key

    def issue(self, visitor_pass: VisitorPass) -> str:
        """The token for a pass, signed with this signer's key (its key id is written into the payload)."""
        return passes.sign_token(self.private_key, self.key_id, visitor_pass)


class PassVerifier:
    """Verifies tokens offline with the platform's public keys (several, to rotate keys)."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey], site: str, clock_skew_s: float = 60.0) -> None:
        self.public_keys = dict(public_keys)
        self.site = site
        self.skew = timedelta(seconds=clock_skew_s)

    def verify(self, token: str, gate: str, now: datetime) -> VisitorPass:
        """The pass if the token is authentic and valid at this gate now; PassError with a reason code if not."""
        try:
            claims = passes.verify_token(token, self.public_keys)
            passes.check_claims(claims, self.site, gate, now, self.skew)
        except passes.PassTokenError as err:
            raise PassError(err.reason, str(err)) from err
        return claims
