"""Visitor passes: a resident or manager invites a person (signed QR token) or a car (plate pre-registration)."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import segno
from sqlalchemy import Connection, insert, select, update

from server.security.pass_tokens import PassClaims, PassSigner, PassTokenError
from server.security.policy import Principal, Role, require_site, site_scope
from server.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.services.sync import record_change
from server.storage.audit import append_audit
from server.storage.people import Person
from server.storage.registry import Gate
from server.storage.visitors import VisitorPass

MAX_VALIDITY = timedelta(days=31)


@dataclass(frozen=True)
class PassIn:
    """A pass request."""

    valid_from: datetime
    valid_until: datetime
    gates: tuple[str, ...] = ()
    single_use: bool = True
    visitor_name: str = ""
    plate: str | None = None
    site_id: str | None = None
    host_person_id: str | None = None


def _normalise_plate(plate: str) -> str:
    from edge.vision.plate_rules import is_valid_plate, normalise_plate_text

    text = normalise_plate_text(plate)
    if not is_valid_plate(text):
        raise InvalidInput(f"plate: {plate!r} is not a valid plate")
    return text


def issue_pass(connection: Connection, signer: PassSigner, caller: Principal, request: PassIn) -> dict[str, Any]:
    """Store a pass and sign its token; a plate is pre-registered on the site's allowlist. Audited."""
    host = request.host_person_id
    if caller.role is Role.RESIDENT:
        if host not in (None, caller.person_id) or caller.person_id is None:
            raise Forbidden("residents issue passes as themselves")
        host = caller.person_id
    site_id = request.site_id
    if host is not None:
        host_site = connection.execute(select(Person.site_id).where(Person.id == host)).scalar()
        if host_site is None:
            raise InvalidInput(f"host_person_id: unknown person {host}")
        if site_id is not None and site_id != host_site:
            raise InvalidInput("site_id: the host lives at another site")
        site_id = host_site
    if site_id is None:
        raise InvalidInput("site_id: required when there is no host")
    require_site(caller, site_id)
    if request.valid_until - request.valid_from > MAX_VALIDITY:
        raise InvalidInput(f"valid_until: a pass lasts at most {MAX_VALIDITY.days} days")
    known = set(connection.execute(select(Gate.code).where(Gate.site_id == site_id)).scalars())
    if unknown := set(request.gates) - known:
        raise InvalidInput(f"gates: unknown at site {site_id}: {sorted(unknown)}")
    plate = _normalise_plate(request.plate) if request.plate else None
    pass_id = f"vp-{secrets.token_hex(8)}"
    claims = _claims(pass_id, site_id, request.gates, request.valid_from, request.valid_until, request.single_use, host)
    token = signer.sign(claims)
    connection.execute(
        insert(VisitorPass).values(
            id=pass_id,
            site_id=site_id,
            host_person_id=host,
            visitor_name=request.visitor_name.strip(),
            plate=plate,
            gates={"codes": list(request.gates)},
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            single_use=request.single_use,
            key_id=signer.key_id,
            created_by=caller.actor,
        )
    )
    if plate is not None:
        record_change(connection, site_id, "allowlist", [f"pass-{pass_id}"])
    append_audit(
        connection,
        caller.actor,
        "visitor_pass.issue",
        f"pass:{pass_id}",
        {"site": site_id, "host": host, "plate": plate is not None, "gates": list(request.gates)},
    )
    return {"id": pass_id, "site_id": site_id, "token": token}


def _claims(
    pass_id: str,
    site_id: str,
    gates: Any,
    valid_from: datetime,
    valid_until: datetime,
    single_use: bool,
    host: str | None,
) -> PassClaims:
    try:
        return PassClaims(pass_id, site_id, tuple(gates), valid_from, valid_until, single_use, host)
    except PassTokenError as err:
        raise InvalidInput(str(err)) from err


def pass_link(base_url: str, token: str) -> str:
    """The link a visitor opens to show the QR code."""
    return f"{base_url.rstrip('/')}/api/v1/passes/qr.png?token={quote(token)}"


def qr_png(text: str, scale: int = 6) -> bytes:
    """A PNG QR code of the token (segno), with a quiet zone."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def visible_pass(connection: Connection, caller: Principal, pass_id: str) -> Any:
    """A pass the caller may see (their own as a resident, their sites' as a manager)."""
    row = connection.execute(select(VisitorPass).where(VisitorPass.id == pass_id)).first()
    if row is None:
        raise NotFound(f"pass {pass_id}")
    if caller.role is Role.RESIDENT:
        if row.host_person_id is None or row.host_person_id != caller.person_id:
            raise NotFound(f"pass {pass_id}")
    else:
        require_site(caller, row.site_id)
    return row


def token_of(signer: PassSigner, row: Any) -> str:
    """Re-sign a stored pass (Ed25519 signatures are deterministic, so the token is the one first issued)."""
    if row.key_id != signer.key_id:
        raise Conflict(f"pass {row.id} was signed with key {row.key_id}, which this server no longer holds")
    return signer.sign(
        _claims(
            row.id,
            row.site_id,
            row.gates.get("codes", []),
            row.valid_from,
            row.valid_until,
            row.single_use,
            row.host_person_id,
        )
    )


def list_passes(connection: Connection, caller: Principal, limit: int, offset: int, active_only: bool) -> list[Any]:
    """Passes the caller may see, newest first."""
    query = select(VisitorPass).order_by(VisitorPass.created_at.desc(), VisitorPass.id)
    if caller.role is Role.RESIDENT:
        query = query.where(VisitorPass.host_person_id == caller.person_id)
    elif (scope := site_scope(caller)) is not None:
        query = query.where(VisitorPass.site_id.in_(scope))
    if active_only:
        query = query.where(VisitorPass.revoked_at.is_(None), VisitorPass.valid_until > datetime.now(UTC))
    return list(connection.execute(query.limit(limit).offset(offset)).all())


def revoke_pass(connection: Connection, caller: Principal, pass_id: str) -> None:
    """Revoke a pass (its plate leaves the allowlist at the next sync)."""
    row = visible_pass(connection, caller, pass_id)
    if row.revoked_at is not None:
        raise Conflict(f"pass {pass_id} is already revoked")
    connection.execute(update(VisitorPass).where(VisitorPass.id == pass_id).values(revoked_at=datetime.now(UTC)))
    if row.plate:
        record_change(connection, row.site_id, "allowlist", [f"pass-{pass_id}"])
    append_audit(connection, caller.actor, "visitor_pass.revoke", f"pass:{pass_id}")
