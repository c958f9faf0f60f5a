"""Seeded generator of malformed device messages (with valid events interleaved) for the bad-input suite.

Every sample says what the platform must do with it: `reason` is the rejected-message reason ingest must
store and count, or None for a valid event (stored once), a replay (counted as a duplicate, no second row)
and a topic ingest does not subscribe to (never delivered, never counted). The expected reasons follow from
how each sample is built, not from running the decoder.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from protocol import MAX_PAYLOAD_BYTES, Message, build, encode
from protocol.base import EVENT_MAX_BYTES
from protocol.commands import OpenDoorResult
from protocol.device import DeviceState, Status, Telemetry
from protocol.events import (
    AccessDecision,
    Alarm,
    AlarmType,
    Direction,
    DoorState,
    DoorStateName,
    Method,
    PlateColour,
    PlateRead,
    Result,
    Severity,
)
from tests.support.ingest import BASE_TS

CATEGORIES = (
    "random_bytes",
    "non_json",
    "wrong_schema",
    "wrong_types",
    "oversize",
    "spoofed",
    "replayed",
    "unknown_version",
    "invalid_topic",
)
SITES = ("north", "south")
DEVICES = ("gate-1", "gate-2", "gate-3")
EVENT_BODIES = (AccessDecision, PlateRead, DoorState, Alarm)
# Values the protocol's types allow but that break later steps; each sends its batch down the slow
# one-message-at-a-time path, so there are only a few of each.
OUT_OF_RANGE_EACH = 8


@dataclass(frozen=True)
class Sample:
    """One MQTT message to publish and what the platform must make of it."""

    category: str
    topic: str
    payload: bytes
    reason: str | None = None
    event_id: str | None = None


@dataclass
class Plan:
    """The generated samples and the figures a run must reproduce."""

    samples: list[Sample]

    def count(self, category: str) -> int:
        """Samples of one category."""
        return sum(1 for sample in self.samples if sample.category == category)

    @property
    def per_category(self) -> dict[str, int]:
        """Samples per category, valid events included."""
        return dict(Counter(sample.category for sample in self.samples))

    @property
    def valid_ids(self) -> set[str]:
        """Event ids that must be stored, once each."""
        return {sample.event_id for sample in self.samples if sample.category == "valid" and sample.event_id}

    @property
    def reasons(self) -> Counter[str]:
        """Rejected messages ingest must store and count, by reason."""
        return Counter(sample.reason for sample in self.samples if sample.reason is not None)

    @property
    def malformed(self) -> int:
        """Samples that are not valid events."""
        return sum(1 for sample in self.samples if sample.category != "valid")


class Generator:
    """Builds samples from one seeded random generator, so a seed always gives the same bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seq: Counter[tuple[str, str]] = Counter()
        self.sent_valid: list[tuple[Sample, Message]] = []
        self.out_of_range_left = Counter(
            {"ts_overflow": OUT_OF_RANGE_EACH, "seq_overflow": OUT_OF_RANGE_EACH, "float_overflow": OUT_OF_RANGE_EACH}
        )

    # ---- building blocks -------------------------------------------------------------------------

    def uuid(self) -> UUID:
        """A version-4 UUID drawn from the seeded generator."""
        return UUID(int=self.rng.getrandbits(128), version=4)

    def device(self) -> tuple[str, str]:
        """A (site, device) pair."""
        return self.rng.choice(SITES), self.rng.choice(DEVICES)

    def event_body(self, kind: type | None = None):
        """A valid event body of a random (or the given) kind."""
        kind = kind or self.rng.choice(EVENT_BODIES)
        rng = self.rng
        if kind is AccessDecision:
            method = rng.choice([Method.CARD, Method.PIN, Method.FACE, Method.QR])
            return AccessDecision(
                gate=rng.choice(["g1", "g2", "lobby"]),
                direction=rng.choice(list(Direction)),
                method=method,
                result=rng.choice(list(Result)),
                reason=rng.choice(["allowlisted", "unknown-card", "outside-schedule"]),
                person_id=f"p-{rng.randrange(1000)}",
                score=round(rng.random(), 3) if method is Method.FACE else None,
                latency_ms=round(rng.uniform(1, 300), 1),
            )
        if kind is PlateRead:
            return PlateRead(
                gate="g1",
                direction=rng.choice(list(Direction)),
                plate=f"京A{rng.randrange(10000, 99999)}",
                colour=PlateColour.BLUE,
                plate_type="ordinary",
                validated=True,
                confidence=round(rng.uniform(0.5, 1.0), 3),
                frames=rng.randrange(1, 8),
            )
        if kind is DoorState:
            return DoorState(door=rng.choice(["door-1", "door-2"]), state=rng.choice(list(DoorStateName)))
        return Alarm(
            alarm_type=rng.choice(list(AlarmType)),
            severity=rng.choice(list(Severity)),
            gate="g1",
            detail=rng.choice(["forced", "held open", "tamper switch"]),
        )

    def other_body(self):
        """A valid non-event body: telemetry, status or a command result."""
        choice = self.rng.randrange(3)
        if choice == 0:
            return Telemetry(uptime_s=self.rng.uniform(0, 1e5), cpu_percent=12.5, memory_bytes=10**8, outbox_depth=0)
        if choice == 1:
            return Status(state=DeviceState.ONLINE, software="test")
        return OpenDoorResult(request_id=self.uuid(), ok=True, opened=True)

    def message(self, body=None, site: str | None = None, device: str | None = None, event_id=None) -> Message:
        """A valid message (an event unless a body is given) with a seeded id and a per-device seq."""
        if site is None or device is None:
            site, device = self.device()
        self.seq[(site, device)] += 1
        seq = self.seq[(site, device)]
        return build(
            body if body is not None else self.event_body(),
            site=site,
            device=device,
            seq=seq,
            event_id=event_id or self.uuid(),
            ts=BASE_TS + timedelta(milliseconds=seq, microseconds=self.rng.randrange(1000)),
        )

    def any_message(self) -> Message:
        """A valid message for any subscribed channel (mostly events)."""
        return self.message(self.other_body() if self.rng.random() < 0.3 else None)

    def document(self) -> tuple[str, dict]:
        """Topic and JSON document of a valid message, to be broken."""
        message = self.any_message()
        return message.topic(), json.loads(encode(message))

    # ---- categories ------------------------------------------------------------------------------

    def valid(self) -> Sample:
        """A valid event; replays of it may follow."""
        message = self.message()
        sample = Sample("valid", message.topic(), encode(message), event_id=str(message.envelope.event_id))
        self.sent_valid.append((sample, message))
        return sample

    def random_bytes(self) -> Sample:
        """Random bytes that are not JSON (redrawn on the rare draw that parses)."""
        topic = self.any_message().topic()
        while True:
            payload = self.rng.randbytes(self.rng.choice([0, 1, 2, 8, 64, 512, self.rng.randrange(2048)]))
            if not _parses(payload):
                return Sample("random_bytes", topic, payload, "not_json")

    def non_json(self) -> Sample:
        """Text that is not JSON: truncated envelopes, Python reprs, XML, form data, prose."""
        topic, document = self.document()
        text = json.dumps(document)
        candidates: list[Callable[[], str]] = [
            lambda: text[: self.rng.randrange(1, len(text) - 1)],
            lambda: repr(document),
            lambda: text.replace('"', "'"),
            lambda: text[:-1] + ",}",
            lambda: "<event><site>north</site></event>",
            lambda: "site=north&device=gate-1&result=granted",
            lambda: "门禁事件：北门 刷卡 通过",
            lambda: "".join(self.rng.choice(string.printable) for _ in range(self.rng.randrange(1, 200))),
            lambda: "// comment\n" + text,
            lambda: text + text,
        ]
        while True:
            payload = self.rng.choice(candidates)().encode()
            if not _parses(payload):
                return Sample("non_json", topic, payload, "not_json")

    def wrong_schema(self) -> Sample:
        """JSON that is not an envelope, or an envelope whose data belongs to another schema."""
        topic, document = self.document()
        choice = self.rng.randrange(7)
        if choice == 0:
            payload: object = self.rng.choice([[], [document], 42, -1.5, "access.decision", None, True, [1, 2, 3]])
            return _sample("wrong_schema", topic, payload, "invalid_envelope")
        if choice == 1:
            missing = self.rng.sample(["schema", "v", "event_id", "site", "device", "ts", "seq", "data"], k=2)
            return _sample("wrong_schema", topic, _without(document, missing), "invalid_envelope")
        if choice == 2:
            keys = ["".join(self.rng.choices(string.ascii_lowercase, k=5)) for _ in range(self.rng.randrange(0, 6))]
            return _sample("wrong_schema", topic, {key: self.rng.random() for key in keys}, "invalid_envelope")
        if choice == 3:
            return _sample("wrong_schema", topic, document | {"data": self.rng.choice([[], "open", 1, None])},
                           "invalid_envelope")  # fmt: skip
        if choice == 4:
            return _sample("wrong_schema", topic, document | {"data": {}}, "invalid_data")
        if choice == 5:  # the body of another schema under this one's name (no field of it is required here)
            other = self._foreign_data(document["schema"])
            return _sample("wrong_schema", topic, document | {"data": other}, "invalid_data")
        # a command result that contradicts itself: ok with an error
        message = self.message(OpenDoorResult(request_id=self.uuid(), ok=True, opened=True))
        broken = json.loads(encode(message))
        broken["data"]["error"] = "but it failed"
        return _sample("wrong_schema", message.topic(), broken, "invalid_data")

    def _foreign_data(self, schema: str) -> dict:
        """Data of a body whose required fields the named schema's body does not share."""
        if schema in ("door.state", "device.status", "device.telemetry"):
            return {"alarm_type": "tamper", "severity": "critical"}
        return {"uptime_s": 1.0, "cpu_percent": 1.0, "memory_bytes": 1, "outbox_depth": 0}

    def wrong_types(self) -> Sample:
        """A valid envelope with one field of the wrong type (or a value no store can hold)."""
        for kind in ("ts_overflow", "seq_overflow", "float_overflow"):
            if self.out_of_range_left[kind] and self.rng.random() < 0.02:
                self.out_of_range_left[kind] -= 1
                return self._out_of_range(kind)
        topic, document = self.document()
        if self.rng.random() < 0.5:
            field, value = self.rng.choice(
                [
                    ("schema", 123),
                    ("v", "1"),
                    ("v", 1.0),
                    ("event_id", "not-a-uuid"),
                    ("event_id", 123456),
                    ("event_id", None),
                    ("site", 42),
                    ("site", "North Gate"),
                    ("device", ["gate-1"]),
                    ("ts", 1767225600),
                    ("ts", "yesterday"),
                    ("ts", "2026-01-01T08:00:00"),
                    ("seq", "7"),
                    ("seq", -1),
                    ("seq", True),
                    ("seq", 1.5),
                ]
            )
            return _sample("wrong_types", topic, document | {field: value}, "invalid_envelope")
        message = self.message()
        document = json.loads(encode(message))
        data = dict(document["data"])
        field, value = self.rng.choice(_DATA_BREAKERS[type(message.body)])
        data[field] = value
        return _sample("wrong_types", message.topic(), document | {"data": data}, "invalid_data")

    def _out_of_range(self, kind: str) -> Sample:
        """Values within the protocol's types that the decoder, the row builder or the database refuses."""
        if kind == "ts_overflow":  # an offset that moves a year-9999 time past datetime's range in UTC
            message = self.message()
            document = json.loads(encode(message)) | {"ts": "9999-12-31T23:30:00-05:00"}
            return _sample("wrong_types", message.topic(), document, "invalid_envelope")
        if kind == "seq_overflow":  # beyond a signed 64-bit column: the envelope bounds it
            message = self.message()
            document = json.loads(encode(message)) | {"seq": 2**63 + self.rng.randrange(1000)}
            return _sample("wrong_types", message.topic(), document, "invalid_envelope")
        message = self.message(Telemetry(uptime_s=1.0, cpu_percent=1.0, memory_bytes=1, outbox_depth=0))
        document = json.loads(encode(message))
        document["data"]["memory_bytes"] = 10**400  # an int no float (time-series field) can hold
        return _sample("wrong_types", message.topic(), document, "unprocessable")

    def oversize(self) -> Sample:
        """A valid message padded past its schema's limit (and a few past the protocol's 1 MiB limit)."""
        if self.rng.random() < 0.015:
            message = self.message(self.other_body() if self.rng.random() < 0.5 else None)
            size = MAX_PAYLOAD_BYTES + self.rng.choice([1, 100, 300_000])
        else:
            message = self.message(self.rng.choice([None, Status(state=DeviceState.ONLINE)]))
            size = EVENT_MAX_BYTES + self.rng.choice([1, 2, 100, self.rng.randrange(1, 3 * EVENT_MAX_BYTES)])
        document = json.loads(encode(message)) | {"padding": ""}
        base = len(json.dumps(document).encode())
        document["padding"] = "x" * (size - base)
        payload = json.dumps(document).encode()
        assert len(payload) == size
        return Sample("oversize", message.topic(), payload, "too_large")

    def spoofed(self) -> Sample:
        """A valid envelope on another device's, site's or channel's topic."""
        site, device = self.device()
        choice = self.rng.randrange(5)
        if choice == 0:
            other = self.rng.choice([d for d in DEVICES if d != device] + ["ghost-device"])
            message = self.message(site=site, device=device)
            topic = message.topic().replace(f"/{device}/", f"/{other}/", 1)
        elif choice == 1:
            other_site = self.rng.choice([s for s in SITES if s != site] + ["elsewhere"])
            message = self.message(site=site, device=device)
            topic = message.topic().replace(f"sc/v1/{site}/", f"sc/v1/{other_site}/", 1)
        elif choice == 2:  # an event of one kind on another kind's topic
            message = self.message(site=site, device=device)
            kinds = [body.TOPIC_NAME for body in EVENT_BODIES if body.TOPIC_NAME != type(message.body).TOPIC_NAME]
            topic = f"sc/v1/{site}/{device}/event/{self.rng.choice(kinds)}"
        elif choice == 3:  # a status where telemetry goes, telemetry where status goes
            message = self.message(self.rng.choice([Status(state=DeviceState.OFFLINE), self.other_body()]))
            channel = "telemetry" if isinstance(message.body, Status) else "status"
            topic = f"sc/v1/{message.envelope.site}/{message.envelope.device}/{channel}"
        else:  # a command result on an event topic
            message = self.message(OpenDoorResult(request_id=self.uuid(), ok=False, error="jammed"))
            topic = f"sc/v1/{message.envelope.site}/{message.envelope.device}/event/door"
        assert topic != message.topic()
        return Sample("spoofed", topic, encode(message), "topic_mismatch")

    def replayed(self) -> Sample:
        """An event id already sent: the same bytes again, or a new body under the old id."""
        original, message = self.rng.choice(self.sent_valid)
        if self.rng.random() < 0.5:
            return Sample("replayed", original.topic, original.payload, event_id=original.event_id)
        env = message.envelope
        again = self.message(self.event_body(type(message.body)), env.site, env.device, event_id=env.event_id)
        return Sample("replayed", again.topic(), encode(again), event_id=original.event_id)

    def unknown_version(self) -> Sample:
        """A known schema at a version nobody speaks, or a schema name nobody knows."""
        topic, document = self.document()
        if self.rng.random() < 0.6:
            version = self.rng.choice([2, 3, 10, 99, 2**31, 2**40])
            return _sample("unknown_version", topic, document | {"v": version}, "unsupported_version")
        name = self.rng.choice(
            ["access.decision.v2", "video.frame", "access-decision", "ACCESS.DECISION", "door.state2", "x\u0000y"]
        )
        return _sample("unknown_version", topic, document | {"schema": name}, "unknown_schema")

    def invalid_topic(self) -> Sample:
        """A valid payload on a topic that is no platform topic: broken levels ingest still receives, or
        topics outside its subscriptions that it never sees."""
        message = self.any_message()
        topic, payload = message.topic(), encode(message)
        parts = topic.split("/")
        if self.rng.random() < 0.67:
            index = self.rng.choice([2, 3] + ([5] if parts[4] in ("event", "cmd") else []))
            parts[index] = self.rng.choice(
                ["North", "gate_1", "gate.1", "-gate", "gate-", "", "x" * 65, "小区", "gate 1", "Access"]
            )
            return Sample("invalid_topic", "/".join(parts), payload, "bad_topic")
        site, device = message.envelope.site, message.envelope.device
        unsubscribed = self.rng.choice(
            [
                f"{topic}/extra",
                f"sc/v1/{site}/{device}/cmd/open-door",
                f"sc/v2/{site}/{device}/event/access",
                f"sc/v1/{site}/{device}",
                f"sc/v1/{site}/{device}/events/access",
                f"sc/v1/{site}/{device}/telemetry/extra",
                f"/sc/v1/{site}/{device}/event/access",
                f"SC/v1/{site}/{device}/event/access",
                "garbage",
            ]
        )
        return Sample("invalid_topic", unsubscribed, payload)


