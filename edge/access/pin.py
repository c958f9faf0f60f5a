"""PIN credentials: salted scrypt hashes bound to an account code, and lock-out after repeated failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.access.errors import CredentialFormatError

# Allowlist value of a PIN: "<account>$scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>" (about 90 characters).
# The account (room or user code typed before the PIN) lets the gate check one hash instead of all of them.
ACCOUNT_PATTERN = re.compile(r"^[0-9A-Za-z-]{1,16}$")
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
DEFAULT_LOG2_N = 14
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Inverse of `_b64`."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    """The scrypt digest of a PIN."""
    return hashlib.scrypt(pin.encode(), salt=salt, n=1 << log2_n, r=r, p=p, dklen=32, maxmem=_SCRYPT_MAXMEM)


def hash_pin(account: str, pin: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = 8, p: int = 1) -> str:
    """The allowlist value for an account's PIN, with a fresh random salt (the platform calls this)."""
    if not ACCOUNT_PATTERN.match(account):
        raise CredentialFormatError("PIN account must be 1-16 letters, digits or '-'")
    if not PIN_PATTERN.match(pin):
        raise CredentialFormatError("PIN must be 4-12 digits")
    if not 10 <= log2_n <= 20:
        raise CredentialFormatError("scrypt log2 n must lie in 10..20")
    salt = os.urandom(16)
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
        """Parse an allowlist value; raise CredentialFormatError when it is not a PIN hash."""
        parts = value.split("$")
        if len(parts) != 7 or parts[1] != "scrypt" or not ACCOUNT_PATTERN.match(parts[0]):
            raise CredentialFormatError("PIN value is not '<account>$scrypt$<n>$<r>$<p>$<salt>$<hash>'")
        try:
            log2_n, r, p = int(parts[2]), int(parts[3]), int(parts[4])
            salt, digest = _unb64(parts[5]), _unb64(parts[6])
        except ValueError as err:
            raise CredentialFormatError(f"PIN value has a malformed field: {err}") from err
        if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4 and len(salt) >= 8 and len(digest) == 32):
            raise CredentialFormatError("PIN value has scrypt parameters out of range")
        return cls(parts[0], log2_n, r, p, salt, digest)

    def matches(self, pin: str) -> bool:
        """Whether `pin` is this hash's PIN (constant-time comparison)."""
        if not PIN_PATTERN.match(pin):
            return False
        return hmac.compare_digest(_scrypt(pin, self.salt, self.log2_n, self.r, self.p), self.digest)


def pin_account(value: str) -> str:
    """The account part of a PIN allowlist value (for indexing)."""
    return PinHash.parse(value).account


@dataclass
class _Failures:
    """Failure times of one key and the end of its lock-out."""

    times: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None


class PinLockout:
    """Counts wrong PINs per key (account, keypad) and locks a key out after too many in a window."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, lockout_s: float = 900.0) -> None:
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self.lockout = timedelta(seconds=lockout_s)
        self._keys: dict[str, _Failures] = {}

    def locked(self, key: str, now: datetime) -> bool:
        """Whether `key` is locked out at `now`."""
        state = self._keys.get(key)
        return bool(state and state.locked_until and now < state.locked_until)

    def fail(self, key: str, now: datetime) -> bool:
        """Record a failure; True exactly when this failure starts a lock-out."""
        state = self._keys.setdefault(key, _Failures())
        state.times = [t for t in state.times if now - t < self.window] + [now]
        if len(state.times) >= self.max_failures and not self.locked(key, now):
            state.locked_until = now + self.lockout
            state.times = []
            return True
        return False

    def succeed(self, key: str) -> None:
        """Forget the failures of a key after a correct PIN."""
        self._keys.pop(key, None)
