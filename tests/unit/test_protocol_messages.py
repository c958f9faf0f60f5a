"""Envelope and every body schema: strict on send, tolerant of unknown fields on receive, bad input refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from protocol import MAX_PAYLOAD_BYTES, REGISTRY, ProtocolError, build, decode, encode
from protocol.commands import (
    AllowlistEntry,
    AllowlistSync,
    AllowlistSyncResult,
    ApplyRetention,
    ApplyRetentionResult,
    ConfigUpdate,
    ConfigUpdateResult,
    CredentialKind,
    ErasePerson,
    ErasePersonResult,
    GalleryEntry,
    GallerySync,
    GallerySyncResult,
    OpenDoor,
    OpenDoorResult,
    SyncMode,
)
from protocol.device import CameraStats, Capability, DeviceState, Status, Telemetry
from protocol.events import AccessDecision, Alarm, AlarmType, DoorState, DoorStateName, PlateRead, Severity
from protocol.receipts import MAX_RECEIPT_IDS, EventsStored

REQUEST = uuid4()
SAMPLES = {
    AccessDecision: AccessDecision(
        gate="north",
        direction="in",
        method="face",
        result="granted",
        reason="face-match",
        person_id="p-1",
        score=0.93,
        latency_ms=81.5,
    ),
    PlateRead: PlateRead(
        gate="car-in",
        direction="in",
        plate="皖A12345",
        colour="blue",
        plate_type="ordinary",
        validated=True,
        confidence=0.97,
        frames=3,
    ),
    DoorState: DoorState(door="door-1", state=DoorStateName.HELD_OPEN, open_for_s=31.0),
    Alarm: Alarm(alarm_type=AlarmType.DOOR_FORCED_OPEN, severity=Severity.CRITICAL, door="door-1", detail="forced"),
    Telemetry: Telemetry(
        uptime_s=10,
        cpu_percent=12.5,
        memory_bytes=10_000_000,
        outbox_depth=3,
        cameras=[CameraStats(camera="cam-1", fps=14.9, connected=True)],
    ),
    Status: Status(state=DeviceState.ONLINE, software="0.1.0", gallery_version=4),
    GallerySync: GallerySync(
        request_id=REQUEST,
        mode=SyncMode.INCREMENTAL,
        base_version=3,
        version=4,
        upserts=[GalleryEntry(person_id="p-1", template_id="t-1", embedding=[0.1] * 128)],
        removes=["p-2"],
    ),
    GallerySyncResult: GallerySyncResult(request_id=REQUEST, ok=True, version=4, templates=10),
    AllowlistSync: AllowlistSync(
        request_id=REQUEST,
        mode=SyncMode.FULL,
        base_version=0,
        version=1,
        upserts=[
            AllowlistEntry(
                kind=CredentialKind.CARD,
                value="1234",
                credential_ref="c-1",
                valid_until=datetime(2030, 1, 1, tzinfo=UTC),
            )
        ],
    ),
    AllowlistSyncResult: AllowlistSyncResult(
        request_id=REQUEST, ok=False, error="base version 2 != 1", version=1, entries=5
    ),
    OpenDoor: OpenDoor(request_id=REQUEST, door="door-1", operator="u-7", reason="delivery"),
    OpenDoorResult: OpenDoorResult(request_id=REQUEST, ok=True, opened=True),
    ErasePerson: ErasePerson(request_id=REQUEST, person_id="p-1"),
    ErasePersonResult: ErasePersonResult(
        request_id=REQUEST, ok=True, person_id="p-1", templates_erased=2, gallery_version=5
    ),
    ConfigUpdate: ConfigUpdate(request_id=REQUEST, version=2, config={"telemetry": {"interval_s": 30}}),
    ConfigUpdateResult: ConfigUpdateResult(request_id=REQUEST, ok=True, version=2),
    ApplyRetention: ApplyRetention(request_id=REQUEST, events_max_age_s=7 * 86400, snapshots_max_age_s=86400),
    EventsStored: EventsStored(event_ids=[uuid4(), uuid4()]),
    ApplyRetentionResult: ApplyRetentionResult(request_id=REQUEST, ok=True, events_purged=12),
}


def test_every_registered_schema_has_a_sample():
    assert set(SAMPLES) == set(REGISTRY.values())


@pytest.mark.parametrize("body", list(SAMPLES.values()), ids=lambda b: type(b).SCHEMA)
def test_round_trip_through_the_wire(body):
    message = build(body, site="oak-garden", device="gate-1", seq=7)
    payload = encode(message)
    decoded = decode(payload, message.topic())
    assert decoded.body == body
    assert decoded.envelope.event_id == message.envelope.event_id
    assert decoded.envelope.seq == 7
    assert decoded.envelope.ts.tzinfo is not None and decoded.envelope.ts.utcoffset() == timedelta(0)
    document = json.loads(payload)
    assert document["schema"] == type(body).SCHEMA and document["v"] == 1


def _payload(body=None, **envelope_changes) -> dict:
    message = build(body or SAMPLES[AccessDecision], site="s1", device="d1", seq=1)
    document = json.loads(encode(message))
    document.update(envelope_changes)
    return document


def test_receive_ignores_unknown_fields_at_both_levels():
    document = _payload(added_later="x")
    document["data"]["new_field"] = {"nested": 1}
    message = decode(json.dumps(document))
    assert message.body == SAMPLES[AccessDecision]


def test_receive_ignores_unknown_fields_in_nested_models():
    document = _payload(SAMPLES[GallerySync])
    document["data"]["upserts"][0]["quality"] = 0.9
    assert decode(json.dumps(document)).body == SAMPLES[GallerySync]


def test_timestamps_are_normalised_to_utc():
    local = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    message = build(SAMPLES[DoorState], site="s1", device="d1", seq=1, ts=local)
    assert decode(encode(message)).envelope.ts == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["data"].update(score="0.9"), "invalid_data"),
        (lambda d: d["data"].update(score=1.5), "invalid_data"),
        (lambda d: d["data"].update(method="iris"), "invalid_data"),
        (lambda d: d["data"].update(gate="North Gate"), "invalid_data"),
        (lambda d: d["data"].pop("result"), "invalid_data"),
        (lambda d: d.update(seq="1"), "invalid_envelope"),
        (lambda d: d.update(seq=-1), "invalid_envelope"),
        (lambda d: d.update(event_id="not-a-uuid"), "invalid_envelope"),
        (lambda d: d.update(ts="2026-01-01T00:00:00"), "invalid_envelope"),
        (lambda d: d.pop("device"), "invalid_envelope"),
        (lambda d: d.update(schema="access.teleport"), "unknown_schema"),
        (lambda d: d.update(v=2), "unsupported_version"),
        (lambda d: d.update(data=[1, 2]), "invalid_envelope"),
        (lambda d: d.update(schema=["access.decision"]), "invalid_envelope"),
        (lambda d: d.update(v=True), "invalid_envelope"),
        (lambda d: d.update(v="1"), "invalid_envelope"),
    ],
)
def test_bad_input_is_refused_with_a_reason(mutate, reason):
    document = _payload()
    mutate(document)
    with pytest.raises(ProtocolError) as caught:
        decode(json.dumps(document))
    assert caught.value.reason == reason


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"{", b"[]", b"42", "null"])
def test_non_json_and_non_objects_are_refused(payload):
    with pytest.raises(ProtocolError) as caught:
        decode(payload)
    assert caught.value.reason in {"not_json", "invalid_envelope"}


def test_oversize_payloads_are_refused_before_parsing():
    with pytest.raises(ProtocolError) as caught:
        decode(b" " * (MAX_PAYLOAD_BYTES + 1))
    assert caught.value.reason == "too_large"


def test_event_size_limit_is_per_schema():
    document = _payload()
    document["padding"] = "x" * 20_000
    with pytest.raises(ProtocolError) as caught:
        decode(json.dumps(document))
    assert caught.value.reason == "too_large"


def test_topic_must_match_the_envelope():
    message = build(SAMPLES[AccessDecision], site="s1", device="d1", seq=1)
    payload = encode(message)
    for wrong in ["sc/v1/s1/other-gate/event/access", "sc/v1/s2/d1/event/access", "sc/v1/s1/d1/event/alarm"]:
        with pytest.raises(ProtocolError) as caught:
            decode(payload, wrong)
        assert caught.value.reason == "topic_mismatch"


def test_send_side_is_strict():
    with pytest.raises(ValidationError):
        AccessDecision(gate="g", direction="in", method="card", result="granted", reason="r", shoe_size=42)
    with pytest.raises(ValidationError):
        Status(state="sleeping")
    with pytest.raises(ProtocolError):
        build(SAMPLES[Status], site="Bad Site", device="d1", seq=1)


def test_status_capabilities_travel_and_are_optional():
    said = build(Status(state=DeviceState.ONLINE, capabilities=(Capability.PLATES,)), site="s1", device="d1", seq=0)
    assert decode(encode(said), said.topic()).body.capabilities == (Capability.PLATES,)
    older = json.loads(encode(build(Status(state=DeviceState.ONLINE), site="s1", device="d1", seq=0)))
    del older["data"]["capabilities"]
    assert decode(json.dumps(older).encode()).body.capabilities is None, "an older agent says nothing"
    older["data"]["capabilities"] = ["faces", "x-ray"]
    with pytest.raises(ProtocolError) as caught:
        decode(json.dumps(older).encode())
    assert caught.value.reason == "invalid_data"


def test_encode_refuses_a_tampered_envelope():
    message = build(SAMPLES[AccessDecision], site="s1", device="d1", seq=1)
    message.envelope.data["unexpected"] = 1
    with pytest.raises(ProtocolError) as caught:
        encode(message)
    assert caught.value.reason == "invalid_data"


def test_command_rules():
    with pytest.raises(ValidationError):
        GallerySync(request_id=REQUEST, mode="incremental", base_version=4, version=4)
    with pytest.raises(ValidationError):
        GallerySync(request_id=REQUEST, mode="full", base_version=0, version=1, chunk=2, chunks=2)
    with pytest.raises(ValidationError):
        GalleryEntry(person_id="p", template_id="t", embedding=[0.0] * 10)
    with pytest.raises(ValidationError):
        OpenDoor(request_id=REQUEST, door="d", operator="u", reason="r", pulse_ms=10)
    with pytest.raises(ValidationError):
        OpenDoorResult(request_id=REQUEST, ok=False)
    with pytest.raises(ValidationError):
        OpenDoorResult(request_id=REQUEST, ok=True, error="but also failed")


def test_no_personal_data_in_topics():
    body = SAMPLES[AccessDecision]
    topic = build(body, site="s1", device="d1", seq=1).topic()
    assert "p-1" not in topic and "face" not in topic


def test_a_receipt_names_between_one_and_the_most_event_ids():
    with pytest.raises(ValidationError):
        EventsStored(event_ids=[])
    with pytest.raises(ValidationError):
        EventsStored(event_ids=[uuid4() for _ in range(MAX_RECEIPT_IDS + 1)])
    message = build(EventsStored(event_ids=[uuid4()]), site="s1", device="d1", seq=0)
    assert message.topic() == "sc/v1/s1/d1/cmd/events-stored"
    site, device = "s" * 64, "d" * 64
    full = build(EventsStored(event_ids=[uuid4() for _ in range(MAX_RECEIPT_IDS)]), site=site, device=device, seq=0)
    assert decode(encode(full)).body == full.body, "the fullest receipt fits its size limit"
