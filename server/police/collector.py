"""Finds new watchlist hits and alarms the police subscribed to and queues them as VIID objects."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from server.police import viid
from server.police.pushqueue import enqueue
from server.police.settings import PoliceSettings, Subscription
from server.storage.models import Event
from server.storage.police import PoliceCursor
from server.storage.watchlists import Alert, WatchlistEntry

log = logging.getLogger(__name__)
POLICE_CREATOR_PREFIX = "police:"
ID_FIELDS = ("MotorVehicleID", "FaceID", "NotificationID")


def object_id_of(payload: dict[str, Any]) -> str:
    """The GA/T 1400 id of the (single) object in a list payload."""
    for wrapper in payload.values():
        for objects in wrapper.values():
            for item in objects:
                for field in ID_FIELDS:
                    if field in item:
                        return str(item[field])
    return ""


def _cursor(connection: Connection, name: str, now: datetime) -> datetime | None:
    """Where a source was last scanned; created at `now` on first use (history is not pushed)."""
    position = connection.execute(select(PoliceCursor.position).where(PoliceCursor.name == name)).scalar()
    if position is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(PoliceCursor).values(name=name, position=now))
        except IntegrityError:
            pass  # another platform process created it first
    return position


def _advance(connection: Connection, name: str, position: datetime) -> None:
    """Move a cursor forward (never back)."""
    connection.execute(
        update(PoliceCursor)
        .where(PoliceCursor.name == name, PoliceCursor.position < position)
        .values(position=position)
    )


def _in_sites(subscription: Subscription, site: str) -> bool:
    """Whether a site is covered (no sites listed means all)."""
    return not subscription.sites or site in subscription.sites


class Collector:
    """Scans events received since the cursor (minus a look-back) and queues what subscriptions match."""

    def __init__(self, engine: Engine, settings: PoliceSettings) -> None:
        self.engine, self.settings = engine, settings
        self.lookback = timedelta(seconds=settings.push.lookback_s)

    def collect(self, now: datetime | None = None) -> int:
        """Queue new matching items; returns how many were added."""
        now = now or datetime.now(UTC)
        subscriptions = self.settings.push.subscriptions
        added = 0
        with self.engine.begin() as connection:
            device_ids = viid.load_device_ids(connection, self.settings.device_ids)
            hits = [s for s in subscriptions if s.kind == "watchlist_hit"]
            alarms = [s for s in subscriptions if s.kind == "alarm"]
            if hits:
                since = _cursor(connection, "watchlist_hits", now)
                if since is not None:
                    added += self._hits(connection, hits, since - self.lookback, device_ids, now)
                _advance(connection, "watchlist_hits", now)
            if alarms:
                since = _cursor(connection, "alarms", now)
                if since is not None:
                    added += self._alarms(connection, alarms, since - self.lookback, device_ids, now)
                _advance(connection, "alarms", now)
        if added:
            log.info("queued %d police push item(s)", added)
        return added

    def _hits(
        self, connection: Connection, subscriptions: list[Subscription], since: datetime, ids: viid.DeviceIds, now
    ) -> int:
        """Watchlist hits as MotorVehicles (plate entries) or Faces (person entries)."""
        query = (
            select(
                Alert.level,
                Alert.entry_id,
                Alert.site_id,
                Alert.gate,
                Alert.device,
                Alert.ts,
                Alert.event_id,
                WatchlistEntry.kind.label("entry_kind"),
                WatchlistEntry.value,
                WatchlistEntry.created_by,
                Event.data,
                Event.kind.label("event_kind"),
                Event.method,
                Event.result,
            )
            .join(WatchlistEntry, WatchlistEntry.id == Alert.entry_id)
            .join(Event, Event.event_id == Alert.event_id)
            .where(Event.received_at >= since)
            .order_by(Event.received_at)
        )
        added = 0
        for row in connection.execute(query):
            record = {
                "event_id": str(row.event_id),
                "ts": row.ts.isoformat(),
                "site": row.site_id,
                "gate": row.gate,
                "device": row.device,
            }
            device_id = ids.get(row.site_id, row.device)
            if row.entry_kind == "plate":
                record |= {"plate": row.value, "colour": (row.data or {}).get("colour")}
                resource, body = "MotorVehicles", viid.motor_vehicle_list([viid.motor_vehicle(record, device_id)])
            else:
                record |= {"person_id": row.value, "method": row.method, "result": row.result}
                resource, body = "Faces", viid.face_list([viid.face(record, device_id)])
            for subscription in subscriptions:
                if not _in_sites(subscription, row.site_id) or row.level not in subscription.levels:
                    continue
                if subscription.police_entries_only and not row.created_by.startswith(POLICE_CREATOR_PREFIX):
                    continue
                key = f"{subscription.name}:hit:{row.entry_id}:{row.event_id}"
                added += enqueue(connection, key, subscription.name, resource, body, now)
        return added

    def _alarms(
        self, connection: Connection, subscriptions: list[Subscription], since: datetime, ids: viid.DeviceIds, now
    ) -> int:
        """Device alarms as DispositionNotifications."""
        query = (
            select(Event.event_id, Event.ts, Event.site, Event.gate, Event.device, Event.data)
            .where(Event.kind == "alarm", Event.received_at >= since)
            .order_by(Event.received_at)
        )
        added = 0
        for row in connection.execute(query):
            data = row.data or {}
            alarm_type, severity = str(data.get("alarm_type", "")), str(data.get("severity", ""))
            record = {
                "event_id": str(row.event_id),
                "ts": row.ts.isoformat(),
                "site": row.site,
                "gate": row.gate,
                "severity": severity,
                "related_event_id": data.get("related_event_id"),
            }
            notice = viid.disposition_notification(record, ids.get(row.site, row.device), alarm_type)
            body = viid.disposition_notification_list([notice])
            for subscription in subscriptions:
                if not _in_sites(subscription, row.site) or severity not in subscription.levels:
                    continue
                if subscription.alarm_types and alarm_type not in subscription.alarm_types:
                    continue
                key = f"{subscription.name}:alarm:{row.event_id}"
                added += enqueue(connection, key, subscription.name, "DispositionNotifications", body, now)
        return added
