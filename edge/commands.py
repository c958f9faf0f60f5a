"""Remote commands: validate, carry out, and answer each on its result topic with the request id.

A bad command (oversize, malformed, wrong schema for its topic, unknown name, addressed to another device)
is answered with an error result and changes nothing. A command without a readable request id cannot be
answered; it is logged and counted. A repeated request id (QoS 1 redelivery) gets the first answer again
without being carried out twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from edge.allowlist import AllowlistError, AllowlistStore
from edge.config import ConfigError
from edge.gallery_sync import GallerySyncError, GallerySynchroniser
from edge.gate import GateController
from edge.outbox import Outbox, OutboxItem
from edge.vision.face_errors import GalleryError
from protocol import ProtocolError, decode
from protocol.commands import (
    COMMAND_BODIES,
    RESULT_BODIES,
    AllowlistSync,
    AllowlistSyncResult,
    ApplyRetention,
    ApplyRetentionResult,
    Command,
    CommandResult,
    ConfigUpdate,
    ConfigUpdateResult,
    ErasePerson,
    ErasePersonResult,
    EraseScope,
    GallerySync,
    GallerySyncResult,
    OpenDoor,
    OpenDoorResult,
)
from protocol.errors import TopicError
from protocol.topics import Channel, parse_topic

log = logging.getLogger(__name__)

RESULT_FOR_NAME: dict[str, type[CommandResult]] = {r.COMMAND.TOPIC_NAME: r for r in RESULT_BODIES}
RESULT_FOR_SCHEMA: dict[str, type[CommandResult]] = {r.COMMAND.SCHEMA: r for r in RESULT_BODIES}
KNOWN_NAMES = {c.TOPIC_NAME for c in COMMAND_BODIES}
_REQUEST_ID = re.compile(rb'"request_id"\s*:\s*"([0-9a-fA-F-]{32,36})"')
_SCHEMA = re.compile(rb'"schema"\s*:\s*"([a-z0-9.-]{1,64})"')
_CHUNK = re.compile(rb'"chunk"\s*:\s*(\d{1,6})')
_PERSON = re.compile(rb'"person_id"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')
_REMEMBERED = 256
OPEN_DOOR_MAX_AGE_S = 30.0  # a remote opening queued while the gate was offline must not fire hours later

ConfigApplier = Callable[[ConfigUpdate], int]
Publish = Callable[[CommandResult], object]


class CommandRefused(Exception):
    """A command that is well formed but cannot be carried out; the message goes into the error result."""


@dataclass
class CommandStats:
    """Counts of commands handled, refused, and dropped without an answer."""

    handled: int = 0
    refused: int = 0
    unanswerable: int = 0


class CommandProcessor:
    """Validates and carries out commands addressed to this device."""

    def __init__(
        self,
        site: str,
        device: str,
        publish: Publish,
        allowlist: AllowlistStore,
        outbox: Outbox,
        gates: Callable[[], list[GateController]],
        apply_config: ConfigApplier,
        config_version: Callable[[], int],
        gallery: GallerySynchroniser | None = None,
        max_bytes: int = 1024 * 1024,
    ) -> None:
        self.site, self.device = site, device
        self.publish = publish
        self.allowlist = allowlist
        self.outbox = outbox
        self.gates = gates
        self.apply_config = apply_config
        self.config_version = config_version
        self.gallery = gallery
        self.max_bytes = max_bytes
        self.stats = CommandStats()
        self._answers: OrderedDict[tuple[UUID, int], CommandResult] = OrderedDict()

    def handle(self, topic: str, payload: bytes) -> CommandResult | None:
        """Handle one received command and publish its result; returns the result (None if unanswerable)."""
        result = self._result_for(topic, bytes(payload))
        if result is None:
            self.stats.unanswerable += 1
            return None
        if result.ok:
            self.stats.handled += 1
        else:
            self.stats.refused += 1
            log.warning("command on %s refused: %s", topic, result.error)
        self.publish(result)
        return result

    def _result_for(self, topic: str, payload: bytes) -> CommandResult | None:
        """Check, dispatch and build the result."""
        request_id = _request_id(payload)
        result_type = self._result_type(topic, payload)
        if request_id is None or result_type is None:
            log.warning("command on %s dropped: no request id or no known command name/schema", topic)
            return None
        key = (request_id, _chunk(payload))  # the chunks of one sync share its request id
        if key in self._answers:
            log.info("command %s repeated: answering again without re-running", request_id)
            return self._answers[key]
        try:
            command = self._check(topic, payload)
            result = self._dispatch(command)
        except (CommandRefused, ProtocolError, ConfigError, AllowlistError, GallerySyncError, GalleryError) as err:
            result = self._error(result_type, request_id, payload, str(err))
        self._remember(key, result)
        return result

    def _check(self, topic: str, payload: bytes) -> Command:
        """Size, address, name and schema checks; returns the decoded command."""
        if len(payload) > self.max_bytes:
            raise CommandRefused(f"too_large: {len(payload)} bytes > {self.max_bytes}")
        try:
            address = parse_topic(topic)
        except TopicError as err:
            raise CommandRefused(str(err)) from err
        if address.channel is not Channel.COMMAND:
            raise CommandRefused(f"not a command topic: {topic}")
        if (address.site, address.device) != (self.site, self.device):
            raise CommandRefused(f"wrong_device: addressed to {address.site}/{address.device}")
        if address.name not in KNOWN_NAMES:
            raise CommandRefused(f"unknown_command: {address.name!r}")
        message = decode(payload, topic)
        body = message.body
        if not isinstance(body, Command):
            raise CommandRefused(f"not a command: {type(body).__name__}")
        if isinstance(body, OpenDoor):
            age_s = (datetime.now(UTC) - message.envelope.ts).total_seconds()
            if abs(age_s) > OPEN_DOOR_MAX_AGE_S:
                raise CommandRefused(f"expired: sent {age_s:.0f} s ago (a remote opening is valid for 30 s)")
        return body

    def _dispatch(self, command: Command) -> CommandResult:
        """Carry out a valid command."""
        if isinstance(command, GallerySync):
            return self._gallery_sync(command)
        if isinstance(command, AllowlistSync):
            snapshot = self.allowlist.apply(command)
            return AllowlistSyncResult(
                request_id=command.request_id, ok=True, version=snapshot.version, entries=len(snapshot)
            )
        if isinstance(command, OpenDoor):
            return self._open_door(command)
        if isinstance(command, ErasePerson):
            return self._erase(command)
        if isinstance(command, ConfigUpdate):
            version = self.apply_config(command)
            return ConfigUpdateResult(request_id=command.request_id, ok=True, version=version)
        if isinstance(command, ApplyRetention):
            return self._apply_retention(command)
        raise CommandRefused(f"unsupported command {type(command).__name__}")

    def _gallery_sync(self, command: GallerySync) -> GallerySyncResult:
        """Stage or apply a gallery sync."""
        if self.gallery is None:
            raise CommandRefused("face recognition is not configured on this device")
        outcome = self.gallery.handle(command)
        log.info("gallery sync to v%d: %s", command.version, outcome.detail)
        return GallerySyncResult(
            request_id=command.request_id, ok=True, version=outcome.version, templates=outcome.templates
        )

    def _open_door(self, command: OpenDoor) -> OpenDoorResult:
        """Pulse the door's relay; the gate records a remote access decision (the audit event)."""
        gate = next((g for g in self.gates() if g.door_id == command.door), None)
        if gate is None:
            raise CommandRefused(f"unknown_door: {command.door!r}")
        gate.remote_open(command.pulse_ms, command.operator, command.reason)
        return OpenDoorResult(request_id=command.request_id, ok=True, opened=True)

    def _erase(self, command: ErasePerson) -> ErasePersonResult:
        """Erase templates, and for scope=all the person's credentials and identity in queued events."""
        person = command.person_id
        templates, version = 0, 0
        if self.gallery is not None:
            gallery = self.gallery.gallery
            if person in gallery.person_ids:
                report = gallery.erase_persons([person])  # the version stays the server's (like the allowlist's)
                templates = len(report.removed_template_ids)
            version = gallery.version
        credentials = records = 0
        if command.scope is EraseScope.ALL:
            credentials = self.allowlist.erase_person(person)
            records = self.outbox.rewrite(lambda item: _redact(item, person))
        log.warning(
            "erased person %s: %d templates, %d credentials, %d queued records", person, templates, credentials, records
        )
        return ErasePersonResult(
            request_id=command.request_id,
            ok=True,
            person_id=person,
            templates_erased=templates,
            credentials_erased=credentials,
            records_erased=records,
            gallery_version=version,
        )

    def _apply_retention(self, command: ApplyRetention) -> ApplyRetentionResult:
        """Hold queued events no longer than the policy allows: lower the outbox's age bound and purge now.

        The agent keeps no snapshot images on disk (frames live only in memory), so none are purged.
        """
        outbox = self.outbox
        max_age_s = min(outbox.max_age_s, command.events_max_age_s)
        purged = outbox.set_bounds(outbox.max_events, outbox.max_bytes, max_age_s)
        log.info("retention applied: queued events kept at most %.0f s, %d purged", max_age_s, purged)
        return ApplyRetentionResult(request_id=command.request_id, ok=True, events_purged=purged, snapshots_purged=0)

    def _result_type(self, topic: str, payload: bytes) -> type[CommandResult] | None:
        """The result body to answer with: by the topic's command name, else by the envelope's schema."""
        parts = topic.split("/")
        if len(parts) >= 6 and parts[-2] == "cmd" and parts[-1] in RESULT_FOR_NAME:
            return RESULT_FOR_NAME[parts[-1]]
        match = _SCHEMA.search(payload[:4096])
        return RESULT_FOR_SCHEMA.get(match.group(1).decode()) if match else None

    def _error(self, result_type: type[CommandResult], request_id: UUID, payload: bytes, reason: str) -> CommandResult:
        """An error result of the right type, with the fields it requires set to what the device holds now."""
        fields: dict[str, Any] = {"request_id": request_id, "ok": False, "error": reason[:500]}
        if result_type is GallerySyncResult:
            gallery = self.gallery.gallery if self.gallery else None
            fields |= {"version": gallery.version if gallery else 0, "templates": len(gallery) if gallery else 0}
        elif result_type is AllowlistSyncResult:
            fields |= {"version": self.allowlist.version, "entries": len(self.allowlist.snapshot)}
        elif result_type is ConfigUpdateResult:
            fields["version"] = self.config_version()
        elif result_type is ErasePersonResult:
            match = _PERSON.search(payload[:65536])
            fields["person_id"] = match.group(1).decode() if match else "unknown"
        return result_type(**fields)

    def _remember(self, key: tuple[UUID, int], result: CommandResult) -> None:
        """Keep the last answers so a redelivered command is answered, not re-run."""
        self._answers[key] = result
        while len(self._answers) > _REMEMBERED:
            self._answers.popitem(last=False)


def _request_id(payload: bytes) -> UUID | None:
    """The request id of a command, found even in payloads that fail validation."""
    match = _REQUEST_ID.search(payload)
    if match is None:
        return None
    try:
        return UUID(match.group(1).decode())
    except ValueError:
        return None


def _chunk(payload: bytes) -> int:
    """The chunk index of a chunked sync (0 for every other command)."""
    match = _CHUNK.search(payload)
    return int(match.group(1)) if match else 0


def _redact(item: OutboxItem, person_id: str) -> bytes | None:
    """The payload with the person's id removed, or None when the event does not name the person."""
    try:
        document = json.loads(item.payload)
    except ValueError:
        return None
    data = document.get("data")
    if not isinstance(data, dict) or data.get("person_id") != person_id:
        return None
    data["person_id"] = None
    return json.dumps(document, separators=(",", ":")).encode()
