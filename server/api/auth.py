"""Logins (OAuth2 password flow), refresh-token rotation, log-out, the caller, and user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api.deps import UNAUTHORISED, Caller, ServicesDep, Tx, authorize
from server.security.policy import Principal, Role, site_scope
from server.services.accounts import (
    LoginRefused,
    TokenPair,
    authenticate,
    change_password,
    check_user_in_scope,
    create_user,
    issue_tokens,
    revoke_refresh_family,
    rotate_refresh_token,
    set_user_state,
)
from server.storage.accounts import User, UserSite

public = APIRouter(prefix="/api/v1/auth", tags=["auth"])
router = APIRouter(prefix="/api/v1", tags=["auth"], dependencies=[Depends(authorize)])


class TokenOut(BaseModel):
    """An OAuth2 bearer token response with a refresh token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    role: str


class RefreshIn(BaseModel):
    """A refresh token to exchange (or revoke)."""

    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordIn(BaseModel):
    """Change one's own password."""

    old_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class UserIn(BaseModel):
    """A new user."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(max_length=200)
    role: Role
    site_ids: list[str] = Field(default_factory=list, max_length=100)
    person_id: str | None = Field(default=None, max_length=64)


class UserOut(BaseModel):
    """A user as listed."""

    id: int
    username: str
    role: str
    person_id: str | None
    disabled: bool
    locked: bool
    site_ids: list[str]


class MeOut(BaseModel):
    """The caller."""

    user_id: int
    username: str
    role: str
    site_ids: list[str]
    person_id: str | None


def _token_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token, role=pair.role
    )


def _refused(reason: str) -> HTTPException:
    if reason == "rate_limited":
        return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts; wait a minute")
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid credentials", headers=UNAUTHORISED)


@public.post("/token", response_model=TokenOut)
def login(request: Request, services: ServicesDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """OAuth2 password flow: user name and password in, access and refresh tokens out."""
    client = request.client.host if request.client else "unknown"
    settings = services.settings.security
    if not services.login_limiter.allow(form.username, client):
        with services.engine.begin() as connection:
            from server.storage.audit import append_audit

            subject = f"user:{form.username}"
            append_audit(connection, subject, "login.refused", subject, {"client": client, "reason": "rate_limited"})
        raise _refused("rate_limited")
    refused: LoginRefused | None = None
    with services.engine.begin() as connection:
        try:
            user_id = authenticate(connection, settings, form.username, form.password, client)
            pair = issue_tokens(connection, settings, services.keys.jwt_key, user_id)
        except LoginRefused as err:
            refused = err  # the failure counters and audit entries commit with this transaction
    if refused is not None:
        raise _refused(refused.reason)
    return _token_out(pair)


@public.post("/refresh", response_model=TokenOut)
def refresh(body: RefreshIn, services: ServicesDep) -> TokenOut:
    """Exchange a refresh token for a new pair (the old one is spent)."""
    refused: LoginRefused | None = None
    with services.engine.begin() as connection:
        try:
            pair = rotate_refresh_token(
                connection, services.settings.security, services.keys.jwt_key, body.refresh_token
            )
        except LoginRefused as err:
            refused = err  # a detected re-use revokes the family; that must commit
    if refused is not None:
        raise _refused(refused.reason)
    return _token_out(pair)


@router.post("/auth/logout", status_code=204)
def logout(body: RefreshIn, caller: Caller, connection: Tx) -> None:
    """Revoke the caller's refresh token family."""
    revoke_refresh_family(connection, body.refresh_token, caller.user_id)


@router.get("/auth/me", response_model=MeOut)
def me(caller: Caller) -> MeOut:
    """Who the caller is and what they are scoped to."""
    return MeOut(
        user_id=caller.user_id,
        username=caller.username,
        role=caller.role.value,
        site_ids=sorted(caller.site_ids),
        person_id=caller.person_id,
    )


@router.post("/auth/password", status_code=204)
def password(body: PasswordIn, caller: Caller, connection: Tx) -> None:
    """Change one's own password; every refresh token is revoked."""
    change_password(connection, caller.user_id, body.old_password, body.new_password)


@router.get("/users", response_model=list[UserOut])
def list_users(
    caller: Caller,
    connection: Tx,
    site_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[UserOut]:
    """Users (a manager sees those of their sites)."""
    query = select(User).order_by(User.id)
    scope = site_scope(caller)
    if scope is not None or site_id is not None:
        wanted = set(scope) if scope is not None else None
        if site_id is not None:
            wanted = {site_id} & wanted if wanted is not None else {site_id}
        query = query.where(User.id.in_(select(UserSite.user_id).where(UserSite.site_id.in_(wanted or set()))))
    rows = connection.execute(query.limit(limit).offset(offset)).all()
    sites: dict[int, list[str]] = {}
    for user_id, site in connection.execute(select(UserSite.user_id, UserSite.site_id)):
        sites.setdefault(user_id, []).append(site)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return [
        UserOut(
            id=row.id,
            username=row.username,
            role=row.role,
            person_id=row.person_id,
            disabled=row.disabled,
            locked=bool(row.locked_until and row.locked_until > now),
            site_ids=sorted(sites.get(row.id, [])),
        )
        for row in rows
    ]


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, caller: Caller, connection: Tx) -> UserOut:
    """Create a user; a manager may create residents and managers of their own sites only."""
    site_ids = list(body.site_ids)
    if body.person_id is not None:
        from server.storage.people import Person

        person_site = connection.execute(select(Person.site_id).where(Person.id == body.person_id)).scalar()
        if person_site and person_site not in site_ids:
            site_ids.append(person_site)
    check_user_in_scope(caller, Principal(0, body.username, body.role, frozenset(site_ids), body.person_id))
    user_id = create_user(
        connection,
        caller.actor,
        username=body.username,
        password=body.password,
        role=body.role,
        site_ids=[s for s in body.site_ids],
        person_id=body.person_id,
    )
    return UserOut(
        id=user_id,
        username=body.username,
        role=body.role.value,
        person_id=body.person_id,
        disabled=False,
        locked=False,
        site_ids=sorted(body.site_ids),
    )


@router.post("/users/{user_id}/disable", status_code=204)
def disable_user(user_id: int, caller: Caller, connection: Tx) -> None:
    """Disable a user and revoke their refresh tokens."""
    set_user_state(connection, caller, user_id, disabled=True)


@router.post("/users/{user_id}/unlock", status_code=204)
def unlock_user(user_id: int, caller: Caller, connection: Tx) -> None:
    """Lift a lock-out."""
    set_user_state(connection, caller, user_id, unlock=True)


ROUTERS = (public, router)