_DATA_BREAKERS: dict[type, list[tuple[str, object]]] = {
    AccessDecision: [
        ("method", "telepathy"),
        ("result", 1),
        ("gate", 123),
        ("direction", None),
        ("score", "high"),
        ("score", 1.5),
        ("latency_ms", "fast"),
        ("person_id", "张三"),
        ("reason", ""),
    ],
    PlateRead: [("validated", "yes"), ("frames", 0), ("frames", 1.5), ("confidence", 2), ("plate", "")],
    DoorState: [("state", 3), ("state", "ajar"), ("open_for_s", -1), ("door", None)],
    Alarm: [("count", 0), ("severity", "apocalyptic"), ("detail", "x" * 501), ("alarm_type", ["tamper"])],
}


def _parses(payload: bytes) -> bool:
    """Whether the standard JSON parser accepts the bytes."""
    try:
        json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _sample(category: str, topic: str, document: object, reason: str) -> Sample:
    """A sample from a JSON document."""
    return Sample(category, topic, json.dumps(document, ensure_ascii=False).encode(), reason)


def _without(document: dict, keys: list[str]) -> dict:
    """The document without some keys."""
    return {key: value for key, value in document.items() if key not in keys}


def generate(seed: int, malformed: int = 10_000, valid: int = 500) -> Plan:
    """`malformed` samples spread evenly over CATEGORIES, `valid` events interleaved, in a seeded order.

    The first sample is a valid event, so every replay has an original sent before it.
    """
    generator = Generator(seed)
    labels = [CATEGORIES[index % len(CATEGORIES)] for index in range(malformed)] + ["valid"] * (valid - 1)
    generator.rng.shuffle(labels)
    samples = [generator.valid()]
    for label in labels:
        samples.append(getattr(generator, label)())
    return Plan(samples)
