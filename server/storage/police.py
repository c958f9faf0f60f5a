"""Police link tables: authorisations (two-person rule), who may approve, and the durable push queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now

AUTHORISATION_STATES = ("pending", "approved", "refused", "revoked")
PUSH_STATES = ("pending", "delivered", "rejected")


class PoliceAuthorisation(Base):
    """A police request for records: case, legal basis, purpose, scope, window, expiry and its decision."""

    __tablename__ = "police_authorisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    legal_basis: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    scope: Mapped[dict[str, Any]]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(default=utc_now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in AUTHORISATION_STATES)})", name="status"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="two_persons"),
        CheckConstraint("window_end > window_start", name="window"),
    )


class PoliceApprover(Base):
    """A user granted the right to approve or refuse police requests (compliance officer)."""

    __tablename__ = "police_approvers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(default=utc_now)


class PolicePushItem(Base):
    """One object waiting for (or past) delivery to the police endpoint; `idempotency_key` makes it unique."""

    __tablename__ = "police_push_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    subscription: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in PUSH_STATES)})", name="status"),
        Index("ix_police_push_items_status_next_attempt_at", "status", "next_attempt_at"),
    )


class PoliceCursor(Base):
    """How far the push collector has looked, per source (alerts, alarms)."""

    __tablename__ = "police_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[datetime]
