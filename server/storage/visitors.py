"""Visitor passes: who invited whom, for which gates and window, once or many times; plate pre-registration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base
from server.storage.types import utc_now


class VisitorPass(Base):
    """An issued pass; the QR token is re-derivable from these fields and the signing key, so it is not stored."""

    __tablename__ = "visitor_passes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    host_person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    visitor_name: Mapped[str] = mapped_column(String(128), default="")
    plate: Mapped[str | None] = mapped_column(String(16), index=True)
    gates: Mapped[dict[str, Any]]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    single_use: Mapped[bool] = mapped_column(Boolean, default=True)
    key_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]
