"""Live fan-out: new events and alerts from the ingest thread to asyncio subscribers, filtered per principal."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

ALERT_KINDS = frozenset({"alarm"})
FULL_VIEW_ROLES = frozenset({"admin", "manager"})
REDACTED_VIEW_ROLES = frozenset({"guard"})
PERSONAL_FIELDS = ("person_id", "plate")
PERSONAL_DATA_FIELDS = ("person_id", "credential_ref", "pass_id", "plate", "vehicle_id")


@dataclass(frozen=True)
class Principal:
    """Who is watching: a role and the sites in scope (None means every site)."""

    subject: str
    role: str
    sites: frozenset[str] | None = None

    def covers(self, site: str) -> bool:
        """Whether the site is inside this principal's scope."""
        return self.sites is None or site in self.sites


def live_view(principal: Principal, item: dict[str, Any]) -> dict[str, Any] | None:
    """What of a live item the principal may see: all of it, a redacted copy, or nothing (None).

    Admins and managers see events of their sites; guards see them without personal identifiers;
    other roles (residents, police) get no live feed: their access goes through audited queries.
    """
    event = item.get("event", {})
    if not principal.covers(str(event.get("site", ""))):
        return None
    if principal.role in FULL_VIEW_ROLES:
        return item
    if principal.role in REDACTED_VIEW_ROLES:
        redacted = {key: (None if key in PERSONAL_FIELDS else value) for key, value in event.items()}
        data = redacted.get("data")
        if isinstance(data, dict):
            redacted["data"] = {key: value for key, value in data.items() if key not in PERSONAL_DATA_FIELDS}
        return {**item, "event": redacted}
    return None


def live_item(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready live item from a stored event row: type 'alert' for alarms, else 'event'."""
    event = {key: _plain(value) for key, value in row.items() if key != "id"}
    return {"type": "alert" if row.get("kind") in ALERT_KINDS else "event", "event": event}


def _plain(value: Any) -> Any:
    """UUIDs and datetimes as strings."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue; when it overflows the oldest items are dropped and counted."""

    principal: Principal
    queue: asyncio.Queue[dict[str, Any]]
    sites: frozenset[str] | None = None
    dropped: int = field(default=0)

    def offer(self, item: dict[str, Any]) -> None:
        """Queue a view of the item if the principal may see it and the subscriber asked for its site."""
        if self.sites is not None and item.get("event", {}).get("site") not in self.sites:
            return
        view = live_view(self.principal, item)
        if view is None:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(view)


class LiveHub:
    """Connects the ingest thread (publish) to subscribers on one asyncio loop (subscribe / unsubscribe)."""

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on this loop from now on (the API's loop, set at start-up)."""
        self._loop = loop

    def unbind(self) -> None:
        """Stop delivering (the loop is shutting down)."""
        self._loop = None

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    def subscribe(self, principal: Principal, sites: frozenset[str] | None = None) -> Subscription:
        """Open a subscription (call on the hub's loop)."""
        subscription = Subscription(principal, asyncio.Queue(self.queue_size), sites)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a subscription."""
        self._subscriptions.discard(subscription)

    def publish(self, row: dict[str, Any]) -> None:
        """Called from any thread (the ingest writer) with a newly stored event row; never blocks."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._subscriptions:
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, live_item(row))
        except RuntimeError:
            log.debug("live loop closed; item dropped")

    def _dispatch(self, item: dict[str, Any]) -> None:
        """Offer an item to every subscription (runs on the loop)."""
        for subscription in list(self._subscriptions):
            subscription.offer(item)
