"""The durable push queue: idempotent enqueue, leased claims, delivered only after a 2xx, back-off on failure."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from server.police.settings import PushSettings
from server.storage.audit import append_audit
from server.storage.police import PolicePushItem

log = logging.getLogger(__name__)
PUSH_ACTOR = "system:police-push"
LEASE_S = 120.0


@dataclass(frozen=True)
class QueuedItem:
    """A claimed item: what to send where, under which idempotency key."""

    id: int
    idempotency_key: str
    subscription: str
    resource: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def enqueue(
    connection: Connection, key: str, subscription: str, resource: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Add an item unless its key is already queued (or was delivered); True when added."""
    if connection.execute(select(PolicePushItem.id).where(PolicePushItem.idempotency_key == key)).first():
        return False
    values = {
        "idempotency_key": key,
        "subscription": subscription,
        "resource": resource,
        "payload": payload,
        "created_at": now,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
    }
    try:
        with connection.begin_nested():
            connection.execute(insert(PolicePushItem).values(**values))
    except IntegrityError:
        return False  # another platform process queued it first
    return True


def claim_due(engine: Engine, batch: int, now: datetime | None = None) -> list[QueuedItem]:
    """Lease up to `batch` due items, oldest first; a lease keeps other processes from sending them too."""
    now = now or datetime.now(UTC)
    due = (
        select(PolicePushItem.id)
        .where(
            PolicePushItem.status == "pending",
            PolicePushItem.next_attempt_at <= now,
            or_(PolicePushItem.lease_until.is_(None), PolicePushItem.lease_until < now),
        )
        .order_by(PolicePushItem.id)
        .limit(batch)
    )
    claimed: list[QueuedItem] = []
    with engine.begin() as connection:
        for item_id in list(connection.execute(due).scalars()):
            won = connection.execute(
                update(PolicePushItem)
                .where(
                    PolicePushItem.id == item_id,
                    PolicePushItem.status == "pending",
                    or_(PolicePushItem.lease_until.is_(None), PolicePushItem.lease_until < now),
                )
                .values(lease_until=now + timedelta(seconds=LEASE_S))
            ).rowcount
            if won == 1:
                row = connection.execute(select(PolicePushItem.__table__).where(PolicePushItem.id == item_id)).one()
                claimed.append(
                    QueuedItem(
                        row.id,
                        row.idempotency_key,
                        row.subscription,
                        row.resource,
                        row.payload,
                        row.attempts,
                        row.created_at,
                    )
                )
    return claimed


def release(engine: Engine, items: list[QueuedItem]) -> None:
    """Give back leases without counting an attempt (the round stopped before trying them)."""
    if not items:
        return
    with engine.begin() as connection:
        connection.execute(
            update(PolicePushItem).where(PolicePushItem.id.in_([i.id for i in items])).values(lease_until=None)
        )


def mark_delivered(engine: Engine, item: QueuedItem, status_code: int, object_id: str, now: datetime | None = None):
    """Record a 2xx: the item is done, and the push is audited (what, when, subscription)."""
    now = now or datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            update(PolicePushItem)
            .where(PolicePushItem.id == item.id)
            .values(status="delivered", delivered_at=now, attempts=item.attempts + 1, lease_until=None, last_error="")
        )
        detail = {
            "subscription": item.subscription,
            "resource": item.resource,
            "object_id": object_id,
            "attempts": item.attempts + 1,
            "status_code": status_code,
            "queued_at": item.created_at.isoformat(),
        }
        append_audit(connection, PUSH_ACTOR, "police.push", f"police_push:{item.idempotency_key}", detail, ts=now)


def backoff_s(attempts: int, settings: PushSettings) -> float:
    """Exponential back-off with a little jitter, capped."""
    delay = min(settings.retry_base_s * 2 ** max(attempts - 1, 0), settings.retry_max_s)
    return delay * random.uniform(0.9, 1.0)


def mark_failed(
    engine: Engine, item: QueuedItem, error: str, retryable: bool, settings: PushSettings, now: datetime | None = None
) -> str:
    """Schedule a retry after back-off; an item refused (4xx) `reject_after` times is parked as rejected."""
    now = now or datetime.now(UTC)
    attempts = item.attempts + 1
    rejected = not retryable and attempts >= settings.reject_after
    values: dict[str, Any] = {"attempts": attempts, "lease_until": None, "last_error": error[:2000]}
    if rejected:
        values["status"] = "rejected"
    else:
        values["next_attempt_at"] = now + timedelta(seconds=backoff_s(attempts, settings))
    with engine.begin() as connection:
        connection.execute(update(PolicePushItem).where(PolicePushItem.id == item.id).values(**values))
        if rejected:
            detail = {"subscription": item.subscription, "resource": item.resource, "error": error[:500]}
            subject = f"police_push:{item.idempotency_key}"
            append_audit(connection, PUSH_ACTOR, "police.push.rejected", subject, detail, ts=now)
    log.warning("police push %s failed (attempt %d): %s", item.idempotency_key, attempts, error)
    return "rejected" if rejected else "retry"


def queue_status(engine: Engine) -> dict[str, Any]:
    """Counts by status and the oldest pending item's age (for operators and health)."""
    with engine.connect() as connection:
        counts = dict(
            connection.execute(select(PolicePushItem.status, func.count()).group_by(PolicePushItem.status)).all()
        )
        oldest = connection.execute(
            select(func.min(PolicePushItem.created_at)).where(PolicePushItem.status == "pending")
        ).scalar()
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else None
    return {
        "pending": counts.get("pending", 0),
        "delivered": counts.get("delivered", 0),
        "rejected": counts.get("rejected", 0),
        "oldest_pending_age_s": age,
    }
