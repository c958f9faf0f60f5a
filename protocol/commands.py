"""Command bodies the platform sends to a device, and the result each command gets back."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from protocol.base import COMMAND_MAX_BYTES, Level, OpaqueId, ShortText, UtcDatetime, WireModel
from protocol.topics import Channel

Embedding = Annotated[list[float], Field(min_length=64, max_length=1024)]
CredentialValue = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Command(WireModel):
    """Base of every command: carries the request id the result echoes."""

    CHANNEL = Channel.COMMAND
    MAX_BYTES = COMMAND_MAX_BYTES

    request_id: UUID = Field(description="Id the device echoes in its result")


class CommandResult(WireModel):
    """Base of every command result."""

    CHANNEL = Channel.COMMAND_RESULT
    COMMAND: ClassVar[type[Command]]

    request_id: UUID = Field(description="The command's request id")
    ok: bool = Field(description="Whether the command was carried out")
    error: ShortText | None = Field(default=None, description="Why not, when ok is false")

    @model_validator(mode="after")
    def _error_iff_failed(self) -> CommandResult:
        """A failed result says why; a successful one carries no error."""
        if self.ok == (self.error is not None):
            raise ValueError("error must be set exactly when ok is false")
        return self


class SyncMode(StrEnum):
    """Whether a sync replaces everything or applies changes to a base version."""

    FULL = "full"
    INCREMENTAL = "incremental"


class GalleryEntry(WireModel):
    """One face template for a person."""

    person_id: OpaqueId = Field(description="Opaque person id")
    template_id: OpaqueId = Field(description="Template id, unique in the gallery")
    embedding: Embedding = Field(description="Face embedding (128 floats for dlib)")
    group: Level = Field(default="residents", description="Access group for schedules")


class VersionedSync(Command):
    """A list brought to a version, full or incremental, in one or more chunks that share the request id.

    The device stages the chunks and applies them together, atomically, when the last one has arrived.
    """

    mode: SyncMode = Field(description="Full replace or incremental")
    base_version: int = Field(ge=0, description="Version the increment applies to (0 for full)")
    version: int = Field(ge=1, description="Version after applying")
    chunk: int = Field(default=0, ge=0, description="Index of this chunk")
    chunks: int = Field(default=1, ge=1, description="Number of chunks in this sync")

    @model_validator(mode="after")
    def _consistent(self) -> VersionedSync:
        """Versions move forward; chunk index lies inside the chunk count."""
        if self.version <= self.base_version:
            raise ValueError("version must be greater than base_version")
        if self.chunk >= self.chunks:
            raise ValueError("chunk must be less than chunks")
        return self


class GallerySync(VersionedSync):
    """Bring a device's face gallery to a version: full replace or incremental from a base."""

    SCHEMA = "cmd.gallery-sync"
    TOPIC_NAME = "gallery-sync"

    upserts: list[GalleryEntry] = Field(default_factory=list, max_length=5000, description="Templates to add")
    removes: list[OpaqueId] = Field(default_factory=list, max_length=5000, description="Person ids to remove")


class GallerySyncResult(CommandResult):
    """The gallery version the device holds after the sync."""

    SCHEMA = "cmd.gallery-sync.result"
    TOPIC_NAME = "gallery-sync"
    COMMAND = GallerySync

    version: int = Field(ge=0, description="Gallery version now held")
    templates: int = Field(ge=0, description="Templates now held")


class CredentialKind(StrEnum):
    """Non-face credentials a gate checks locally."""

    CARD = "card"
    PIN = "pin"
    PLATE = "plate"


class AllowlistEntry(WireModel):
    """One credential allowed at the device's gates."""

    kind: CredentialKind = Field(description="Credential kind")
    value: CredentialValue = Field(description="Card number, plate, or PIN hash (never a clear PIN)")
    person_id: OpaqueId | None = Field(default=None, description="Owner, if a person")
    credential_ref: OpaqueId = Field(description="Opaque credential id echoed in events")
    group: Level = Field(default="residents", description="Access group for schedules")
    gates: list[Level] = Field(default_factory=list, max_length=64, description="Gates allowed; empty = all")
    valid_from: UtcDatetime | None = Field(default=None, description="Start of validity")
    valid_until: UtcDatetime | None = Field(default=None, description="End of validity")
    watchlist: bool = Field(default=False, description="A watchlist entry raises an alarm instead of access")


