"""Versioned gallery and allowlist per site, pushed to each provisioned edge: incremental, or full when needed.

Every change bumps the site's list version and logs the changed keys (person ids, credential refs). An
increment from version b to v sends the current content of every key changed after b: present keys as
upserts, gone keys as removes (an edge applies removes before upserts). A device gets a full list when it
reports version 0, a version newer than ours, a version older than one it already confirmed (it lost data),
or on request.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from protocol.commands import AllowlistSync, GallerySync, SyncMode
from protocol.device import Capability
from server.security.settings import SyncSettings
from server.services.commands import CommandSender
from server.services.edge_lists import allowlist_entries, gallery_entries
from server.storage.broker_accounts import BrokerAccount
from server.storage.crypto import FieldCipher
from server.storage.models import CommandResultRow, DeviceState
from server.storage.registry import Device
from server.storage.sync import DeviceSync, SyncChange, SyncVersion

log = logging.getLogger(__name__)
COMMAND_NAMES = {"gallery": GallerySync.TOPIC_NAME, "allowlist": AllowlistSync.TOPIC_NAME}


def record_change(connection: Connection, site_id: str, list_name: str, keys: list[str]) -> int:
    """Bump a site's list version for changed keys (inside the caller's transaction); returns the new version."""
    for _ in range(20):
        bumped = connection.execute(
            update(SyncVersion)
            .where(SyncVersion.site_id == site_id, SyncVersion.list_name == list_name)
            .values(version=SyncVersion.version + 1)
            .returning(SyncVersion.version)
        ).scalar()
        if bumped is None:
            try:
                with connection.begin_nested():
                    connection.execute(insert(SyncVersion).values(site_id=site_id, list_name=list_name, version=1))
                bumped = 1
            except IntegrityError:
                continue
        rows = [{"site_id": site_id, "list_name": list_name, "version": bumped, "key": key} for key in set(keys)]
        if rows:
            connection.execute(insert(SyncChange), rows)
        return bumped
    raise RuntimeError(f"could not bump the {list_name} version of site {site_id}")


def current_version(connection: Connection, site_id: str, list_name: str) -> int:
    """A site's list version (0 before any change)."""
    version = connection.execute(
        select(SyncVersion.version).where(SyncVersion.site_id == site_id, SyncVersion.list_name == list_name)
    ).scalar()
    return int(version or 0)


@dataclass(frozen=True)
class DeviceView:
    """What the platform knows of one device's copy of a list."""

    device_id: int
    site: str
    device: str
    list_name: str
    current: int
    reported: int | None
    sent: int | None
    sent_at: datetime | None
    confirmed: int
    request_id: uuid.UUID | None
    online: bool = False
    wanted: bool = True  # False: the device said it does not use this list (no faces: no gallery)


def device_view(connection: Connection, device: Device, list_name: str) -> DeviceView:
    """Current, reported (newest of status/telemetry and sync results), sent and confirmed versions."""
    current = current_version(connection, device.site_id, list_name)
    state = connection.execute(
        select(DeviceState).where(DeviceState.site == device.site_id, DeviceState.device == device.code)
    ).first()
    result = connection.execute(
        select(CommandResultRow)
        .where(
            CommandResultRow.site == device.site_id,
            CommandResultRow.device == device.code,
            CommandResultRow.command == COMMAND_NAMES[list_name],
            CommandResultRow.ok.is_(True),
        )
        .order_by(CommandResultRow.ts.desc())
        .limit(1)
    ).first()
    reported = None
    if state is not None:
        reported = state.gallery_version if list_name == "gallery" else state.allowlist_version
    if result is not None and (state is None or result.ts >= state.last_seen):
        reported = int(result.data.get("version", 0))
    sync = connection.execute(
        select(DeviceSync).where(DeviceSync.device_id == device.id, DeviceSync.list_name == list_name)
    ).first()
    confirmed = sync.confirmed_version if sync else 0
    if sync is not None:
        answer = connection.execute(
            select(CommandResultRow.ok, CommandResultRow.data).where(CommandResultRow.request_id == sync.request_id)
        ).all()
        if any(row.ok and int(row.data.get("version", -1)) == sync.sent_version for row in answer):
            confirmed = max(confirmed, sync.sent_version)
    return DeviceView(
        device.id,
        device.site_id,
        device.code,
        list_name,
        current,
        reported,
        sync.sent_version if sync else None,
        sync.sent_at if sync else None,
        confirmed,
        sync.request_id if sync else None,
        bool(state.online) if state is not None else False,
        wants_list(state.capabilities if state is not None else None, list_name),
    )


def wants_list(capabilities: list[str] | None, list_name: str) -> bool:
    """Whether a device with these capabilities uses a list: face templates go only where faces are recognised.

    A device that said nothing (an agent older than capabilities) is assumed to use every list.
    """
    if list_name != "gallery" or capabilities is None:
        return True
    return Capability.FACES.value in capabilities


