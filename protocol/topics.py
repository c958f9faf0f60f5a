"""MQTT topic builders and parsers: the only place topics are spelled out."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import TopicError

ROOT = ("sc", "v1")
LEVEL_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class Channel(StrEnum):
    """What a topic carries."""

    EVENT = "event"
    TELEMETRY = "telemetry"
    STATUS = "status"
    COMMAND = "cmd"
    COMMAND_RESULT = "cmd-result"


@dataclass(frozen=True)
class TopicAddress:
    """A parsed topic: which device, which channel, and the event kind or command name."""

    site: str
    device: str
    channel: Channel
    name: str | None = None

    def topic(self) -> str:
        """Render this address back into its topic string."""
        return build_topic(self.site, self.device, self.channel, self.name)


def check_level(value: str, field: str) -> str:
    """Return `value` if it is a valid topic level (a-z, 0-9, '-', 1..64 chars), else raise."""
    if not isinstance(value, str) or not LEVEL_PATTERN.match(value):
        raise TopicError(f"{field} {value!r} is not a topic level (use a-z, 0-9 and '-', 1-64 characters)")
    return value


def build_topic(site: str, device: str, channel: Channel, name: str | None = None) -> str:
    """Build the topic for a device channel; events and commands need a name."""
    parts = [*ROOT, check_level(site, "site"), check_level(device, "device")]
    if channel in (Channel.EVENT, Channel.COMMAND, Channel.COMMAND_RESULT):
        if name is None:
            raise TopicError(f"channel {channel.value} needs a name")
        level = "event" if channel is Channel.EVENT else "cmd"
        parts += [level, check_level(name, "name")]
        if channel is Channel.COMMAND_RESULT:
            parts.append("result")
    else:
        if name is not None:
            raise TopicError(f"channel {channel.value} takes no name")
        parts.append(channel.value)
    return "/".join(parts)


def event_topic(site: str, device: str, kind: str) -> str:
    """Topic of a device's events of one kind."""
    return build_topic(site, device, Channel.EVENT, kind)


def telemetry_topic(site: str, device: str) -> str:
    """Topic of a device's periodic telemetry."""
    return build_topic(site, device, Channel.TELEMETRY)


def status_topic(site: str, device: str) -> str:
    """Topic of a device's retained online/offline status."""
    return build_topic(site, device, Channel.STATUS)


def command_topic(site: str, device: str, name: str) -> str:
    """Topic on which the platform sends a command to a device."""
    return build_topic(site, device, Channel.COMMAND, name)


def command_result_topic(site: str, device: str, name: str) -> str:
    """Topic on which a device answers a command."""
    return build_topic(site, device, Channel.COMMAND_RESULT, name)


def parse_topic(topic: str) -> TopicAddress:
    """Parse a concrete topic (no wildcards) into its address, or raise TopicError."""
    if not isinstance(topic, str):
        raise TopicError("topic must be a string")
    return _parse_topic(topic)


@functools.lru_cache(maxsize=8192)
def _parse_topic(topic: str) -> TopicAddress:
    """parse_topic of a string; a gate's few topics repeat on every message, so valid ones are remembered."""
    parts = topic.split("/")
    if len(parts) < 5 or tuple(parts[:2]) != ROOT:
        raise TopicError(f"{topic!r} is not under {'/'.join(ROOT)}/")
    site, device, rest = parts[2], parts[3], parts[4:]
    check_level(site, "site")
    check_level(device, "device")
    if rest in (["telemetry"], ["status"]):
        return TopicAddress(site, device, Channel(rest[0]))
    if len(rest) == 2 and rest[0] == "event":
        return TopicAddress(site, device, Channel.EVENT, check_level(rest[1], "event kind"))
    if len(rest) == 2 and rest[0] == "cmd":
        return TopicAddress(site, device, Channel.COMMAND, check_level(rest[1], "command name"))
    if len(rest) == 3 and rest[0] == "cmd" and rest[2] == "result":
        return TopicAddress(site, device, Channel.COMMAND_RESULT, check_level(rest[1], "command name"))
    raise TopicError(f"{topic!r} has an unknown channel")


def device_command_filter(site: str, device: str) -> str:
    """Subscription filter for every command addressed to one device."""
    return "/".join([*ROOT, check_level(site, "site"), check_level(device, "device"), "cmd", "+"])


def ingest_filters(group: str = "ingest") -> list[str]:
    """Shared-subscription filters the platform's ingest workers use (events, telemetry, status, results)."""
    check_level(group, "group")
    base = "/".join(ROOT)
    plain = [f"{base}/+/+/event/+", f"{base}/+/+/telemetry", f"{base}/+/+/status", f"{base}/+/+/cmd/+/result"]
    return [f"$share/{group}/{topic}" for topic in plain]
