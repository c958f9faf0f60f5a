"""Versioned lists the edges hold (face gallery, allowlist): a change log per site and what each device was sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now

LISTS = ("gallery", "allowlist")


class SyncChange(Base):
    """One key (person id or credential ref) changed at a version of a site's list; the content is read live."""

    __tablename__ = "sync_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    list_name: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utc_now)

    __table_args__ = (
        CheckConstraint("list_name IN ('gallery', 'allowlist')", name="list_name"),
        Index("ix_sync_changes_site_id_list_name_version", "site_id", "list_name", "version"),
    )


class SyncVersion(Base):
    """The current version of a site's list; the row is locked while a change is recorded."""

    __tablename__ = "sync_versions"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class DeviceSync(Base):
    """What the platform last sent a device for one list, and when (to wait for its answer before re-sending)."""

    __tablename__ = "device_syncs"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(16), default="full")
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    sent_at: Mapped[datetime] = mapped_column(default=utc_now)
    confirmed_version: Mapped[int] = mapped_column(Integer, default=0)


class CredentialValue(Base):
    """What a gate compares a credential with (card number, PIN scrypt hash, plate), AES-GCM encrypted."""

    __tablename__ = "credential_values"

    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True)
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
