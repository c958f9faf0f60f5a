"""Broker accounts: one per provisioned device (and per platform service), rendered into mosquitto's files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now

ACCOUNT_KINDS = ("device", "platform")


class BrokerAccount(Base):
    """MQTT credentials: the mosquitto PBKDF2-SHA512 hash only, never the password."""

    __tablename__ = "broker_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    device_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("kind IN ('device', 'platform')", name="kind"),)
