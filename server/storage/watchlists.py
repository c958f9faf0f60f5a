"""Watchlists (plates and persons with an alert level) and the alerts raised when one is seen at a gate."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now

WATCH_KINDS = ("plate", "person")
ALERT_LEVELS = ("info", "warning", "critical")


class WatchlistEntry(Base):
    """A plate or person to watch for at one site's gates."""

    __tablename__ = "watchlist_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    removed_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("kind IN ('plate', 'person')", name="kind"),
        CheckConstraint("level IN ('info', 'warning', 'critical')", name="level"),
        Index("ix_watchlist_entries_kind_value", "kind", "value"),
    )


class Alert(Base):
    """A watchlist hit: which entry, which event, at which gate; acknowledged by a manager."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("watchlist_entries.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    level: Mapped[str] = mapped_column(String(16))
    gate: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("entry_id", "event_id"),)
