"""Camera register and purpose limitation: public-security cameras' data serves public security only (PIPL Art. 26)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, insert, not_, or_, select, true, update

from server.storage.audit import append_audit
from server.storage.models import Event
from server.storage.privacy import CAMERA_PURPOSES, CameraRegistration
from server.storage.registry import Site

READ_PURPOSES = ("public_security", "access_control", "subject_access")
ART26 = "PIPL Art. 26: images collected in public places serve public security only"


class PurposeRefused(PermissionError):
    """Data from a camera was asked for a purpose its registration does not allow."""


def allowed(camera_purpose: str | None, read_purpose: str) -> bool:
    """Whether data from a camera of `camera_purpose` may be read for `read_purpose`.

    A data subject's own copy (PIPL Art. 45) is allowed from every camera; otherwise a public-security camera's
    data serves public security only. Unregistered devices count as access control.
    """
    if read_purpose not in READ_PURPOSES:
        raise ValueError(f"purpose: {read_purpose!r} is not one of {READ_PURPOSES}")
    return read_purpose == "subject_access" or camera_purpose != "public_security" or read_purpose == "public_security"


def public_security_devices(connection: Connection) -> set[tuple[str, str]]:
    """(site, device) of every device with a camera registered for public security."""
    rows = connection.execute(
        select(CameraRegistration.site_id, CameraRegistration.device).where(
            CameraRegistration.purpose == "public_security"
        )
    ).all()
    return {(site, device) for site, device in rows}


def check_purpose(connection: Connection, site: str, device: str, purpose: str) -> None:
    """Refuse reading a device's data for a purpose its cameras were not registered for."""
    camera_purpose = "public_security" if (site, device) in public_security_devices(connection) else None
    if not allowed(camera_purpose, purpose):
        raise PurposeRefused(
            f"{site}/{device} is registered for public security; reading it for {purpose} is refused ({ART26})"
        )


def events_readable_for(connection: Connection, purpose: str) -> ColumnElement[bool]:
    """A filter on events keeping only those whose device may be read for the purpose."""
    if allowed("public_security", purpose):
        return true()
    devices = public_security_devices(connection)
    if not devices:
        return true()
    table = Event.__table__
    return not_(or_(*(and_(table.c.site == site, table.c.device == device) for site, device in devices)))


def search_events(
    connection: Connection, purpose: str, site: str, since: datetime, until: datetime, limit: int = 1000
) -> list[dict[str, Any]]:
    """Events of a site in a window, as readable for the purpose (public-security cameras' events left out)."""
    table = Event.__table__
    rows = connection.execute(
        select(table.c.event_id, table.c.ts, table.c.device, table.c.gate, table.c.kind, table.c.result)
        .where(table.c.site == site, table.c.ts >= since, table.c.ts < until, events_readable_for(connection, purpose))
        .order_by(table.c.ts)
        .limit(limit)
    ).all()
    return [dict(row._mapping) | {"event_id": str(row.event_id)} for row in rows]


def register_camera(
    connection: Connection,
    actor: str,
    *,
    site_id: str,
    device: str,
    purpose: str,
    signage_posted: bool,
    camera: str = "",
    gate: str | None = None,
    note: str = "",
) -> int:
    """Record (or update) a camera's purpose and signage; audited."""
    if purpose not in CAMERA_PURPOSES:
        raise ValueError(f"purpose: {purpose!r} is not one of {CAMERA_PURPOSES}")
    if connection.execute(select(Site.id).where(Site.id == site_id)).first() is None:
        raise ValueError(f"site_id: unknown site {site_id!r}")  # the foreign key would refuse it at insert
    values = {
        "purpose": purpose,
        "signage_posted": signage_posted,
        "gate": gate,
        "note": note,
        "signage_checked_at": datetime.now(UTC),
    }
    key = and_(
        CameraRegistration.site_id == site_id, CameraRegistration.device == device, CameraRegistration.camera == camera
    )
    existing = connection.execute(select(CameraRegistration.id).where(key)).scalar()
    if existing is None:
        existing = connection.execute(
            insert(CameraRegistration)
            .values(site_id=site_id, device=device, camera=camera, **values)
            .returning(CameraRegistration.id)
        ).scalar_one()
    else:
        connection.execute(update(CameraRegistration).where(CameraRegistration.id == existing).values(**values))
    append_audit(
        connection,
        actor,
        "privacy.camera.register",
        f"camera:{site_id}/{device}/{camera}",
        {"purpose": purpose, "signage_posted": signage_posted},
    )
    return int(existing)


def camera_register(connection: Connection) -> list[dict[str, Any]]:
    """Every registered camera, with a flag for a public-security camera without a sign (Art. 26 breach)."""
    rows = connection.execute(
        select(CameraRegistration).order_by(CameraRegistration.site_id, CameraRegistration.device)
    ).all()
    return [
        {
            "site_id": row.site_id,
            "device": row.device,
            "camera": row.camera,
            "gate": row.gate,
            "purpose": row.purpose,
            "signage_posted": row.signage_posted,
            "signage_checked_at": row.signage_checked_at.isoformat() if row.signage_checked_at else None,
            "compliant": row.purpose != "public_security" or row.signage_posted,
        }
        for row in rows
    ]
