"""Bulk import of residents and vehicles (CSV or Excel), with dry-run and a per-line error report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from server.api.deps import Caller, ServicesDep, Tx, authorize
from server.security.policy import require_site
from server.services.errors import InvalidInput
from server.services.hooks import after_commit
from server.services.imports import import_residents, import_vehicles

router = APIRouter(prefix="/api/v1/imports", tags=["imports"], dependencies=[Depends(authorize)])
ROUTERS = (router,)
MAX_FILE_BYTES = 20 * 1024 * 1024


async def _read(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"file: larger than {MAX_FILE_BYTES} bytes")
    return data


@router.post("/residents")
async def residents(
    caller: Caller,
    connection: Tx,
    services: ServicesDep,
    file: UploadFile = File(),
    site_id: str = Form(max_length=64),
    dry_run: bool = Form(default=True),
) -> dict[str, Any]:
    """Import residents with their rooms; nothing is written when any line is bad or dry_run is set."""
    require_site(caller, site_id)
    data = await _read(file)
    report = import_residents(
        connection, services.keys.cipher, caller.actor, site_id, file.filename or "upload.csv", data, dry_run
    )
    return report.as_dict()


@router.post("/vehicles")
async def vehicles(
    caller: Caller,
    connection: Tx,
    services: ServicesDep,
    file: UploadFile = File(),
    site_id: str = Form(max_length=64),
    dry_run: bool = Form(default=True),
) -> dict[str, Any]:
    """Import vehicles; nothing is written when any line is bad or dry_run is set."""
    require_site(caller, site_id)
    data = await _read(file)
    report = import_vehicles(
        connection, services.keys.cipher, caller.actor, site_id, file.filename or "upload.csv", data, dry_run
    )
    if report.applied:
        after_commit(connection, services.sync.kick)
    return report.as_dict()
