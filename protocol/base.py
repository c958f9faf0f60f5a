"""Base class and shared field types for every message body on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from protocol.topics import Channel, check_level

KIB = 1024
EVENT_MAX_BYTES = 16 * KIB
COMMAND_MAX_BYTES = 1024 * KIB


def _to_utc(value: datetime) -> datetime:
    """Normalise an aware timestamp to UTC (one that leaves the calendar's range in UTC is invalid)."""
    try:
        return value.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("timestamp out of range in UTC") from err


def _level(value: str) -> str:
    """Validate a topic-level style identifier."""
    check_level(value, "identifier")
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Level = Annotated[str, AfterValidator(_level)]
OpaqueId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class WireModel(BaseModel):
    """A message body: strict (unknown fields forbidden) when built, tolerant when decoded."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    CHANNEL: ClassVar[Channel] = Channel.EVENT
    TOPIC_NAME: ClassVar[str | None] = None
    MAX_BYTES: ClassVar[int] = EVENT_MAX_BYTES
