"""The gate agent's root configuration: one validated model, loaded from YAML; secrets come from the environment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.access.config import AccessConfig, DoorKind, FailMode, PinPolicy, Schedule, default_schedules
from edge.access.errors import PassKeyError
from edge.access.policy import serial_match_applies
from edge.access.qr_pass import load_public_key
from edge.device_settings import (
    CardReaderSettings,
    Ident,
    KeypadSettings,
    RelaySettings,
    SensorSettings,
    SimulationSettings,
)
from edge.vision.face_config import FacePipelineConfig
from edge.vision.plate_voting import PlateVoteConfig
from edge.vision.plates import PlateRead, PlateRecogniserConfig
from protocol.broker import BrokerSettings
from protocol.commands import COMMAND_MAX_BYTES
from protocol.events import Direction, Method


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file (or source) and the field."""


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class CameraRole(StrEnum):
    """What a camera is used to recognise."""

    FACE = "face"
    PLATE = "plate"
    BOTH = "both"
    QR = "qr"  # visitor passes only (every camera reads passes when its door accepts qr)


class MotionSettings(Strict):
    """Motion gating: recognition runs only while something moves in front of the camera."""

    enabled: bool = Field(default=True, description="Gate recognition on motion; false = recognise every frame")
    width: int = Field(default=160, ge=32, le=1920, description="Width of the grey thumbnail compared between frames")
    pixel_threshold: int = Field(default=25, ge=1, le=255, description="Grey-level change that counts as motion")
    min_changed_fraction: float = Field(
        default=0.004, gt=0, le=1, description="Fraction of thumbnail pixels that must change to count as motion"
    )
    hold_s: float = Field(default=2.0, ge=0, description="Keep recognising this long after the last motion")
    background_alpha: float = Field(
        default=0.1, gt=0, le=1, description="Weight of the newest frame in the running background average"
    )


