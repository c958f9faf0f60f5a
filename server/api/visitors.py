"""Visitor passes: issue (QR token as PNG and link; plate pre-registration), list, show, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import select

from server.api.common import Page, PagingDep
from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.security.pass_tokens import PassTokenError
from server.services import visitors as service
from server.services.errors import InvalidInput, NotFound
from server.services.hooks import after_commit
from server.storage.visitors import VisitorPass

router = APIRouter(prefix="/api/v1", tags=["visitors"], dependencies=[Depends(authorize)])
public = APIRouter(prefix="/api/v1", tags=["visitors"])
ROUTERS = (router, public)
PNG = {200: {"content": {"image/png": {}}, "description": "QR code"}}


class PassBody(BaseModel):
    """A pass request: a person (QR) and/or a car (plate), gates (none = all), window, single or multiple use."""

    valid_from: AwareDatetime
    valid_until: AwareDatetime
    gates: list[str] = Field(default_factory=list, max_length=32)
    single_use: bool = True
    visitor_name: str = Field(default="", max_length=128)
    plate: str | None = Field(default=None, max_length=16)
    site_id: str | None = Field(default=None, max_length=64, description="Managers: the site (or give a host)")
    host_person_id: str | None = Field(default=None, max_length=64, description="Managers: the inviting resident")

    @model_validator(mode="after")
    def _window(self) -> PassBody:
        """The window must end after it starts."""
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class PassOut(BaseModel):
    """An issued pass."""

    id: str
    site_id: str
    host_person_id: str | None
    visitor_name: str
    plate: str | None
    gates: list[str]
    valid_from: datetime
    valid_until: datetime
    single_use: bool
    revoked_at: datetime | None
    token: str | None = None
    link: str | None = None


def _out(row: Any, token: str | None = None, link: str | None = None) -> PassOut:
    return PassOut(
        id=row.id,
        site_id=row.site_id,
        host_person_id=row.host_person_id,
        visitor_name=row.visitor_name,
        plate=row.plate,
        gates=list(row.gates.get("codes", [])),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        single_use=row.single_use,
        revoked_at=row.revoked_at,
        token=token,
        link=link,
    )


@router.post("/visitor-passes", response_model=PassOut, status_code=201)
def issue(body: PassBody, caller: Caller, connection: Tx, services: ServicesDep) -> PassOut:
    """Issue a pass: signed token (gates verify it offline), link to its QR code, plate pre-registered."""
    request = service.PassIn(**{**body.model_dump(), "gates": tuple(body.gates)})
    issued = service.issue_pass(connection, services.keys.pass_signer, caller, request)
    if body.plate:
        after_commit(connection, services.sync.kick)
    row = connection.execute(select(VisitorPass).where(VisitorPass.id == issued["id"])).one()
    link = service.pass_link(services.settings.security.public_base_url, issued["token"])
    return _out(row, issued["token"], link)


@router.get("/visitor-passes", response_model=Page[PassOut])
def list_passes(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    active: bool = Query(default=False, description="Only passes not revoked nor expired"),
) -> Page[PassOut]:
    """Passes the caller may see (a resident: their own invitations)."""
    rows = service.list_passes(connection, caller, page.limit + 1, page.offset, active)
    items = [_out(r) for r in rows[: page.limit]]
    return Page(items=items, total=page.offset + len(rows), limit=page.limit, offset=page.offset)


@router.get("/visitor-passes/{pass_id}/qr.png", response_class=Response, responses=PNG)
def pass_qr(pass_id: str, caller: Caller, connection: Tx, services: ServicesDep) -> Response:
    """The pass's QR code as PNG."""
    row = service.visible_pass(connection, caller, pass_id)
    return Response(service.qr_png(service.token_of(services.keys.pass_signer, row)), media_type="image/png")


@router.delete("/visitor-passes/{pass_id}", status_code=204)
def revoke(pass_id: str, caller: Caller, connection: Tx, services: ServicesDep) -> None:
    """Revoke a pass (a plate leaves the allowlist; a printed QR stays valid offline until it expires)."""
    service.revoke_pass(connection, caller, pass_id)
    after_commit(connection, services.sync.kick)


@public.get("/passes/qr.png", response_class=Response, responses=PNG)
def shared_qr(
    connection: Tx,
    services: ServicesDep,
    token: str = Query(min_length=10, max_length=1024, description="The pass token (the link's secret)"),
) -> Response:
    """The QR code behind a pass link: the token itself authenticates (signed by this platform, not revoked)."""
    try:
        payload = services.keys.pass_signer.verify(token)
    except PassTokenError as err:
        raise InvalidInput(f"token: {err}") from err
    row = connection.execute(select(VisitorPass.revoked_at).where(VisitorPass.id == str(payload.get("id")))).first()
    if row is None or row.revoked_at is not None:
        raise NotFound("pass is unknown or revoked")
    return Response(service.qr_png(token), media_type="image/png")
