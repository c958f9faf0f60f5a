"""The `privacy` config section: retention per data class, checked against the legal floors and ceilings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class DataClass(StrEnum):
    """The kinds of personal data the platform keeps, each with its own retention."""

    RESIDENT_ACCESS = "resident_access_events"
    VISITOR_RECORDS = "visitor_records"
    UNREGISTERED_PLATES = "unregistered_plate_reads"
    UNKNOWN_FACE_SNAPSHOTS = "unknown_face_snapshots"
    ALARMS = "alarms"
    FACE_TEMPLATES = "face_templates"
    AUDIT_LOG = "audit_log"
    SECURITY_LOGS = "security_logs"


@dataclass(frozen=True)
class LegalBound:
    """The shortest and longest retention (days) a data class may be configured with, and the rule behind each."""

    floor_days: int
    floor_rule: str
    ceiling_days: int
    ceiling_rule: str


ART19 = "PIPL Art. 19 (shortest period necessary; ceiling set by this platform)"
BOUNDS: dict[DataClass, LegalBound] = {
    DataClass.RESIDENT_ACCESS: LegalBound(1, "a day's records are needed to operate the gates", 180, ART19),
    DataClass.VISITOR_RECORDS: LegalBound(1, "a day's records are needed to operate the gates", 90, ART19),
    DataClass.UNREGISTERED_PLATES: LegalBound(1, "a day's records are needed to settle parking", 90, ART19),
    DataClass.UNKNOWN_FACE_SNAPSHOTS: LegalBound(
        1, "a day's snapshots are needed to review an alarm", 30, "PIPL Art. 19 and Art. 28 (sensitive data)"
    ),
    DataClass.ALARMS: LegalBound(30, "alarms must stay reviewable for a month", 365, ART19),
    DataClass.FACE_TEMPLATES: LegalBound(
        0, "templates may go at once", 30, "PIPL Art. 19 and Art. 47 (delete when the purpose ends)"
    ),
    DataClass.AUDIT_LOG: LegalBound(1095, "the 3-year floor of PIPL Art. 55-56", 3650, ART19),
    DataClass.SECURITY_LOGS: LegalBound(180, "the 180-day floor of Cybersecurity Law Art. 21", 730, ART19),
}
DEFAULT_DAYS: dict[DataClass, int] = {
    DataClass.RESIDENT_ACCESS: 90,
    DataClass.VISITOR_RECORDS: 30,
    DataClass.UNREGISTERED_PLATES: 30,
    DataClass.UNKNOWN_FACE_SNAPSHOTS: 7,
    DataClass.ALARMS: 180,
    DataClass.FACE_TEMPLATES: 0,
    DataClass.AUDIT_LOG: 1095,
    DataClass.SECURITY_LOGS: 180,
}


def check_retention(data_class: DataClass, days: int) -> None:
    """Refuse a retention outside the legal bounds of its class; the message cites the rule."""
    bound = BOUNDS[data_class]
    if days < bound.floor_days:
        raise ValueError(
            f"{data_class.value} retention {days} days is below the {bound.floor_days}-day floor: {bound.floor_rule}"
        )
    if days > bound.ceiling_days:
        raise ValueError(
            f"{data_class.value} retention {days} days is above the {bound.ceiling_days}-day ceiling of "
            f"{bound.ceiling_rule}"
        )


class RetentionSettings(BaseModel):
    """Days each data class is kept (face templates: days after the person leaves; withdrawal erases at once)."""

    model_config = ConfigDict(extra="forbid")

    resident_access_events: int = Field(
        default=DEFAULT_DAYS[DataClass.RESIDENT_ACCESS], description="Residents' passages (card, PIN, face, plate)"
    )
    visitor_records: int = Field(
        default=DEFAULT_DAYS[DataClass.VISITOR_RECORDS], description="Visitor passes (after expiry) and QR passages"
    )
    unregistered_plate_reads: int = Field(
        default=DEFAULT_DAYS[DataClass.UNREGISTERED_PLATES], description="Plate reads of vehicles not registered here"
    )
    unknown_face_snapshots: int = Field(
        default=DEFAULT_DAYS[DataClass.UNKNOWN_FACE_SNAPSHOTS], description="Snapshot images (unknown face, alarms)"
    )
    alarms: int = Field(default=DEFAULT_DAYS[DataClass.ALARMS], description="Alarm events")
    face_templates: int = Field(
        default=DEFAULT_DAYS[DataClass.FACE_TEMPLATES], description="Days templates outlive the person's last stay"
    )
    audit_log: int = Field(default=DEFAULT_DAYS[DataClass.AUDIT_LOG], description="Audit entries and erasure receipts")
    security_logs: int = Field(
        default=DEFAULT_DAYS[DataClass.SECURITY_LOGS], description="Door states and rejected device messages"
    )

    @field_validator("*")
    @classmethod
    def _within_legal_bounds(cls, value: int, info: ValidationInfo) -> int:
        """Each class within its floor and ceiling."""
        check_retention(DataClass(info.field_name), value)
        return value

    def days(self, data_class: DataClass) -> int:
        """Configured days of one class."""
        return int(getattr(self, data_class.value))


class FilingSettings(BaseModel):
    """Face Recognition Measures 2025: filing with the provincial regulator from 100,000 people's face data."""

    model_config = ConfigDict(extra="forbid")

    warning_at: int = Field(default=90_000, ge=1, description="Face subjects at which the report warns")
    alert_at: int = Field(default=100_000, ge=1, description="Face subjects at which filing is due (alert)")


class PrivacySettings(BaseModel):
    """Retention, erasure, enforcement and audit anchoring."""

    model_config = ConfigDict(extra="forbid")

    retention: RetentionSettings = Field(default_factory=RetentionSettings, description="Days per data class")
    erased_events: Literal["delete", "pseudonymise"] = Field(
        default="pseudonymise",
        description="On erasure, delete the person's events or keep them with the person unlinkable",
    )
    timeseries_retention: str = Field(
        default="400d", pattern=r"^\d+[hdw]$", description="Time-series retention (no personal identifiers)"
    )
    batch_size: int = Field(default=5000, ge=100, le=50000, description="Rows deleted per transaction")
    batch_pause_ms: int = Field(default=5, ge=0, le=5000, description="Pause between batches so ingest keeps pace")
    enforce_interval_s: float = Field(
        default=3600.0, ge=0, description="Seconds between enforcement runs inside the API process (0 = off)"
    )
    snapshot_root: Path = Field(default=Path("var/snapshots"), description="Folder that holds snapshot files")
    audit_anchor_file: Path | None = Field(
        default=Path("var/audit-anchor.json"),
        description="File outside the database recording the audit chain's head, so deleted tail entries show",
    )
    filing: FilingSettings = Field(default_factory=FilingSettings, description="Face-data filing thresholds")
    controller: str = Field(default="", description="Name of the personal information handler, for the PIA")
    contact: str = Field(default="", description="Privacy contact (person or mailbox), for the PIA")
