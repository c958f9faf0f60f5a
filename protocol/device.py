"""Device health bodies: periodic telemetry and the retained online/offline status."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from protocol.base import Level, WireModel
from protocol.topics import Channel


class CameraStats(WireModel):
    """Capture figures for one camera."""

    camera: Level = Field(description="Camera id on the device")
    fps: float = Field(ge=0, description="Frames read per second")
    connected: bool = Field(description="Whether the source is currently delivering frames")


class Telemetry(WireModel):
    """Periodic health figures of a device; no personal data."""

    SCHEMA = "device.telemetry"
    CHANNEL = Channel.TELEMETRY

    uptime_s: float = Field(ge=0, description="Seconds since the agent started")
    cpu_percent: float = Field(ge=0, le=100 * 1024, description="Process CPU use in percent of one core")
    memory_bytes: int = Field(ge=0, description="Resident memory of the agent")
    temperature_c: float | None = Field(default=None, description="SoC temperature where the OS exposes it")
    outbox_depth: int = Field(ge=0, description="Events waiting for the broker's acknowledgement")
    outbox_dropped: int = Field(default=0, ge=0, description="Events dropped by the outbox bound since start")
    recognition_p50_ms: float | None = Field(default=None, ge=0, description="Median recognition latency")
    recognition_p95_ms: float | None = Field(default=None, ge=0, description="95th percentile latency")
    cameras: list[CameraStats] = Field(default_factory=list, max_length=16, description="Per-camera figures")
    gallery_version: int = Field(default=0, ge=0, description="Face gallery version held")
    allowlist_version: int = Field(default=0, ge=0, description="Allowlist version held")


class DeviceState(StrEnum):
    """Whether a device is connected."""

    ONLINE = "online"
    OFFLINE = "offline"


class Capability(StrEnum):
    """What a device does beyond card, PIN and QR (which every gate takes through its allowlist)."""

    FACES = "faces"  # recognises faces: takes the face gallery
    PLATES = "plates"  # reads licence plates


class Status(WireModel):
    """Retained status; the broker publishes the offline form as the device's last will."""

    SCHEMA = "device.status"
    CHANNEL = Channel.STATUS

    state: DeviceState = Field(description="Online or offline")
    software: str = Field(default="", max_length=64, description="Agent software version")
    gallery_version: int = Field(default=0, ge=0, description="Face gallery version held")
    allowlist_version: int = Field(default=0, ge=0, description="Allowlist version held")
    capabilities: tuple[Capability, ...] | None = Field(
        default=None,
        max_length=8,
        description="What the device does (the platform sends face templates only to devices with faces); "
        "absent from agents that predate it, which are then assumed to take everything",
    )