class AllowlistSync(VersionedSync):
    """Bring a device's allowlist to a version."""

    SCHEMA = "cmd.allowlist-sync"
    TOPIC_NAME = "allowlist-sync"

    upserts: list[AllowlistEntry] = Field(default_factory=list, max_length=20000, description="Entries to add")
    removes: list[OpaqueId] = Field(default_factory=list, max_length=20000, description="credential_refs")


class AllowlistSyncResult(CommandResult):
    """The allowlist version the device holds after the sync."""

    SCHEMA = "cmd.allowlist-sync.result"
    TOPIC_NAME = "allowlist-sync"
    COMMAND = AllowlistSync

    version: int = Field(ge=0, description="Allowlist version now held")
    entries: int = Field(ge=0, description="Entries now held")


class OpenDoor(Command):
    """Open a door remotely (audited on both sides)."""

    SCHEMA = "cmd.open-door"
    TOPIC_NAME = "open-door"

    door: Level = Field(description="Door or barrier to open")
    pulse_ms: int = Field(default=3000, ge=100, le=60000, description="Relay pulse length")
    operator: OpaqueId = Field(description="User id of the operator, for the audit trail")
    reason: ShortText = Field(description="Why the door is opened")


class OpenDoorResult(CommandResult):
    """Whether the relay was pulsed."""

    SCHEMA = "cmd.open-door.result"
    TOPIC_NAME = "open-door"
    COMMAND = OpenDoor

    opened: bool = Field(default=False, description="Relay pulsed")


class EraseScope(StrEnum):
    """What to erase about a person on the device."""

    TEMPLATES = "templates"
    ALL = "all"


class ErasePerson(Command):
    """Erase a person's templates (and local records) from the device."""

    SCHEMA = "cmd.erase-person"
    TOPIC_NAME = "erase-person"

    person_id: OpaqueId = Field(description="Person to erase")
    scope: EraseScope = Field(default=EraseScope.ALL, description="Templates only, or everything local")


class ErasePersonResult(CommandResult):
    """What the device erased: the proof of erasure the platform keeps."""

    SCHEMA = "cmd.erase-person.result"
    TOPIC_NAME = "erase-person"
    COMMAND = ErasePerson

    person_id: OpaqueId = Field(description="Person erased")
    templates_erased: int = Field(default=0, ge=0, description="Templates removed from the gallery")
    credentials_erased: int = Field(default=0, ge=0, description="Allowlist entries removed")
    records_erased: int = Field(default=0, ge=0, description="Local outbox/records removed")
    gallery_version: int = Field(default=0, ge=0, description="Gallery version after erasure")


class ConfigUpdate(Command):
    """Replace part of the device configuration; validated before it is applied."""

    SCHEMA = "cmd.config-update"
    TOPIC_NAME = "config-update"

    version: int = Field(ge=1, description="Config version after applying")
    config: dict[str, Any] = Field(description="Configuration sections to replace")


class ConfigUpdateResult(CommandResult):
    """The config version the device runs after the update."""

    SCHEMA = "cmd.config-update.result"
    TOPIC_NAME = "config-update"
    COMMAND = ConfigUpdate

    version: int = Field(ge=0, description="Config version now running")


class ApplyRetention(Command):
    """Keep local records no longer than the platform's retention policy (PIPL Art. 19); older ones go."""

    SCHEMA = "cmd.apply-retention"
    TOPIC_NAME = "apply-retention"

    events_max_age_s: float = Field(gt=0, le=366 * 86400, description="Oldest local event record kept")
    snapshots_max_age_s: float = Field(gt=0, le=31 * 86400, description="Oldest local snapshot image kept")


class ApplyRetentionResult(CommandResult):
    """What the device purged under the retention policy."""

    SCHEMA = "cmd.apply-retention.result"
    TOPIC_NAME = "apply-retention"
    COMMAND = ApplyRetention

    events_purged: int = Field(default=0, ge=0, description="Local event records deleted")
    snapshots_purged: int = Field(default=0, ge=0, description="Local snapshot images deleted")


COMMAND_BODIES: tuple[type[Command], ...] = (
    GallerySync,
    AllowlistSync,
    OpenDoor,
    ErasePerson,
    ConfigUpdate,
    ApplyRetention,
)
RESULT_BODIES: tuple[type[CommandResult], ...] = (
    GallerySyncResult,
    AllowlistSyncResult,
    OpenDoorResult,
    ErasePersonResult,
    ConfigUpdateResult,
    ApplyRetentionResult,
)