class CameraSettings(Strict):
    """One camera: where frames come from and what the agent does with them."""

    id: Ident = Field(description="Camera id on this device (a topic level)")
    source: str | int = Field(description="RTSP/HTTP URL, video file path, or USB camera index")
    role: CameraRole = Field(description="Recognise faces, plates or both on this camera")
    gate: Ident = Field(description="Gate (from `gates`) this camera watches")
    loop: bool = Field(default=False, description="Restart a video file at its end (demo and tests)")
    realtime: bool = Field(default=True, description="Pace a video file at its own frame rate")
    max_recognition_fps: float = Field(default=5.0, gt=0, le=120, description="Most frames recognised per second")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First wait before reopening a failed source")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest wait between reopen attempts")
    motion: MotionSettings = Field(default_factory=MotionSettings, description="Motion gating")

    @model_validator(mode="after")
    def _backoff(self) -> CameraSettings:
        """The backoff range must be ordered."""
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class DoorSettings(Strict):
    """A door or barrier the agent drives, its hardware and how it may be opened."""

    id: Ident = Field(description="Door or barrier id (a topic level)")
    kind: DoorKind | None = Field(
        default=None, description="door or barrier; null = barrier when a plate camera watches its gate, else door"
    )
    methods: list[Method] | None = Field(
        default=None,
        description="Credentials accepted (face never alone); null = card, plus pin with a keypad, face or plate "
        "with such a camera, qr with a camera when pass keys are set",
    )
    groups: list[Ident] | None = Field(default=None, description="Access groups allowed here; null = all")
    relay: RelaySettings = Field(default_factory=RelaySettings, description="Relay driver")
    sensor: SensorSettings | None = Field(
        default=None, description="Door contact (door) or safety loop (barrier); null = none, so no door alarms"
    )
    pulse_ms: int = Field(default=3000, ge=100, le=60000, description="How long a grant unlocks the door")
    held_open_s: float = Field(default=30.0, gt=0, le=3600, description="Open longer than this raises an alarm")
    forced_grace_s: float = Field(
        default=1.0, ge=0, le=30, description="Seconds after relocking during which an opening is not forced"
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


class GateSettings(Strict):
    """A passage point: which door it opens and which way people or vehicles go through it."""

    id: Ident = Field(description="Gate id at the site (a topic level)")
    door: Ident = Field(description="Door (from `doors`) opened on a granted passage")
    direction: Direction = Field(default=Direction.IN, description="Passage direction at this gate")


class FaceSettings(Strict):
    """Face recognition: the pipeline settings and the encrypted gallery kept on this device."""

    pipeline: FacePipelineConfig = Field(default_factory=FacePipelineConfig, description="Face pipeline settings")
    gallery_file: Path = Field(default=Path("gallery.bin"), description="Encrypted gallery file (under data_dir)")
    key_env: str = Field(default="SC_FACE_GALLERY_KEY", description="Environment variable holding the gallery key")
    key_file: Path | None = Field(default=None, description="File with the gallery key when the variable is unset")


class PlateSettings(Strict):
    """Plate recognition: recogniser, multi-frame vote and when a vehicle passage ends."""

    recogniser: PlateRecogniserConfig = Field(default_factory=PlateRecogniserConfig, description="Recogniser")
    vote: PlateVoteConfig = Field(default_factory=PlateVoteConfig, description="Multi-frame vote per vehicle")
    passage_gap_s: float = Field(default=3.0, gt=0, description="A passage ends after this long without a read")


class DecisionPolicy(Strict):
    """How recognition results become access decisions."""

    face_requires_liveness: bool = Field(
        default=False, description="Grant by face only when a liveness check actually ran and passed"
    )
    plate_min_confidence: float = Field(default=0.8, ge=0, le=1, description="Least voted confidence to decide")
    plate_requires_validated: bool = Field(default=True, description="Decide only on plates matching a pattern")
    plate_serial_match_below: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Province-character confidence below which an unknown plate is matched on the rest of its text, "
        "when exactly one allowlisted plate has it (0, the default: exact plates only). It admits registered cars "
        "whose province was misread, and an unregistered car whose serial a registered car of another province "
        "shares (see bench/plate_robustness.py)",
    )

    unknown_person_alarm: bool = Field(default=True, description="Raise an alarm for an unknown face at a gate")
    watchlist_alarm: bool = Field(default=True, description="Raise an alarm when a watchlisted credential appears")

    def plate_decidable(self, read: PlateRead) -> bool:
        """Whether a voted plate is sure enough to decide on: as a whole or, with the serial match on, in
        everything but an unsure province character."""
        if read.confidence >= self.plate_min_confidence:
            return True
        return serial_match_applies(
            read.province_confidence, read.serial_confidence, self.plate_min_confidence, self.plate_serial_match_below
        )


class PassSettings(Strict):
    """Offline verification of QR visitor passes shown to the cameras."""

    public_keys: dict[str, str] = Field(
        default_factory=dict, description="Platform pass keys by key id: base64url raw Ed25519 or PEM"
    )
    clock_skew_s: float = Field(default=60.0, ge=0, le=3600, description="Tolerated clock difference")
    used_store: Path = Field(default=Path("used-passes.db"), description="SQLite file of used passes (under data_dir)")
    group: Ident = Field(default="visitors", description="Access group whose schedule applies to passes")
    repeat_s: float = Field(
        default=5.0, gt=0, le=600, description="A pass in view is decided again only after this long out of view"
    )

    @field_validator("public_keys")
    @classmethod
    def _keys_load(cls, keys: dict[str, str]) -> dict[str, str]:
        """Every key must be an Ed25519 public key."""
        for key_id, text in keys.items():
            try:
                load_public_key(text)
            except PassKeyError as err:
                raise ValueError(f"key {key_id!r}: {err}") from err
        return keys


class AccessSettings(Strict):
    """Access policy: schedules per group, PIN lock-out, visitor passes, anti-passback."""

    timezone: str = Field(default="Asia/Shanghai", description="IANA timezone of the schedules")
    face_min_score: float = Field(
        default=0.0, ge=0, le=1, description="Least face score (1 - distance) that grants, on top of the matcher's"
    )
    schedules: dict[str, Schedule] = Field(default_factory=default_schedules, description="Schedules by group")
    pin: PinPolicy = Field(default_factory=PinPolicy, description="PIN lock-out policy")
    passes: PassSettings = Field(default_factory=PassSettings, description="QR visitor passes")
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


