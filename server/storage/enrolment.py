"""Face enrolment: consent details (notice, channel, guardian), encrypted templates, erasure requests per edge."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base, BigId
from server.storage.types import utc_now


class ConsentDetail(Base):
    """What makes a face consent valid: who gave it, under which notice, through which channel, guardian."""

    __tablename__ = "consent_details"

    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), primary_key=True)
    given_by: Mapped[str] = mapped_column(String(128))
    notice_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    recorded_by: Mapped[str] = mapped_column(String(128))
    subject_birth_date: Mapped[date | None]
    guardian_name: Mapped[str | None] = mapped_column(String(128))
    guardian_relation: Mapped[str | None] = mapped_column(String(32))
    withdrawn_by: Mapped[str | None] = mapped_column(String(128))


class FaceTemplate(Base):
    """One face template of a person, AES-GCM encrypted (context 'face_templates.vector')."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    template_id: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    vector_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class EraseRequest(Base):
    """An ErasePerson command sent to one edge; its confirmation is the command_results row with request_id."""

    __tablename__ = "erase_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utc_now)
