"""Devices: provisioning with broker credentials and a config bundle, revocation, sync state and resync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api.common import Page, PagingDep, fetch_page
from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.security.policy import Principal, require_site, site_scope
from server.services.errors import NotFound
from server.services.hooks import after_commit
from server.services.provisioning import create_device, revoke_device
from server.services.sync import device_view
from server.storage.audit import append_audit
from server.storage.broker_accounts import BrokerAccount
from server.storage.registry import Device

router = APIRouter(prefix="/api/v1", tags=["devices"], dependencies=[Depends(authorize)])
ROUTERS = (router,)


class DeviceIn(BaseModel):
    """A device to provision."""

    site_id: str = Field(max_length=64)
    code: str = Field(max_length=64, description="Topic level of the device, unique at the site")
    kind: str = Field(default="edge", pattern=r"^[a-z0-9-]{1,32}$")
    name: str = Field(default="", max_length=128)
    gate: str | None = Field(default=None, max_length=64, description="Gate code the device serves")
    gb28181_id: str | None = Field(default=None, pattern=r"^\d{20}$")


class DeviceOut(BaseModel):
    """A device and whether its broker credentials are active."""

    id: int
    site_id: str
    code: str
    kind: str
    name: str
    gate_id: int | None
    gb28181_id: str | None
    created_at: datetime
    credentials_active: bool


class ListSyncOut(BaseModel):
    """One list's versions on one device."""

    current: int
    reported: int | None
    sent: int | None
    sent_at: datetime | None
    confirmed: int
    in_sync: bool  # the device holds the current version, or does not use this list
    used: bool = Field(default=True, description="False when the device said it does not use this list")


def _device(connection: Any, caller: Principal, device_id: int) -> Any:
    row = connection.execute(select(Device).where(Device.id == device_id)).first()
    if row is None:
        raise NotFound(f"device {device_id}")
    require_site(caller, row.site_id)
    return row


@router.get("/devices", response_model=Page[DeviceOut])
def list_devices(
    caller: Caller,
    connection: Tx,
    page: PagingDep,
    site_id: str | None = Query(default=None, max_length=64),
    kind: str | None = Query(default=None, max_length=32),
) -> Page[DeviceOut]:
    """Devices in scope."""
    active = select(BrokerAccount.device_id).where(
        BrokerAccount.revoked_at.is_(None), BrokerAccount.device_id.is_not(None)
    )
    query = select(Device, Device.id.in_(active).label("credentials_active")).order_by(Device.id)
    if (scope := site_scope(caller)) is not None:
        query = query.where(Device.site_id.in_(scope))
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    if kind is not None:
        query = query.where(Device.kind == kind)
    rows, total = fetch_page(connection, query, page)
    return Page(
        items=[DeviceOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/devices", status_code=201)
def provision_device(body: DeviceIn, caller: Caller, connection: Tx, services: ServicesDep) -> dict[str, Any]:
    """Provision a device: broker account and ACL, returns the config bundle (the password is shown once)."""
    keys = {services.keys.pass_signer.key_id: services.keys.pass_signer.public_key}
    bundle = create_device(
        connection,
        caller,
        services.settings.provisioning,
        keys,
        site_id=body.site_id,
        code=body.code,
        kind=body.kind,
        name=body.name,
        gate=body.gate,
        gb28181_id=body.gb28181_id,
    )
    after_commit(connection, services.broker_files.apply)
    after_commit(connection, services.sync.kick)
    return bundle


@router.delete("/devices/{device_id}", status_code=204)
def revoke(device_id: int, caller: Caller, connection: Tx, services: ServicesDep) -> None:
    """Revoke the device's broker credentials; the broker stops accepting it after the reload."""
    revoke_device(connection, caller, device_id)
    after_commit(connection, services.broker_files.apply)


@router.get("/devices/{device_id}/sync", response_model=dict[str, ListSyncOut])
def sync_state(device_id: int, caller: Caller, connection: Tx) -> dict[str, ListSyncOut]:
    """Gallery and allowlist versions: current at the site, reported by the device, sent, confirmed."""
    device = _device(connection, caller, device_id)
    out = {}
    for list_name in ("gallery", "allowlist"):
        view = device_view(connection, device, list_name)
        out[list_name] = ListSyncOut(
            current=view.current,
            reported=view.reported,
            sent=view.sent,
            sent_at=view.sent_at,
            confirmed=view.confirmed,
            in_sync=view.reported == view.current or not view.wanted,
            used=view.wanted,
        )
    return out


@router.post("/devices/{device_id}/resync", status_code=202)
def resync(
    device_id: int,
    caller: Caller,
    connection: Tx,
    services: ServicesDep,
    list_name: str | None = Query(default=None, alias="list", pattern=r"^(gallery|allowlist)$"),
) -> dict[str, Any]:
    """Send the full gallery and/or allowlist to the device now."""
    device = _device(connection, caller, device_id)
    append_audit(
        connection,
        caller.actor,
        "device.resync",
        f"device:{device.site_id}/{device.code}",
        {"list": list_name or "both"},
    )
    lists = [list_name] if list_name else ["gallery", "allowlist"]
    for name in lists:
        after_commit(connection, lambda name=name: services.sync.reconcile(device, name, force_full=True))
    return {"device": device.code, "lists": lists}