class OutboxSettings(Strict):
    """The durable outbox and its bounds (oldest events are dropped first, counted and alarmed)."""

    file: Path = Field(default=Path("outbox.db"), description="SQLite file (under data_dir)")
    max_events: int = Field(default=100_000, ge=10, description="Most events kept while the broker is unreachable")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=64 * 1024, description="Most payload bytes kept")
    max_age_s: float = Field(default=7 * 86400, gt=0, description="Events older than this are dropped")
    window: int = Field(default=500, ge=1, le=10000, description="Events published but not yet acknowledged")
    alarm_interval_s: float = Field(default=60.0, ge=0, description="Least time between two overflow alarms")
    confirm: Literal["stored", "broker"] = Field(
        default="stored",
        description="An event leaves the outbox when the platform's receipt names it (stored) or on PUBACK (broker)",
    )
    receipt_timeout_s: float = Field(
        default=60.0, ge=1, le=900, description="Wait for a receipt before publishing again (doubles per attempt)"
    )


class TelemetrySettings(Strict):
    """Periodic health figures."""

    interval_s: float = Field(default=30.0, ge=0.2, le=3600, description="Seconds between telemetry messages")


class CommandSettings(Strict):
    """Remote commands."""

    max_bytes: int = Field(default=COMMAND_MAX_BYTES, ge=1024, le=COMMAND_MAX_BYTES, description="Largest command")


