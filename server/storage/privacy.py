"""Privacy engine tables: retention runs, the camera register, data-subject requests, edge retention commands."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now

CAMERA_PURPOSES = ("public_security", "access_control")
REQUEST_KINDS = ("export", "erase")


class RetentionRun(Base):
    """One enforcement run: when, what it deleted per data class (counts only), which edges were told."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    finished_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    files_removed: Mapped[int] = mapped_column(Integer, default=0)
    edge_commands: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class CameraRegistration(Base):
    """A camera's declared purpose (PIPL Art. 26) and whether the public is warned by a sign."""

    __tablename__ = "camera_register"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64), default="")
    gate: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    signage_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    signage_checked_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("site_id", "device", "camera"),
        CheckConstraint("purpose IN ('public_security', 'access_control')", name="purpose"),
    )


class SubjectRequest(Base):
    """A data-subject request (copy or erasure) and, for erasure, the hash of its certificate."""

    __tablename__ = "subject_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    completed_at: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("kind IN ('export', 'erase')", name="kind"),)


class EdgeRetentionCommand(Base):
    """A retention command sent to an edge for its local records; the answer is the command_results row."""

    __tablename__ = "edge_retention_commands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("retention_runs.id", ondelete="SET NULL"), index=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    max_age_s: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[datetime] = mapped_column(default=utc_now)
