"""Users and logins: creation, password checks with lock-out, rotating refresh tokens, the caller's scope."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from server.security.passwords import hash_password, needs_rehash, verify_password
from server.security.policy import Principal, Role
from server.security.settings import SecuritySettings
from server.security.tokens import issue_access_token, new_refresh_token, refresh_token_hash
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.storage.accounts import RefreshToken, User, UserSite
from server.storage.audit import append_audit
from server.storage.people import Person
from server.storage.registry import Site

log = logging.getLogger(__name__)


class LoginRefused(Exception):
    """A login that failed; `reason` is one of bad_credentials, locked, disabled, rate_limited."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenPair:
    """What a successful login or refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    role: str


class LoginRateLimiter:
    """Sliding one-minute window of attempts per (user name, client address), in this process."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._attempts: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, username: str, client: str) -> bool:
        """Record an attempt; False when the window is already full."""
        now = time.monotonic()
        with self._lock:
            window = self._attempts.setdefault((username.lower(), client), deque())
            while window and now - window[0] > 60.0:
                window.popleft()
            if len(window) >= self.per_minute:
                return False
            window.append(now)
            if len(self._attempts) > 10000:
                self._attempts = {key: value for key, value in self._attempts.items() if value}
            return True


def create_user(
    connection: Connection,
    actor: str,
    *,
    username: str,
    password: str,
    role: Role,
    site_ids: list[str] | tuple[str, ...] = (),
    person_id: str | None = None,
) -> int:
    """Create a user (sites must exist; a resident needs a person); audited."""
    if not username or len(username) > 64:
        raise InvalidInput("username: 1-64 characters")
    if role is Role.RESIDENT and person_id is None:
        raise InvalidInput("person_id: a resident user must be linked to a person")
    if role is Role.MANAGER and not site_ids:
        raise InvalidInput("site_ids: a manager needs at least one site")
    known = set(connection.execute(select(Site.id).where(Site.id.in_(list(site_ids)))).scalars())
    if missing := set(site_ids) - known:
        raise InvalidInput(f"site_ids: unknown site(s) {sorted(missing)}")
    if person_id is not None and connection.execute(select(Person.id).where(Person.id == person_id)).first() is None:
        raise InvalidInput(f"person_id: unknown person {person_id}")
    try:
        password_hash = hash_password(password)
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    try:
        with connection.begin_nested():
            user_id = connection.execute(
                insert(User)
                .values(username=username, password_hash=password_hash, role=role.value, person_id=person_id)
                .returning(User.id)
            ).scalar_one()
    except IntegrityError as err:
        raise Conflict(f"username: {username!r} is taken") from err
    if site_ids:
        connection.execute(insert(UserSite), [{"user_id": user_id, "site_id": site} for site in site_ids])
    append_audit(connection, actor, "user.create", f"user:{username}", {"role": role.value, "sites": list(site_ids)})
    return user_id


def authenticate(connection: Connection, settings: SecuritySettings, username: str, password: str, client: str) -> int:
    """Check a password; count failures, lock after too many; every outcome is audited. Returns the user id."""
    now = datetime.now(UTC)
    user = connection.execute(select(User).where(User.username == username)).first()
    ok = verify_password(user.password_hash if user else None, password)
    subject = f"user:{username}"
    if user is None:
        append_audit(connection, subject, "login.failed", subject, {"client": client, "reason": "unknown_user"})
        raise LoginRefused("bad_credentials")
    if user.disabled:
        append_audit(connection, subject, "login.refused", subject, {"client": client, "reason": "disabled"})
        raise LoginRefused("disabled")
    if user.locked_until is not None and user.locked_until > now:
        append_audit(connection, subject, "login.refused", subject, {"client": client, "reason": "locked"})
        raise LoginRefused("locked")
    if not ok:
        failures = user.failed_logins + 1
        values: dict = {"failed_logins": failures}
        if failures >= settings.max_failed_logins:
            values = {"failed_logins": 0, "locked_until": now + timedelta(seconds=settings.lockout_s)}
        connection.execute(update(User).where(User.id == user.id).values(**values))
        detail = {"client": client, "reason": "bad_password", "failures": failures}
        append_audit(connection, subject, "login.failed", subject, detail)
        if "locked_until" in values:
            append_audit(connection, "system", "user.locked", subject, {"until": values["locked_until"].isoformat()})
        raise LoginRefused("bad_credentials")
    values = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if needs_rehash(user.password_hash):
        values["password_hash"] = hash_password(password)
    connection.execute(update(User).where(User.id == user.id).values(**values))
    append_audit(connection, subject, "login.ok", subject, {"client": client})
    return user.id


def issue_tokens(
    connection: Connection, settings: SecuritySettings, jwt_key: bytes, user_id: int, family: str | None = None
) -> TokenPair:
    """A new access token and a new refresh token (in the given family, or a new one)."""
    user = connection.execute(select(User.username, User.role).where(User.id == user_id)).one()
    access, _expires = issue_access_token(jwt_key, user_id, user.username, user.role, settings.access_ttl_s)
    refresh, digest = new_refresh_token()
    connection.execute(
        insert(RefreshToken).values(
            token_hash=digest,
            user_id=user_id,
            family=family or uuid.uuid4().hex,
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_ttl_s),
        )
    )
    return TokenPair(access, refresh, settings.access_ttl_s, user.role)


