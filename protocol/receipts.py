"""Storage receipts: the platform tells a device which of its events are committed, so it can forget them.

The broker's PUBACK only says the broker holds an event; a broker killed before its next save loses what it
held. A device therefore keeps each event until a receipt names it, and publishes again what no receipt
covered (the platform stores by event id, so a second copy is only counted as a duplicate).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from protocol.base import KIB, WireModel
from protocol.topics import Channel

MAX_RECEIPT_IDS = 1000


class EventsStored(WireModel):
    """The listed events of the addressed device are stored (newly or already); no result is expected."""

    SCHEMA = "cmd.events-stored"
    TOPIC_NAME = "events-stored"
    CHANNEL = Channel.COMMAND
    MAX_BYTES = 64 * KIB  # 1000 ids of 38 bytes, with the envelope

    event_ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_RECEIPT_IDS)] = Field(
        description="Ids of the device's events that are committed on the platform"
    )
