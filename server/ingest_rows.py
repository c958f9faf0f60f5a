"""Turn decoded messages into SQL rows and time-series points (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from protocol import Message
from protocol.commands import CommandResult
from protocol.device import DeviceState as WireDeviceState
from protocol.device import Status, Telemetry
from protocol.events import AccessDecision, Alarm, DoorState, PlateRead
from server.timeseries import Point

PAYLOAD_HEAD_CHARS = 512


@dataclass
class BatchRows:
    """Everything one batch of messages writes."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    device_states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    event_points: dict[str, list[Point]] = field(default_factory=dict)
    other_points: list[Point] = field(default_factory=list)

    def merge(self, other: BatchRows) -> None:
        """Add another batch's rows to this one."""
        self.events += other.events
        self.rejected += other.rejected
        self.results += other.results
        for key, update in other.device_states.items():
            self.device_states[key] = self.device_states.get(key, {}) | update
        self.event_points |= other.event_points
        self.other_points += other.other_points


def event_row(message: Message, received_at: datetime) -> dict[str, Any]:
    """The events-table row of an event message."""
    env, body = message.envelope, message.body
    return {
        "event_id": env.event_id,
        "schema_name": env.schema_name,
        "kind": type(body).TOPIC_NAME,
        "site": env.site,
        "device": env.device,
        "seq": env.seq,
        "ts": env.ts,
        "received_at": received_at,
        "gate": getattr(body, "gate", None),
        "method": getattr(body, "method", None),
        "result": getattr(body, "result", None),
        "person_id": getattr(body, "person_id", None),
        "plate": getattr(body, "plate", None),
        "data": body.model_dump(mode="json"),
    }


def event_points(message: Message) -> list[Point]:
    """Time-series points for an event: counts and latencies tagged without personal data."""
    env, body = message.envelope, message.body
    tags = {"site": env.site, "device": env.device}
    if isinstance(body, AccessDecision):
        tags |= {
            "gate": body.gate,
            "method": body.method.value,
            "result": body.result.value,
            "direction": body.direction.value,
        }
        points = [Point("passages", env.ts, tags, {"value": 1.0})]
        if body.latency_ms is not None:
            points.append(Point("recognition_latency", env.ts, tags, {"value": body.latency_ms}))
        return points
    if isinstance(body, PlateRead):
        tags |= {
            "gate": body.gate,
            "direction": body.direction.value,
            "result": "validated" if body.validated else "unvalidated",
        }
        return [Point("plate_reads", env.ts, tags, {"value": 1.0, "confidence": body.confidence})]
    if isinstance(body, Alarm):
        tags |= {"alarm_type": body.alarm_type.value}
        if body.gate:
            tags["gate"] = body.gate
        return [Point("alarms", env.ts, tags, {"value": float(body.count)})]
    if isinstance(body, DoorState):
        return [Point("door_states", env.ts, tags | {"result": body.state.value}, {"value": 1.0})]
    return []


def telemetry_point(message: Message) -> Point:
    """The device-health point of a telemetry message."""
    env, body = message.envelope, message.body
    assert isinstance(body, Telemetry)
    fields = {
        "uptime_s": body.uptime_s,
        "cpu_percent": body.cpu_percent,
        "memory_bytes": float(body.memory_bytes),
        "outbox_depth": float(body.outbox_depth),
        "outbox_dropped": float(body.outbox_dropped),
    }
    for name in ("temperature_c", "recognition_p50_ms", "recognition_p95_ms"):
        value = getattr(body, name)
        if value is not None:
            fields[name] = float(value)
    return Point("device_telemetry", env.ts, {"site": env.site, "device": env.device}, fields)


def device_state_update(message: Message, received_at: datetime) -> dict[str, Any]:
    """Columns of device_states changed by a status or telemetry message."""
    env, body = message.envelope, message.body
    update: dict[str, Any] = {"site": env.site, "device": env.device, "last_seen": received_at}
    if isinstance(body, Status):
        update |= {
            "online": body.state is WireDeviceState.ONLINE,
            "software": body.software,
            "gallery_version": body.gallery_version,
            "allowlist_version": body.allowlist_version,
        }
        if body.capabilities is not None:  # the broker's last will says nothing about them: keep what is known
            update["capabilities"] = sorted(capability.value for capability in body.capabilities)
    elif isinstance(body, Telemetry):
        update |= {
            "online": True,
            "telemetry": body.model_dump(mode="json"),
            "gallery_version": body.gallery_version,
            "allowlist_version": body.allowlist_version,
        }
    return update


def result_row(message: Message) -> dict[str, Any]:
    """The command_results row of a command result."""
    env, body = message.envelope, message.body
    assert isinstance(body, CommandResult)
    return {
        "request_id": body.request_id,
        "event_id": env.event_id,
        "site": env.site,
        "device": env.device,
        "command": type(body).TOPIC_NAME,
        "ok": body.ok,
        "error": body.error,
        "ts": env.ts,
        "data": body.model_dump(mode="json"),
    }


def rejected_row(topic: str, payload: bytes, reason: str, detail: str, received_at: datetime) -> dict[str, Any]:
    """The rejected_messages row of a message that failed validation (payload truncated).

    NUL characters become U+FFFD: PostgreSQL's text type cannot hold them, and a rejected row the database
    refuses would leave its whole batch unstored and retried forever.
    """
    head = _text(payload[:PAYLOAD_HEAD_CHARS].decode("utf-8", "replace"))
    return {
        "received_at": received_at,
        "topic": _text(topic[:256]),
        "reason": _text(reason[:32]),
        "detail": _text(detail[:2000]),
        "payload_size": len(payload),
        "payload_head": head,
    }


def _text(value: str) -> str:
    """The value without NUL characters (replaced by U+FFFD), which SQL text columns cannot all store."""
    return value.replace("\x00", "\ufffd")