def choose_mode(view: DeviceView, force_full: bool, resend_after: timedelta, now: datetime) -> SyncMode | None:
    """Nothing, an increment, or a full list for this device (nothing while it is offline, unless forced).

    A device that does not use the list (a plate-only gate and the face gallery) never gets it, forced or not:
    biometric templates go nowhere they are not needed.
    """
    if not view.wanted:
        return None
    if force_full:
        return SyncMode.FULL if view.current > 0 else None
    if view.reported == view.current:
        return None
    if not view.online:  # sent now it would be dropped (or pile up at the broker); sent once the device is back
        return None
    waiting = view.sent == view.current and view.sent_at is not None and now - view.sent_at < resend_after
    if waiting:
        return None
    if view.reported is None or view.reported == 0 or view.reported > view.current or view.reported < view.confirmed:
        return SyncMode.FULL if view.current > 0 else None
    return SyncMode.INCREMENTAL


class EdgeSync:
    """Builds and sends sync commands; a background loop reconciles every provisioned device."""

    def __init__(self, engine: Engine, cipher: FieldCipher, sender: CommandSender, settings: SyncSettings) -> None:
        self.engine, self.cipher, self.sender, self.settings = engine, cipher, sender, settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Run the reconcile loop."""
        if self.settings.enabled and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="edge-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the loop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def kick(self) -> None:
        """Reconcile now (after a change)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.reconcile_all()
            except Exception:  # noqa: BLE001 - the loop must survive a database outage
                log.exception("edge sync round failed")

    def targets(self, connection: Connection, site_id: str | None = None) -> list[Device]:
        """Devices with active broker credentials (the provisioned edges)."""
        query = (
            select(Device)
            .join(BrokerAccount, BrokerAccount.device_id == Device.id)
            .where(BrokerAccount.revoked_at.is_(None), BrokerAccount.kind == "device")
        )
        if site_id is not None:
            query = query.where(Device.site_id == site_id)
        return list(connection.execute(query.order_by(Device.id)).all())

    def reconcile_all(self) -> int:
        """Bring every provisioned device up to date; returns the number of commands sent."""
        with self.engine.connect() as connection:
            devices = self.targets(connection)
        return sum(self.reconcile(device, list_name) for device in devices for list_name in ("gallery", "allowlist"))

    def reconcile(self, device: Device, list_name: str, force_full: bool = False) -> int:
        """Send what one device needs of one list; returns the number of messages sent."""
        with self._lock, self.engine.begin() as connection:
            view = device_view(connection, device, list_name)
            now = datetime.now(UTC)
            mode = choose_mode(view, force_full, timedelta(seconds=self.settings.resend_after_s), now)
            if mode is None:
                self._store_confirmed(connection, view)
                return 0
            base = 0 if mode is SyncMode.FULL else int(view.reported or 0)
            request_id = uuid.uuid4()
            bodies = self._bodies(connection, view, mode, base, request_id)
            values = {
                "sent_version": view.current,
                "mode": mode.value,
                "request_id": request_id,
                "sent_at": now,
                "confirmed_version": view.confirmed,
            }
            changed = connection.execute(
                update(DeviceSync)
                .where(DeviceSync.device_id == device.id, DeviceSync.list_name == list_name)
                .values(**values)
            ).rowcount
            if not changed:
                connection.execute(insert(DeviceSync).values(device_id=device.id, list_name=list_name, **values))
        for body in bodies:
            self.sender.send(body, device.site_id, device.code)
        log.info(
            "%s %s sync v%d->v%d to %s/%s in %d message(s)",
            list_name,
            mode.value,
            base,
            view.current,
            device.site_id,
            device.code,
            len(bodies),
        )
        return len(bodies)

    def _store_confirmed(self, connection: Connection, view: DeviceView) -> None:
        if view.sent is not None:
            connection.execute(
                update(DeviceSync)
                .where(
                    DeviceSync.device_id == view.device_id,
                    DeviceSync.list_name == view.list_name,
                    DeviceSync.confirmed_version < view.confirmed,
                )
                .values(confirmed_version=view.confirmed)
            )

    def _bodies(
        self, connection: Connection, view: DeviceView, mode: SyncMode, base: int, request_id: uuid.UUID
    ) -> list[GallerySync | AllowlistSync]:
        """The command(s) for one sync: one per chunk of entries, sharing the request id."""
        keys = None
        if mode is SyncMode.INCREMENTAL:
            keys = set(
                connection.execute(
                    select(SyncChange.key).where(
                        SyncChange.site_id == view.site,
                        SyncChange.list_name == view.list_name,
                        SyncChange.version > base,
                        SyncChange.version <= view.current,
                    )
                ).scalars()
            )
        if view.list_name == "allowlist":
            entries = allowlist_entries(connection, self.cipher, view.site, keys)
            removes = sorted(keys - {entry.credential_ref for entry in entries}) if keys is not None else []
            size = self.settings.chunk_entries
            chunks = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
            return [
                AllowlistSync(
                    request_id=request_id,
                    mode=mode,
                    base_version=base,
                    version=view.current,
                    upserts=chunk,
                    removes=removes if index == 0 else [],
                    chunk=index,
                    chunks=len(chunks),
                )
                for index, chunk in enumerate(chunks)
            ]
        entries = gallery_entries(connection, self.cipher, view.site, keys)
        removes = sorted(keys) if keys is not None else []  # changed persons are replaced whole
        size = self.settings.chunk_templates
        chunks = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
        return [
            GallerySync(
                request_id=request_id,
                mode=mode,
                base_version=base,
                version=view.current,
                upserts=chunk,
                removes=removes if index == 0 else [],
                chunk=index,
                chunks=len(chunks),
            )
            for index, chunk in enumerate(chunks)
        ]
