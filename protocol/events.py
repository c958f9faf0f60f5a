"""Event bodies a device publishes: access decisions, plate reads, door states, alarms."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from protocol.base import Level, OpaqueId, Score, ShortText, WireModel
from protocol.topics import Channel


class Direction(StrEnum):
    """Which way a passage goes."""

    IN = "in"
    OUT = "out"


class Method(StrEnum):
    """How a person or vehicle asked to pass."""

    FACE = "face"
    CARD = "card"
    PIN = "pin"
    QR = "qr"
    PLATE = "plate"
    REMOTE = "remote"


class Result(StrEnum):
    """What the gate decided."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class PlateColour(StrEnum):
    """Background colour of a Chinese plate."""

    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    WHITE = "white"
    BLACK = "black"
    UNKNOWN = "unknown"


class DoorStateName(StrEnum):
    """Observed state of a door."""

    OPEN = "open"
    CLOSED = "closed"
    HELD_OPEN = "held_open"
    FORCED_OPEN = "forced_open"


class AlarmType(StrEnum):
    """Kinds of alarm a device raises."""

    DOOR_HELD_OPEN = "door_held_open"
    DOOR_FORCED_OPEN = "door_forced_open"
    TAILGATING = "tailgating"
    WATCHLIST_HIT = "watchlist_hit"
    UNKNOWN_PERSON = "unknown_person"
    OUTBOX_OVERFLOW = "outbox_overflow"
    TAMPER = "tamper"
    DEVICE_FAULT = "device_fault"
    PIN_LOCKOUT = "pin_lockout"
    PASS_REPLAYED = "pass_replayed"


class Severity(StrEnum):
    """How urgent an alarm is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


PlateText = Annotated[str, StringConstraints(min_length=1, max_length=16)]


class AccessDecision(WireModel):
    """A gate decided to let someone through or not."""

    SCHEMA = "access.decision"
    TOPIC_NAME = "access"

    gate: Level = Field(description="Gate id at the site")
    door: Level | None = Field(default=None, description="Door or barrier driven, if any")
    direction: Direction = Field(description="Passage direction")
    method: Method = Field(description="Credential used")
    result: Result = Field(description="Decision")
    reason: Level = Field(description="Stable reason code, e.g. allowlisted, unknown-card, outside-schedule")
    person_id: OpaqueId | None = Field(default=None, description="Opaque person id, never a name")
    credential_ref: OpaqueId | None = Field(default=None, description="Opaque credential id, never a number")
    pass_id: OpaqueId | None = Field(default=None, description="Visitor pass id for QR passages")
    score: Score | None = Field(default=None, description="Recognition score in [0, 1] for face or plate")
    latency_ms: float | None = Field(default=None, ge=0, description="Capture-to-decision time")


class PlateRead(WireModel):
    """A licence plate read at a vehicle gate."""

    SCHEMA = "plate.read"
    TOPIC_NAME = "plate"

    gate: Level = Field(description="Gate id at the site")
    direction: Direction = Field(description="Vehicle direction")
    plate: PlateText = Field(description="Normalised plate text")
    colour: PlateColour = Field(description="Plate background colour")
    plate_type: Level = Field(description="Plate type code, e.g. ordinary, new-energy, police")
    validated: bool = Field(description="Whether the text matched a plate pattern")
    confidence: Score = Field(description="Recognition confidence")
    vehicle_id: OpaqueId | None = Field(default=None, description="Registered vehicle id, if known")
    frames: int = Field(default=1, ge=1, le=1000, description="Frames voted into this read")


class DoorState(WireModel):
    """A door or barrier changed state."""

    SCHEMA = "door.state"
    TOPIC_NAME = "door"

    door: Level = Field(description="Door or barrier id")
    state: DoorStateName = Field(description="New state")
    open_for_s: float | None = Field(default=None, ge=0, description="Seconds open so far, if open")


class Alarm(WireModel):
    """An alarm raised by a device."""

    SCHEMA = "alarm"
    TOPIC_NAME = "alarm"

    alarm_type: AlarmType = Field(description="Kind of alarm")
    severity: Severity = Field(description="Urgency")
    gate: Level | None = Field(default=None, description="Gate concerned, if any")
    door: Level | None = Field(default=None, description="Door concerned, if any")
    detail: ShortText = Field(default="", description="Human-readable detail without personal data")
    related_event_id: OpaqueId | None = Field(default=None, description="Event that caused it, if any")
    count: int = Field(default=1, ge=1, description="Occurrences folded into this alarm")


EVENT_BODIES: tuple[type[WireModel], ...] = (AccessDecision, PlateRead, DoorState, Alarm)

for _body in EVENT_BODIES:
    assert _body.CHANNEL is Channel.EVENT