def rotate_refresh_token(connection: Connection, settings: SecuritySettings, jwt_key: bytes, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; re-use of a spent token revokes its whole family (theft)."""
    now = datetime.now(UTC)
    row = connection.execute(select(RefreshToken).where(RefreshToken.token_hash == refresh_token_hash(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise LoginRefused("bad_credentials")
    if row.used_at is not None:
        connection.execute(
            update(RefreshToken)
            .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        append_audit(connection, "system", "token.reuse", f"user-id:{row.user_id}", {"family": row.family})
        raise LoginRefused("bad_credentials")
    spent = connection.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if spent != 1:
        raise LoginRefused("bad_credentials")
    user = connection.execute(select(User.disabled).where(User.id == row.user_id)).one()
    if user.disabled:
        raise LoginRefused("disabled")
    return issue_tokens(connection, settings, jwt_key, row.user_id, row.family)


def revoke_refresh_family(connection: Connection, token: str, user_id: int) -> bool:
    """Log out: revoke the refresh token's family (only the caller's own)."""
    row = connection.execute(select(RefreshToken).where(RefreshToken.token_hash == refresh_token_hash(token))).first()
    if row is None or row.user_id != user_id:
        return False
    connection.execute(
        update(RefreshToken)
        .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return True


def load_principal(connection: Connection, user_id: int, include_disabled: bool = False) -> Principal | None:
    """The caller as the database knows them now (a deleted user, or unless asked a disabled one, is None)."""
    user = connection.execute(select(User).where(User.id == user_id)).first()
    if user is None or (user.disabled and not include_disabled):
        return None
    sites = set(connection.execute(select(UserSite.site_id).where(UserSite.user_id == user_id)).scalars())
    if user.person_id is not None:
        person_site = connection.execute(select(Person.site_id).where(Person.id == user.person_id)).scalar()
        if person_site:
            sites.add(person_site)
    return Principal(user.id, user.username, Role(user.role), frozenset(sites), user.person_id)


def change_password(connection: Connection, user_id: int, old: str, new: str) -> None:
    """Change one's own password (the old one must match); all refresh tokens are revoked."""
    user = connection.execute(select(User).where(User.id == user_id)).one()
    if not verify_password(user.password_hash, old):
        raise InvalidInput("old_password: does not match")
    try:
        digest = hash_password(new)
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    connection.execute(update(User).where(User.id == user_id).values(password_hash=digest))
    connection.execute(delete(RefreshToken).where(RefreshToken.user_id == user_id))
    append_audit(connection, f"user:{user.username}", "user.password", f"user:{user.username}")


def set_user_state(
    connection: Connection, actor: Principal, user_id: int, *, disabled: bool | None = None, unlock: bool = False
) -> None:
    """Disable or unlock a user; a manager only users of their sites (never admins); audited."""
    user = connection.execute(select(User).where(User.id == user_id)).first()
    if user is None:
        raise NotFound(f"user {user_id}")
    target = load_principal(connection, user_id, include_disabled=True)
    assert target is not None
    check_user_in_scope(actor, target)
    values: dict = {}
    if disabled is not None:
        values["disabled"] = disabled
        connection.execute(
            update(RefreshToken).where(RefreshToken.user_id == user_id).values(revoked_at=datetime.now(UTC))
        )
    if unlock:
        values.update(failed_logins=0, locked_until=None)
    connection.execute(update(User).where(User.id == user_id).values(**values))
    action = "user.unlock" if unlock else "user.disable"
    append_audit(connection, actor.actor, action, f"user:{user.username}", {"disabled": disabled})


def check_user_in_scope(actor: Principal, target: Principal) -> None:
    """Managers manage residents and managers of their own sites only."""
    if actor.is_admin:
        return
    if target.role not in (Role.RESIDENT, Role.MANAGER) or not target.site_ids or not target.site_ids <= actor.site_ids:
        raise Forbidden("managers may only manage resident and manager users of their own sites")


def ensure_user(
    connection: Connection, actor: str, username: str, password: str, role: Role, site_ids: tuple[str, ...] = ()
) -> int:
    """Create the user, or reset its password, role and lock-out (bootstrap of the first admin, demo)."""
    existing = connection.execute(select(User.id).where(User.username == username)).scalar()
    if existing is None:
        return create_user(connection, actor, username=username, password=password, role=role, site_ids=site_ids)
    try:
        digest = hash_password(password)
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    connection.execute(
        update(User)
        .where(User.id == existing)
        .values(password_hash=digest, role=role.value, disabled=False, failed_logins=0, locked_until=None)
    )
    append_audit(connection, actor, "user.reset", f"user:{username}", {"role": role.value})
    return existing
