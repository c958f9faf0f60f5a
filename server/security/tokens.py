"""JWT access tokens (HS256, PyJWT) and opaque refresh tokens stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "sc-platform"


class TokenError(ValueError):
    """An access token that is missing, malformed, expired or not signed by us."""


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says: who (user id) and until when; roles are re-read from the database."""

    user_id: int
    username: str
    role: str
    expires: datetime


def issue_access_token(key: bytes, user_id: int, username: str, role: str, ttl_s: int) -> tuple[str, datetime]:
    """A signed access token and its expiry."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    claims = {
        "sub": str(user_id),
        "name": username,
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "iss": ISSUER,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires


def decode_access_token(key: bytes, token: str) -> AccessClaims:
    """Verify signature, expiry, issuer and type; TokenError otherwise."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "iss", "typ"]}
        )
    except jwt.PyJWTError as err:
        raise TokenError(f"invalid access token: {err}") from err
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    try:
        return AccessClaims(
            int(claims["sub"]), str(claims["name"]), str(claims["role"]), datetime.fromtimestamp(claims["exp"], UTC)
        )
    except (KeyError, TypeError, ValueError) as err:
        raise TokenError("access token claims are malformed") from err


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> str:
    """SHA-256 hex of a refresh token (random 256-bit tokens need no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()
