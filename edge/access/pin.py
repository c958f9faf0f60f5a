"""PIN credentials at the gate: the hash format lives in protocol.pins (shared with the platform); this module
turns its errors into the access layer's and keeps the lock-out after repeated failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.access.errors import CredentialFormatError
from protocol import pins
from protocol.pins import ACCOUNT_PATTERN, DEFAULT_LOG2_N, PIN_PATTERN

__all__ = ["ACCOUNT_PATTERN", "DEFAULT_LOG2_N", "PIN_PATTERN", "PinHash", "PinLockout", "hash_pin", "pin_account"]


def hash_pin(account: str, pin: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = 8, p: int = 1) -> str:
    """The allowlist value for an account's PIN, with a fresh random salt (simulators and tests)."""
    try:
        return pins.hash_pin(account, pin, log2_n=log2_n, r=r, p=p)
    except pins.PinFormatError as err:
        raise CredentialFormatError(str(err)) from err


class PinHash(pins.PinHash):
    """A parsed PIN allowlist value whose parse errors are the access layer's."""

    @classmethod
    def parse(cls, value: str) -> PinHash:
        """Parse an allowlist value; raise CredentialFormatError when it is not a PIN hash."""
        try:
            parsed = pins.PinHash.parse(value)
        except pins.PinFormatError as err:
            raise CredentialFormatError(str(err)) from err
        return cls(parsed.account, parsed.log2_n, parsed.r, parsed.p, parsed.salt, parsed.digest)


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
