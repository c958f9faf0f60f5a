"""Commands to edges for privacy: erasures (the enrolment service's erase_requests + command_results) and retention."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, outerjoin, select

from protocol.commands import ApplyRetention, ApplyRetentionResult, Command, ErasePerson, ErasePersonResult, EraseScope
from server.storage.enrolment import EraseRequest
from server.storage.models import CommandResultRow, DeviceState, Event
from server.storage.privacy import EdgeRetentionCommand
from server.storage.registry import Device
from server.storage.sync import DeviceSync

Send = Callable[[Command, str, str], object]
Outgoing = list[tuple[str, str, Command]]


def gallery_holders(connection: Connection, site_id: str) -> set[str]:
    """Devices of a site that were sent a face gallery, confirmed one, or report holding one."""
    synced = connection.execute(
        select(Device.code)
        .join(DeviceSync, DeviceSync.device_id == Device.id)
        .where(Device.site_id == site_id, DeviceSync.list_name == "gallery", DeviceSync.sent_version > 0)
    ).scalars()
    reporting = connection.execute(
        select(DeviceState.device).where(DeviceState.site == site_id, DeviceState.gallery_version > 0)
    ).scalars()
    confirmed = connection.execute(
        select(CommandResultRow.device)
        .where(CommandResultRow.site == site_id, CommandResultRow.command == "gallery-sync", CommandResultRow.ok)
        .distinct()
    ).scalars()
    return set(synced) | set(reporting) | set(confirmed)


def person_holders(connection: Connection, site_id: str, person_id: str) -> set[str]:
    """Devices that may hold anything about a person: list holders and reporting devices of the site, and
    every device that recorded an event naming the person."""
    synced = connection.execute(
        select(Device.code).join(DeviceSync, DeviceSync.device_id == Device.id).where(Device.site_id == site_id)
    ).scalars()
    reporting = connection.execute(select(DeviceState.device).where(DeviceState.site == site_id)).scalars()
    witnesses = connection.execute(
        select(Event.device).where(Event.person_id == person_id, Event.site == site_id).distinct()
    ).scalars()
    return set(synced) | set(reporting) | set(witnesses)


def erase_commands(
    connection: Connection, site_id: str, person_id: str, devices: Iterable[str], scope: EraseScope
) -> Outgoing:
    """One ErasePerson per device, each recorded as an erase request whose answer proves the erasure."""
    now = datetime.now(UTC)
    outgoing: Outgoing = []
    for device in sorted(set(devices)):
        command = ErasePerson(request_id=uuid.uuid4(), person_id=person_id, scope=scope)
        connection.execute(
            insert(EraseRequest).values(
                request_id=command.request_id, person_id=person_id, site=site_id, device=device, sent_at=now
            )
        )
        outgoing.append((site_id, device, command))
    return outgoing


def retention_commands(connection: Connection, run_id: int | None, events_s: float, snapshots_s: float) -> Outgoing:
    """One ApplyRetention per known device, recorded so its answer can be matched."""
    outgoing: Outgoing = []
    devices = connection.execute(select(DeviceState.site, DeviceState.device)).all()
    for site, device in sorted(devices):
        command = ApplyRetention(request_id=uuid.uuid4(), events_max_age_s=events_s, snapshots_max_age_s=snapshots_s)
        connection.execute(
            insert(EdgeRetentionCommand).values(
                request_id=command.request_id, run_id=run_id, site=site, device=device, max_age_s=events_s
            )
        )
        outgoing.append((site, device, command))
    return outgoing


def send_all(send: Send | None, outgoing: Outgoing) -> int:
    """Publish recorded commands (after their rows are committed); returns how many were handed to the broker."""
    if send is None:
        return 0
    for site, device, command in outgoing:
        send(command, site, device)
    return len(outgoing)


def _answer(connection: Connection, request_id: uuid.UUID, device: str, command: str) -> Any:
    """The device's result row for a request, if it answered."""
    return connection.execute(
        select(CommandResultRow).where(
            CommandResultRow.request_id == request_id,
            CommandResultRow.device == device,
            CommandResultRow.command == command,
        )
    ).first()


def erase_receipts(connection: Connection, request_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Per erase request: the device, whether it confirmed, and its ErasePersonResult as received."""
    wanted = [uuid.UUID(str(item)) for item in request_ids]
    if not wanted:
        return []
    rows = connection.execute(select(EraseRequest).where(EraseRequest.request_id.in_(wanted))).all()
    receipts = []
    for request in sorted(rows, key=lambda row: row.device):
        answer = _answer(connection, request.request_id, request.device, ErasePersonResult.TOPIC_NAME)
        receipts.append(
            {
                "site": request.site,
                "device": request.device,
                "request_id": str(request.request_id),
                "sent_at": request.sent_at.isoformat(),
                "confirmed": bool(answer and answer.ok),
                "error": answer.error if answer else None,
                "answered_at": answer.ts.isoformat() if answer else None,
                "receipt": dict(answer.data) if answer else None,
            }
        )
    return receipts


def outstanding_by_edge(connection: Connection) -> dict[str, dict[str, int]]:
    """Per 'site/device': erase and retention commands not answered yet, and those the device refused."""
    result: dict[str, dict[str, int]] = {}
    pending = (
        (EraseRequest, ErasePersonResult.TOPIC_NAME, "erase"),
        (EdgeRetentionCommand, ApplyRetentionResult.TOPIC_NAME, "retention"),
    )
    for model, command, prefix in pending:
        joined = outerjoin(
            model,
            CommandResultRow,
            and_(
                CommandResultRow.request_id == model.request_id,
                CommandResultRow.device == model.device,
                CommandResultRow.command == command,
            ),
        )
        rows = connection.execute(
            select(model.site, model.device, CommandResultRow.ok)
            .select_from(joined)
            .where(or_(CommandResultRow.id.is_(None), CommandResultRow.ok.is_(False)))
        ).all()
        for site, device, ok in rows:
            counts = result.setdefault(
                f"{site}/{device}",
                {"erase_outstanding": 0, "erase_refused": 0, "retention_outstanding": 0, "retention_refused": 0},
            )
            counts[f"{prefix}_{'outstanding' if ok is None else 'refused'}"] += 1
    return result
