"""Access configuration: doors and barriers, the methods each accepts, group schedules, PIN and pass policy."""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.access.errors import AccessConfigError
from protocol.errors import TopicError
from protocol.events import Direction, Method
from protocol.topics import check_level

FACE_ONLY_RULE = (
    "face recognition may not be the only way through a door: offer card, PIN or QR as well "
    "(Face Recognition Technology Application Security Measures 2025, non-sole-verification rule; "
    "Supreme People's Court provisions on face recognition cases 2021, Art. 10)"
)
PERSON_METHODS = frozenset({Method.CARD, Method.PIN, Method.QR})
VEHICLE_METHODS = PERSON_METHODS | {Method.PLATE}


def _level(value: str) -> str:
    """A topic-level style id (a-z, 0-9, '-')."""
    try:
        return check_level(value, "id")
    except TopicError as err:
        raise ValueError(str(err)) from err


LevelId = Annotated[str, AfterValidator(_level)]


class Weekday(StrEnum):
    """Days of the week, as schedules name them."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEK = list(Weekday)


class _Strict(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(_Strict):
    """A daily window on some weekdays; end <= start runs past midnight, start == end is the whole day."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEK), min_length=1, description="Weekdays it opens on")
    start: time = Field(description="Local start time, HH:MM")
    end: time = Field(description="Local end time, HH:MM (exclusive)")


class Schedule(_Strict):
    """When an access group may pass: any of its windows, in the site's timezone."""

    windows: list[TimeWindow] = Field(min_length=1, description="Windows in which the group may pass")


ALWAYS = Schedule(windows=[TimeWindow(start=time(0), end=time(0))])


def default_schedules() -> dict[str, Schedule]:
    """Residents any time, staff 06:00-23:00, visitors 07:00-22:00, deliveries 08:00-21:00."""
    return {
        "residents": ALWAYS,
        "staff": Schedule(windows=[TimeWindow(start=time(6), end=time(23))]),
        "visitors": Schedule(windows=[TimeWindow(start=time(7), end=time(22))]),
        "delivery": Schedule(windows=[TimeWindow(start=time(8), end=time(21))]),
    }


class DoorKind(StrEnum):
    """A pedestrian door or a vehicle barrier."""

    DOOR = "door"
    BARRIER = "barrier"


class FailMode(StrEnum):
    """What the lock does when power or the controller fails."""

    FAIL_SAFE = "fail_safe"  # unlocks (maglock, energised to lock): fire egress
    FAIL_SECURE = "fail_secure"  # stays locked (strike energised to unlock)


class DoorConfig(_Strict):
    """One door or barrier of a gate and how it may be opened."""

    id: LevelId = Field(description="Door or barrier id, unique on the device")
    gate: LevelId = Field(description="Gate the door belongs to")
    kind: DoorKind = Field(default=DoorKind.DOOR, description="Pedestrian door or vehicle barrier")
    direction: Direction = Field(default=Direction.IN, description="Passage direction through this reader")
    methods: list[Method] = Field(min_length=1, description="Credentials accepted; face never alone")
    groups: list[LevelId] | None = Field(default=None, description="Access groups allowed here; null = all")
    pulse_ms: int = Field(default=3000, ge=100, le=60000, description="How long a grant unlocks the door")
    held_open_s: float = Field(default=30.0, gt=0, le=3600, description="Open longer than this raises an alarm")
    forced_grace_s: float = Field(
        default=1.0, ge=0, le=30, description="Seconds after relocking during which opening is not forced"
    )
    fail_mode: FailMode = Field(default=FailMode.FAIL_SECURE, description="Lock behaviour on power loss")
    relock_on_close: bool = Field(default=True, description="Relock as soon as the door closes after a grant")
    anti_passback: bool = Field(default=False, description="Refuse an entry by someone already inside")
    vehicle_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Barrier: lower again if no vehicle arrives within this time"
    )
    barrier_close_s: float = Field(
        default=3.0, ge=0, le=30, description="Barrier: seconds the arm takes to come down (tailgating window)"
    )

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, methods: list[Method]) -> list[Method]:
        """A method listed twice is a typo."""
        if len(set(methods)) != len(methods):
            raise ValueError("methods are listed more than once")
        return methods

    @model_validator(mode="after")
    def _lawful_methods(self) -> DoorConfig:
        """Refuse face as the only method, and plates at pedestrian doors."""
        alternatives = VEHICLE_METHODS if self.kind is DoorKind.BARRIER else PERSON_METHODS
        if Method.FACE in self.methods and not alternatives & set(self.methods):
            raise ValueError(f"door {self.id!r}: {FACE_ONLY_RULE}")
        if not alternatives & set(self.methods) and Method.FACE not in self.methods:
            raise ValueError(f"door {self.id!r} accepts no credential a person can present")
        if self.kind is DoorKind.DOOR and Method.PLATE in self.methods:
            raise ValueError(f"door {self.id!r}: plates open barriers, not pedestrian doors")
        return self


