"""The envelope every message travels in, and the strict encoder / tolerant decoder."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from protocol.base import Level, UtcDatetime, WireModel
from protocol.commands import COMMAND_BODIES, RESULT_BODIES
from protocol.device import Status, Telemetry
from protocol.errors import ProtocolError
from protocol.events import EVENT_BODIES
from protocol.receipts import EventsStored
from protocol.topics import TopicAddress, build_topic, parse_topic

ALL_BODIES: tuple[type[WireModel], ...] = (
    *EVENT_BODIES,
    Telemetry,
    Status,
    *COMMAND_BODIES,
    *RESULT_BODIES,
    EventsStored,
)
REGISTRY: dict[tuple[str, int], type[WireModel]] = {(body.SCHEMA, body.VERSION): body for body in ALL_BODIES}
MAX_PAYLOAD_BYTES = max(body.MAX_BYTES for body in ALL_BODIES)


class Envelope(BaseModel):
    """Metadata common to every message; `data` holds the schema's body."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_name: str = Field(alias="schema", min_length=1, max_length=64, description="Body schema name")
    v: int = Field(ge=1, description="Body schema version")
    event_id: UUID = Field(description="Unique id; receivers deduplicate on it")
    site: Level = Field(description="Site (community) id")
    device: Level = Field(description="Device concerned: the sender of events, the target of commands")
    ts: UtcDatetime = Field(description="When the message was created, UTC")
    seq: int = Field(ge=0, lt=2**63, description="Per-device counter, increasing (fits a signed 64-bit column)")
    data: dict = Field(description="The body, as described by schema and v")


@dataclass(frozen=True)
class Message:
    """A decoded message: its envelope and its typed body."""

    envelope: Envelope
    body: WireModel

    def topic(self) -> str:
        """The topic this message belongs on."""
        return topic_for(self.body, self.envelope.site, self.envelope.device)


def topic_for(body: WireModel, site: str, device: str) -> str:
    """The topic on which `body` travels for a device."""
    return build_topic(site, device, body.CHANNEL, body.TOPIC_NAME)


def build(
    body: WireModel,
    *,
    site: str,
    device: str,
    seq: int,
    event_id: UUID | None = None,
    ts: datetime | None = None,
) -> Message:
    """Wrap a body in a new envelope (a fresh event id and the current UTC time unless given)."""
    schema = type(body)
    if (schema.SCHEMA, schema.VERSION) not in REGISTRY:
        raise ProtocolError("unknown_schema", f"{schema.__name__} is not a registered body")
    try:
        envelope = Envelope(
            schema=schema.SCHEMA,
            v=schema.VERSION,
            event_id=event_id or uuid4(),
            site=site,
            device=device,
            ts=ts or datetime.now(UTC),
            seq=seq,
            data=body.model_dump(mode="json"),
        )
    except ValidationError as err:
        raise ProtocolError("invalid_envelope", _summary(err)) from err
    return Message(envelope, body)


def encode(message: Message) -> bytes:
    """Serialise strictly: the body is re-validated with unknown fields forbidden and the size checked."""
    schema = REGISTRY.get((message.envelope.schema_name, message.envelope.v))
    if schema is None or not isinstance(message.body, schema):
        raise ProtocolError("unknown_schema", f"{message.envelope.schema_name} v{message.envelope.v}")
    try:
        schema.model_validate(message.envelope.data, extra="forbid")
    except ValidationError as err:
        raise ProtocolError("invalid_data", _summary(err)) from err
    payload = message.envelope.model_dump_json(by_alias=True).encode()
    if len(payload) > schema.MAX_BYTES:
        raise ProtocolError("too_large", f"{len(payload)} bytes > {schema.MAX_BYTES} for {schema.SCHEMA}")
    return payload


def decode(payload: bytes | bytearray | str, topic: str | None = None) -> Message:
    """Parse and validate a received payload; unknown fields are ignored, wrong types rejected.

    When `topic` is given it must agree with the envelope (site, device, channel, name):
    a device cannot speak for another one.
    """
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError("not_json", str(err)[:200]) from err
    if not isinstance(document, dict):
        raise ProtocolError("invalid_envelope", "payload is not a JSON object")
    name, version = document.get("schema"), document.get("v")
    schema = REGISTRY.get((name, version)) if isinstance(name, str) and isinstance(version, int) else None
    if schema is None or not isinstance(document.get("data"), dict):
        _raise_envelope_error(raw)
    if len(raw) > schema.MAX_BYTES:
        raise ProtocolError("too_large", f"{len(raw)} bytes > {schema.MAX_BYTES} for {schema.SCHEMA}")
    try:
        typed = _typed_envelope(schema).model_validate_json(raw, extra="ignore", strict=True)
    except ValidationError as err:
        in_data = all(item["loc"][:1] == ("data",) for item in err.errors())
        raise ProtocolError("invalid_data" if in_data else "invalid_envelope", _summary(err)) from err
    message = Message(typed, typed.data)
    if topic is not None:
        _check_topic(message, topic)
    return message


@functools.cache
def _typed_envelope(schema: type[WireModel]) -> type[Envelope]:
    """An envelope whose data is validated as `schema`, so one JSON parse checks both."""
    return create_model(f"{schema.__name__}Envelope", __base__=Envelope, data=(schema, ...))


def _raise_envelope_error(raw: bytes) -> NoReturn:
    """Explain why the envelope names no known schema: a bad envelope, an unknown schema or version."""
    try:
        envelope = Envelope.model_validate_json(raw, extra="ignore", strict=True)
    except ValidationError as err:
        raise ProtocolError("invalid_envelope", _summary(err)) from err
    known = any(name == envelope.schema_name for name, _ in REGISTRY)
    reason = "unsupported_version" if known else "unknown_schema"
    raise ProtocolError(reason, f"{envelope.schema_name} v{envelope.v}")


def _check_topic(message: Message, topic: str) -> None:
    """Reject a message whose envelope disagrees with the topic it arrived on."""
    address = parse_topic(topic)
    expected = TopicAddress(
        message.envelope.site, message.envelope.device, type(message.body).CHANNEL, type(message.body).TOPIC_NAME
    )
    if address != expected:
        raise ProtocolError("topic_mismatch", f"{message.envelope.schema_name} from {topic}")


def _summary(err: ValidationError) -> str:
    """A short, single-line description of the first validation errors."""
    parts = []
    for item in err.errors()[:3]:
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)[:400]