class EdgeConfig(Strict):
    """Root configuration of one gate agent."""

    site: Ident = Field(description="Site (community) id")
    device: Ident = Field(description="This device's id (its broker user name is usually the same)")
    data_dir: Path = Field(default=Path("var/edge"), description="Folder for the outbox, allowlist and gallery")
    broker: BrokerSettings = Field(default_factory=BrokerSettings, description="MQTT broker")
    doors: list[DoorSettings] = Field(default_factory=list, max_length=16, description="Doors and barriers")
    gates: list[GateSettings] = Field(default_factory=list, max_length=16, description="Gates of this device")
    cameras: list[CameraSettings] = Field(default_factory=list, max_length=16, description="Cameras")
    card_readers: list[CardReaderSettings] = Field(default_factory=list, max_length=16, description="Card readers")
    keypads: list[KeypadSettings] = Field(default_factory=list, max_length=16, description="PIN keypads")
    faces: FaceSettings | None = Field(default=None, description="Face recognition; null = off")
    plates: PlateSettings | None = Field(default=None, description="Plate recognition; null = off")
    decision: DecisionPolicy = Field(default_factory=DecisionPolicy, description="Decision policy")
    access: AccessSettings = Field(default_factory=AccessSettings, description="Access policy")
    simulation: SimulationSettings | None = Field(
        default=None, description="Control file for simulated devices; null = off"
    )
    outbox: OutboxSettings = Field(default_factory=OutboxSettings, description="Outbox and its bounds")
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings, description="Telemetry")
    commands: CommandSettings = Field(default_factory=CommandSettings, description="Remote commands")

    @model_validator(mode="after")
    def _references(self) -> EdgeConfig:
        """Ids are unique, every reference exists, each door has one gate, and the access policy is lawful."""
        for name in ("doors", "gates", "cameras", "card_readers", "keypads"):
            ids = [item.id for item in getattr(self, name)]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{name}: duplicate id {duplicates[0]!r}")
        doors = {door.id for door in self.doors}
        gates = {gate.id for gate in self.gates}
        for index, gate in enumerate(self.gates):
            if gate.door not in doors:
                raise ValueError(f"gates.{index}.door: {gate.door!r} is not one of doors {sorted(doors)}")
        for index, door in enumerate(self.doors):
            users = [gate.id for gate in self.gates if gate.door == door.id]
            if len(users) != 1:
                raise ValueError(f"doors.{index}: a door belongs to exactly one gate, {door.id!r} to {users}")
        for name in ("cameras", "card_readers", "keypads"):
            for index, item in enumerate(getattr(self, name)):
                if item.gate not in gates:
                    raise ValueError(f"{name}.{index}.gate: {item.gate!r} is not one of gates {sorted(gates)}")
        for index, camera in enumerate(self.cameras):
            if camera.role in (CameraRole.FACE, CameraRole.BOTH) and self.faces is None:
                raise ValueError(f"cameras.{index}.role: {camera.role.value} needs the faces section")
            if camera.role in (CameraRole.PLATE, CameraRole.BOTH) and self.plates is None:
                raise ValueError(f"cameras.{index}.role: {camera.role.value} needs the plates section")
            if camera.role is CameraRole.QR and not self.access.passes.public_keys:
                raise ValueError(f"cameras.{index}.role: qr needs access.passes.public_keys")
        self.access_config()
        return self

    def gate_of(self, door_id: str) -> GateSettings:
        """The gate a door belongs to."""
        return next(gate for gate in self.gates if gate.door == door_id)

    def access_config(self) -> AccessConfig | None:
        """The access layer's view of these doors (None without doors); ValueError naming the field if unlawful."""
        if not self.doors:
            return None
        document = {
            "site": self.site,
            "timezone": self.access.timezone,
            "face_min_score": self.access.face_min_score,
            "plate_min_score": self.decision.plate_min_confidence,
            "plate_serial_match_below": self.decision.plate_serial_match_below,
            "schedules": self.access.schedules,
            "doors": [self._door_document(door) for door in self.doors],
            "pin": self.access.pin,
            "passes": {
                "public_keys": self.access.passes.public_keys,
                "clock_skew_s": self.access.passes.clock_skew_s,
                "used_store": self.path(self.access.passes.used_store),
                "group": self.access.passes.group,
            },
            "anti_passback_reset_s": self.access.anti_passback_reset_s,
        }
        try:
            return AccessConfig.model_validate(document)
        except ValidationError as err:
            item = err.errors()[0]
            location = ".".join(str(part) for part in item["loc"]) or "doors"
            section = location if location.startswith("doors") else f"access.{location}"
            raise ValueError(f"{section}: {item['msg'].removeprefix('Value error, ')}") from None

    def _door_document(self, door: DoorSettings) -> dict[str, Any]:
        """One door as the access layer configures it, with the kind and methods derived where not set."""
        gate = self.gate_of(door.id)
        roles = {camera.role for camera in self.cameras if camera.gate == gate.id}
        plate_camera = bool(roles & {CameraRole.PLATE, CameraRole.BOTH})
        kind = door.kind or (DoorKind.BARRIER if plate_camera else DoorKind.DOOR)
        methods = door.methods
        if methods is None:
            methods = [Method.CARD]
            if any(keypad.gate == gate.id for keypad in self.keypads):
                methods.append(Method.PIN)
            if roles & {CameraRole.FACE, CameraRole.BOTH}:
                methods.append(Method.FACE)
            if plate_camera and kind is DoorKind.BARRIER:
                methods.append(Method.PLATE)
            if roles and self.access.passes.public_keys:
                methods.append(Method.QR)
        fields = door.model_dump(exclude={"kind", "methods", "relay", "sensor"})
        return {**fields, "gate": gate.id, "direction": gate.direction, "kind": kind, "methods": methods}

    def path(self, relative: Path) -> Path:
        """A path under data_dir (absolute paths are kept)."""
        return relative if relative.is_absolute() else self.data_dir / relative


REMOTE_LOCKED_SECTIONS = ("site", "device", "broker", "data_dir")


def validation_message(err: ValidationError, source: str) -> str:
    """One line per problem, each naming the source and the dotted field path."""
    problems = []
    for item in err.errors():
        location = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{source}: {location}: {message}" if location else f"{source}: {message}")
    return "; ".join(problems)


def parse_config(document: Any, source: str) -> EdgeConfig:
    """Validate a parsed document; errors name `source` and the field."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: (root): expected a mapping of sections, got {type(document).__name__}")
    try:
        return EdgeConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(validation_message(err, source)) from err


def load_config(path: Path | str) -> EdgeConfig:
    """Load and validate a YAML file; errors name the file and the field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    return parse_config(document or {}, str(path))


def merge_sections(config: EdgeConfig, sections: dict[str, Any], source: str) -> EdgeConfig:
    """The config with whole top-level sections replaced, validated; identity and broker stay local."""
    locked = sorted(set(sections) & set(REMOTE_LOCKED_SECTIONS))
    if locked:
        raise ConfigError(f"{source}: {locked[0]}: cannot be changed remotely")
    document = config.model_dump(mode="json")
    document.update(sections)
    return parse_config(document, source)