class PinPolicy(_Strict):
    """Lock-out of keypads and accounts after wrong PINs."""

    max_failures: int = Field(default=5, ge=1, le=100, description="Wrong PINs that trigger a lock-out")
    window_s: float = Field(default=300.0, gt=0, description="Window in which the failures are counted")
    lockout_s: float = Field(default=900.0, gt=0, description="How long the account and keypad stay locked")


class PassPolicy(_Strict):
    """Offline verification of QR visitor passes."""

    public_keys: dict[str, str] = Field(
        default_factory=dict, description="Platform pass keys by key id: base64url raw Ed25519 or PEM"
    )
    clock_skew_s: float = Field(default=60.0, ge=0, le=3600, description="Tolerated clock difference")
    used_store: Path = Field(default=Path("var/used-passes.db"), description="SQLite file of used single passes")
    group: LevelId = Field(default="visitors", description="Access group whose schedule applies to passes")


class AccessConfig(_Strict):
    """Everything the access layer of one edge device needs."""

    site: LevelId = Field(description="Site (community) id, as in topics")
    timezone: str = Field(default="Asia/Shanghai", description="IANA timezone of the schedules")
    face_min_score: float = Field(default=0.6, ge=0, le=1, description="Smallest face match score that grants")
    plate_min_score: float = Field(default=0.8, ge=0, le=1, description="Smallest plate read confidence that grants")
    plate_serial_match_below: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="A plate not allowlisted as read, whose province character is less sure than this, is matched "
        "on the rest of its text when exactly one allowlisted plate has that serial (0, the default: never)",
    )
    schedules: dict[str, Schedule] = Field(default_factory=default_schedules, description="Schedules by group")
    doors: list[DoorConfig] = Field(min_length=1, description="Doors and barriers this device drives")
    pin: PinPolicy = Field(default_factory=PinPolicy, description="PIN lock-out policy")
    passes: PassPolicy = Field(default_factory=PassPolicy, description="QR visitor pass policy")
    anti_passback_reset_s: float | None = Field(
        default=43200.0, gt=0, description="Forget that someone is inside after this long (null: never)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        """The timezone must exist in the tz database."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown timezone {name!r}") from err
        return name

    @model_validator(mode="after")
    def _consistent(self) -> AccessConfig:
        """Door ids are unique and every group a door names has a schedule."""
        ids = [door.id for door in self.doors]
        if len(set(ids)) != len(ids):
            raise ValueError("door ids must be unique")
        for door in self.doors:
            missing = set(door.groups or ()) - set(self.schedules)
            if missing:
                raise ValueError(f"door {door.id!r} names groups without a schedule: {sorted(missing)}")
        return self

    def door(self, door_id: str) -> DoorConfig:
        """The door with this id (KeyError if none)."""
        for door in self.doors:
            if door.id == door_id:
                return door
        raise KeyError(door_id)


def parse_access_config(data: dict, source: str = "<config>") -> AccessConfig:
    """Validate a mapping; errors name the source and the field."""
    try:
        return AccessConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}" for error in err.errors()
        )
        raise AccessConfigError(f"{source}: {problems}") from err


def load_access_config(path: Path | str) -> AccessConfig:
    """Read and validate an access config from YAML."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise AccessConfigError(f"{path}: cannot read access config: {err}") from err
    if not isinstance(data, dict):
        raise AccessConfigError(f"{path}: access config must be a mapping")
    return parse_access_config(data, str(path))
