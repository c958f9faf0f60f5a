"""PIN credentials, the one format the platform writes and gates check: a salted scrypt hash bound to an account.

Allowlist value: ``<account>$scrypt$<log2 n>$<r>$<p>$<salt b64url>$<hash b64url>`` (about 90 characters). The
account (room or user code typed before the PIN) lets a gate check one hash instead of all of them. Pure
computation with hashlib: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

ACCOUNT_PATTERN = re.compile(r"^[0-9A-Za-z-]{1,16}$")
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
DEFAULT_LOG2_N = 14
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class PinFormatError(ValueError):
    """An account, PIN or stored PIN value that does not fit the format."""


def _b64(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Inverse of `_b64`; ValueError on bad input."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError(str(err)) from err


def _scrypt(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    """The scrypt digest of a PIN."""
    return hashlib.scrypt(pin.encode(), salt=salt, n=1 << log2_n, r=r, p=p, dklen=32, maxmem=_SCRYPT_MAXMEM)


def hash_pin(
    account: str, pin: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = 8, p: int = 1, salt: bytes | None = None
) -> str:
    """The allowlist value for an account's PIN (a fresh random salt unless one is given)."""
    if not ACCOUNT_PATTERN.match(account):
        raise PinFormatError("PIN account must be 1-16 letters, digits or '-'")
    if not PIN_PATTERN.match(pin):
        raise PinFormatError("PIN must be 4-12 digits")
    if not 10 <= log2_n <= 20:
        raise PinFormatError("scrypt log2 n must lie in 10..20")
    salt = os.urandom(16) if salt is None else salt
    if len(salt) < 8:
        raise PinFormatError("a PIN salt has at least 8 bytes")
    return f"{account}$scrypt${log2_n}${r}${p}${_b64(salt)}${_b64(_scrypt(pin, salt, log2_n, r, p))}"


@dataclass(frozen=True)
class PinHash:
    """A parsed PIN allowlist value."""

    account: str
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, value: str) -> PinHash:
        """Parse an allowlist value; PinFormatError when it is not a PIN hash."""
        parts = value.split("$")
        if len(parts) != 7 or parts[1] != "scrypt" or not ACCOUNT_PATTERN.match(parts[0]):
            raise PinFormatError("PIN value is not '<account>$scrypt$<n>$<r>$<p>$<salt>$<hash>'")
        try:
            log2_n, r, p = int(parts[2]), int(parts[3]), int(parts[4])
            salt, digest = _unb64(parts[5]), _unb64(parts[6])
        except ValueError as err:
            raise PinFormatError(f"PIN value has a malformed field: {err}") from err
        if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4 and len(salt) >= 8 and len(digest) == 32):
            raise PinFormatError("PIN value has scrypt parameters out of range")
        return cls(parts[0], log2_n, r, p, salt, digest)

    def matches(self, pin: str) -> bool:
        """Whether `pin` is this hash's PIN (constant-time comparison)."""
        if not PIN_PATTERN.match(pin):
            return False
        return hmac.compare_digest(_scrypt(pin, self.salt, self.log2_n, self.r, self.p), self.digest)


def check_pin(value: str, account: str, pin: str) -> bool:
    """Whether `account` and `pin` are the ones a stored PIN value was made from (False for a malformed value)."""
    try:
        parsed = PinHash.parse(value)
    except PinFormatError:
        return False
    return hmac.compare_digest(parsed.account.encode(), account.encode()) and parsed.matches(pin)


def pin_account(value: str) -> str:
    """The account part of a PIN allowlist value (for indexing)."""
    return PinHash.parse(value).account
