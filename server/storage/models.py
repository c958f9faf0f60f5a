"""SQL model of the platform (SQLAlchemy 2 typed mappings): the ingest tables here, the rest in sibling modules.

Importing this module registers every table on Base.metadata (Alembic's target); migrations live in
server/migrations.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage import (  # noqa: F401 - registers their tables
    accounts,
    audit,
    broker_accounts,
    enrolment,
    media,
    people,
    police,
    privacy,
    registry,
    sync,
    visitors,
    watchlists,
)
from server.storage.base import NAMING, Base, BigId

__all__ = ["NAMING", "Base", "BigId", "CommandResultRow", "DeviceState", "Event", "RejectedMessage", "TimeSeriesPoint"]


class Event(Base):
    """One event from a device (access decision, plate read, door state, alarm), stored once by event_id."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    schema_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    gate: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(String(16))
    person_id: Mapped[str | None] = mapped_column(String(64))
    plate: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_events_gate_ts", "gate", "ts"),
        Index("ix_events_person_ts", "person_id", "ts"),
        Index("ix_events_plate_ts", "plate", "ts"),
        Index("ix_events_site_ts", "site", "ts"),
        Index("ix_events_device_seq", "device", "seq"),
    )


class RejectedMessage(Base):
    """A message that failed validation, kept with the reason (payload truncated) for operators."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload_size: Mapped[int] = mapped_column(Integer)
    payload_head: Mapped[str] = mapped_column(Text)


class DeviceState(Base):
    """Last known state of a device, from its status and telemetry messages."""

    __tablename__ = "device_states"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    online: Mapped[bool]
    last_seen: Mapped[datetime]
    software: Mapped[str] = mapped_column(String(64), default="")
    gallery_version: Mapped[int] = mapped_column(Integer, default=0)
    allowlist_version: Mapped[int] = mapped_column(Integer, default=0)
    telemetry: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # what the device said it does (protocol Capability values); NULL: not said (older agents take everything)
    capabilities: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=None)


class CommandResultRow(Base):
    """A device's answer to a command, kept as proof (e.g. of erasure)."""

    __tablename__ = "command_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool]
    error: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class TimeSeriesPoint(Base):
    """The embedded time-series backend: one row per point, tags from an allowlist only."""

    __tablename__ = "ts_points"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    measurement: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    tags: Mapped[dict[str, Any]]
    fields: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_ts_points_measurement_ts", "measurement", "ts"),)
