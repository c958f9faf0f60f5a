"""Snapshots: references to image files kept only as long as the retention policy allows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId


class Snapshot(Base):
    """A stored image (unknown face at a gate, alarm) by file reference and digest, never inline."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    site: Mapped[str] = mapped_column(String(64))
    gate: Mapped[str | None] = mapped_column(String(64))
    taken_at: Mapped[datetime]
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64), default="image/jpeg")
    expires_at: Mapped[datetime] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]
