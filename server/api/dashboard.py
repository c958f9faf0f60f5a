"""What the web interface needs beyond the record routes: device health, hourly traffic, one's own audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from server.api.deps import Caller, Tx, authorize
from server.security import policy
from server.security.policy import STAFF, V1, Role, require_site, site_scope
from server.storage.audit import AuditEntry
from server.storage.models import DeviceState
from server.storage.registry import Device

POLICE_ONLY = frozenset({Role.POLICE})
# These routes' rules, merged into the one route table server.security.policy checks (as the police routes do).
DASHBOARD_RULES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", f"{V1}/dashboard/devices"): STAFF,
    ("GET", f"{V1}/dashboard/traffic"): STAFF,
    ("GET", f"{V1}/audit/mine"): POLICE_ONLY,
}
policy.RULES.update(DASHBOARD_RULES)
router = APIRouter(prefix=V1, tags=["dashboard"], dependencies=[Depends(authorize)])
ROUTERS = (router,)
MAX_HOURS = 168


class DeviceHealth(BaseModel):
    """One device's last known health (registry row joined with its last status and telemetry)."""

    site: str
    device: str
    name: str
    kind: str
    registered: bool
    online: bool
    last_seen: datetime | None
    fps: float | None
    cameras: list[dict[str, Any]]
    outbox_depth: int | None
    cpu_percent: float | None
    software: str
    capabilities: list[str] | None = None  # what the device said it does; None: not said


class TrafficRow(BaseModel):
    """Passages of one hour at one gate with one method and result."""

    hour: datetime
    site: str
    gate: str
    method: str
    result: str
    count: int


class TrafficOut(BaseModel):
    """Hourly passage counts from the time series (no personal data)."""

    hours: list[datetime]
    rows: list[TrafficRow]


class AuditOut(BaseModel):
    """One audit entry of the caller's own."""

    id: int
    ts: datetime
    action: str
    subject: str
    detail: dict[str, Any]


def _health(row: Any, state: Any) -> DeviceHealth:
    """Registry and state columns as one health line (either may be missing)."""
    telemetry = (state.telemetry or {}) if state is not None else {}
    cameras = list(telemetry.get("cameras") or [])
    return DeviceHealth(
        site=row.site_id if row is not None else state.site,
        device=row.code if row is not None else state.device,
        name=row.name if row is not None else "",
        kind=row.kind if row is not None else "",
        registered=row is not None,
        online=bool(state.online) if state is not None else False,
        last_seen=state.last_seen if state is not None else None,
        fps=round(sum(float(c.get("fps", 0)) for c in cameras), 2) if cameras else None,
        cameras=cameras,
        outbox_depth=telemetry.get("outbox_depth"),
        cpu_percent=telemetry.get("cpu_percent"),
        software=state.software if state is not None else "",
        capabilities=state.capabilities if state is not None else None,
    )


@router.get("/dashboard/devices", response_model=list[DeviceHealth])
def device_health(caller: Caller, connection: Tx, site: str | None = Query(default=None, max_length=64)):
    """Devices in scope with online state, last seen, frames per second and outbox depth."""
    scope = site_scope(caller)
    if site is not None:
        require_site(caller, site)
    devices = select(Device).order_by(Device.site_id, Device.code)
    states = select(DeviceState)
    if scope is not None:
        devices, states = devices.where(Device.site_id.in_(scope)), states.where(DeviceState.site.in_(scope))
    if site is not None:
        devices, states = devices.where(Device.site_id == site), states.where(DeviceState.site == site)
    by_key = {(s.site, s.device): s for s in connection.execute(states)}
    lines = []
    for row in connection.execute(devices):
        lines.append(_health(row, by_key.pop((row.site_id, row.code), None)))
    lines += [_health(None, state) for _, state in sorted(by_key.items())]
    return lines


@router.get("/dashboard/traffic", response_model=TrafficOut)
def traffic(
    request: Request,
    caller: Caller,
    site: str | None = Query(default=None, max_length=64),
    hours: int = Query(default=24, ge=1, le=MAX_HOURS, description="How many whole hours back from now"),
) -> TrafficOut:
    """Passages per hour, site, gate, method and result, read from the time series."""
    scope = site_scope(caller)
    if site is not None:
        require_site(caller, site)
    timeseries = request.app.state.platform.timeseries
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=n) for n in range(hours, 0, -1)]
    rows = []
    for start in starts:
        tags = {"site": site} if site is not None else None
        groups = timeseries.aggregate(
            "passages", start, start + timedelta(hours=1), group_by=("site", "gate", "method", "result"), tags=tags
        )
        for (row_site, gate, method, result), value in sorted(groups.items()):
            if scope is None or row_site in scope:
                rows.append(
                    TrafficRow(hour=start, site=row_site, gate=gate, method=method, result=result, count=int(value))
                )
    return TrafficOut(hours=starts, rows=rows)


@router.get("/audit/mine", response_model=list[AuditOut])
def my_audit(
    caller: Caller,
    connection: Tx,
    before_id: int | None = Query(default=None, ge=1),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[AuditOut]:
    """The caller's own audit entries (for police: every query and refusal), newest first."""
    query = select(AuditEntry).where(AuditEntry.actor == caller.actor)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = connection.execute(query.order_by(AuditEntry.id.desc()).limit(limit))
    return [AuditOut(id=row.id, ts=row.ts, action=row.action, subject=row.subject, detail=row.detail) for row in rows]
