"""Watchlist hits: checked on every ingested event, stored as alerts, fanned out live to subscribers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from server.storage.watchlists import Alert, WatchlistEntry

log = logging.getLogger(__name__)
AlertCallback = Callable[[dict[str, Any]], None]
CACHE_TTL_S = 2.0


class AlertHub:
    """Live fan-out of alerts: subscribe a callback (a WebSocket, a notifier); each alert names its site."""

    def __init__(self) -> None:
        self._subscribers: list[AlertCallback] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: AlertCallback) -> Callable[[], None]:
        """Register a callback; returns the function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, alert: dict[str, Any]) -> None:
        """Hand an alert to every subscriber; a failing one is logged and skipped."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(alert)
            except Exception:  # noqa: BLE001 - one broken subscriber must not stop the others
                log.exception("alert subscriber failed")


class WatchlistMonitor:
    """An ingest listener: an event whose plate or person is watched at its site becomes an alert."""

    def __init__(self, engine: Engine, hub: AlertHub) -> None:
        self.engine, self.hub = engine, hub
        self._cache: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Reload the watchlist on the next event (after a change in this process)."""
        self._loaded = float("-inf")

    def _entries(self) -> dict[tuple[str, str, str], list[tuple[int, str]]]:
        with self._lock:
            if time.monotonic() - self._loaded > CACHE_TTL_S:
                cache: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
                with self.engine.connect() as connection:
                    rows = connection.execute(select(WatchlistEntry).where(WatchlistEntry.removed_at.is_(None)))
                    for row in rows:
                        cache.setdefault((row.site_id, row.kind, row.value), []).append((row.id, row.level))
                self._cache, self._loaded = cache, time.monotonic()
            return self._cache

    def __call__(self, event: dict[str, Any]) -> None:
        """Check one stored event row (site, gate, device, person_id, plate, event_id, ts)."""
        entries = self._entries()
        hits = []
        if event.get("plate"):
            hits += entries.get((event["site"], "plate", event["plate"]), [])
        if event.get("person_id"):
            hits += entries.get((event["site"], "person", event["person_id"]), [])
        for entry_id, level in hits:
            alert = {
                "site_id": event["site"],
                "entry_id": entry_id,
                "event_id": event["event_id"],
                "level": level,
                "gate": event.get("gate"),
                "device": event["device"],
                "ts": event["ts"],
            }
            try:
                with self.engine.begin() as connection:
                    alert_id = connection.execute(insert(Alert).values(**alert).returning(Alert.id)).scalar_one()
            except IntegrityError:
                continue  # already raised for this event (another ingest worker or a redelivery)
            log.warning("watchlist hit: entry %d at %s/%s", entry_id, event["site"], event.get("gate"))
            self.hub.publish(
                {
                    "type": "watchlist_hit",
                    "id": alert_id,
                    **alert,
                    "event_id": str(alert["event_id"]),
                    "ts": alert["ts"].isoformat(),
                }
            )


def live_row(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert shaped as the stored-event row server.live fans out (kind 'alarm': managers of the site see it)."""
    return {
        "event_id": alert["event_id"],
        "schema_name": "platform.watchlist-hit",
        "kind": "alarm",
        "site": alert["site_id"],
        "device": alert["device"],
        "gate": alert.get("gate"),
        "ts": alert["ts"],
        "data": {
            "alarm_type": "watchlist_hit",
            "level": alert["level"],
            "alert_id": alert["id"],
            "entry_id": alert["entry_id"],
        },
    }
