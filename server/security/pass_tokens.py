"""The platform's pass signer: visitor-pass tokens in the format of protocol.passes, which the gates verify."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.passes import (
    PassClaims,
    PassTokenError,
    check_key_id,
    load_private_key,
    private_key_pem,
    public_key_text,
    sign_token,
    verify_token,
)

__all__ = ["PassClaims", "PassSigner", "PassTokenError", "load_private_key", "private_key_pem"]


class PassSigner:
    """Signs pass tokens with the platform's key; `public_key` is what edge configs carry."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        self._key = private_key
        self.key_id = check_key_id(key_id)

    @property
    def public_key(self) -> str:
        """Raw public key, base64url (the form protocol.passes.load_public_key reads)."""
        return public_key_text(self._key)

    def sign(self, claims: PassClaims) -> str:
        """The token for a pass."""
        return sign_token(self._key, self.key_id, claims)

    def verify(self, token: str) -> dict[str, Any]:
        """The payload of a token this signer issued (signature only; the gate checks time and gate)."""
        return verify_token(token, {self.key_id: self._key.public_key()}).payload()
