"""Password hashing with argon2id (argon2-cffi), with re-hashing when the parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_CHARS = 10
_hasher = PasswordHasher()
# A hash of a random password: verifying against it when the user does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-real-password-2f9c1e")


class WeakPasswordError(ValueError):
    """A password too short to accept."""


def hash_password(password: str) -> str:
    """The argon2id hash of a password (refuses short ones)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPasswordError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether the password matches; a missing user costs the same time as a wrong password."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with older parameters."""
    return _hasher.check_needs_rehash(stored_hash)
