"""A plate whose only weak character is the province: split confidences, the allowlist's serial index, the gate."""

from __future__ import annotations

import json

import pytest

from edge.access.allowlist import Allowlist, plate_serial
from edge.config import PlateSettings, parse_config
from edge.pipeline import PlatePassage
from edge.vision.plate_colour import PlateColour
from edge.vision.plate_rules import PlateType, classify_plate_text
from edge.vision.plates import PlateRead
from protocol.commands import AllowlistEntry, CredentialKind
from tests.unit.test_edge_pipeline import _gate, _opened

SERIAL_MATCH = {"plate_serial_match_below": 0.5}  # the gate config's decision section, serial match on


def read_of(text: str, probs: tuple[float, ...]) -> PlateRead:
    """A validated read with the given per-character probabilities (confidence: their geometric mean)."""
    confidence = 1.0
    for p in probs:
        confidence *= p
    return PlateRead(
        text=text,
        colour=PlateColour.BLUE,
        plate_type=classify_plate_text(text),
        confidence=round(confidence ** (1 / len(probs)), 4),
        char_confidences=probs,
        bbox=(10, 10, 110, 40),
        validated=classify_plate_text(text) is not PlateType.UNKNOWN,
    )


def test_read_splits_province_and_serial_confidence() -> None:
    read = read_of("皖A12345", (0.2, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99))
    assert read.province_confidence == 0.2
    assert read.serial_confidence == pytest.approx(0.99)
    assert read.confidence < 0.8 < read.serial_confidence
    embassy = read_of("使123456", (0.9,) * 7)
    assert embassy.province_confidence is None and embassy.serial_confidence == pytest.approx(0.9)


def test_allowlist_finds_plates_by_serial() -> None:
    entries = [
        AllowlistEntry(kind=CredentialKind.PLATE, value="沪A·12345", credential_ref="v-1"),
        AllowlistEntry(kind=CredentialKind.PLATE, value="苏A12345", credential_ref="v-2"),
        AllowlistEntry(kind=CredentialKind.PLATE, value="沪B12345", credential_ref="v-3"),
        AllowlistEntry(kind=CredentialKind.CARD, value="12345", credential_ref="c-1"),
    ]
    allowlist = Allowlist(entries)
    assert sorted(e.credential_ref for e in allowlist.plates_with_serial("皖A12345")) == ["v-1", "v-2"]
    assert [e.credential_ref for e in allowlist.plates_with_serial("京B12345")] == ["v-3"]
    assert allowlist.plates_with_serial("京C12345") == []
    assert plate_serial("使123456") == "" and allowlist.plates_with_serial("使123456") == []


def _decisions(outbox) -> list[dict]:
    return [json.loads(i.payload)["data"] for i in outbox.pending() if b"access.decision" in i.payload]


def test_gate_opens_for_a_registered_car_whose_province_was_misread(tmp_path) -> None:
    entry = AllowlistEntry(kind="plate", value="琼W2WXG8", person_id="p-car", credential_ref="v-1")
    gate, relay, outbox = _gate(tmp_path, "barrier-1", "car-in", "plate", [entry], SERIAL_MATCH)
    # 琼 read as 京 at 0.3; overall confidence 0.84 would fail an exact lookup
    outcome = gate.plate(read_of("京W2WXG8", (0.3, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99)), frames=4)
    assert outcome.granted and outcome.reason == "serial-match" and _opened(relay) == 1
    decision = _decisions(outbox)[0]
    assert (decision["result"], decision["reason"], decision["credential_ref"]) == ("granted", "serial-match", "v-1")


def test_gate_refuses_a_surely_read_other_province_and_a_weak_serial(tmp_path) -> None:
    entry = AllowlistEntry(kind="plate", value="琼W2WXG8", person_id="p-car", credential_ref="v-1")
    gate, relay, _ = _gate(tmp_path, "barrier-1", "car-in", "plate", [entry], SERIAL_MATCH)
    other_car = gate.plate(read_of("京W2WXG8", (0.95, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99)), frames=4)
    assert other_car.reason == "unknown-plate"
    blurred = gate.plate(read_of("京W2WXG8", (0.3, 0.99, 0.6, 0.5, 0.99, 0.99, 0.7)), frames=4)
    assert blurred.reason == "plate-unreadable"
    assert _opened(relay) == 0


def test_serial_match_is_off_unless_the_gate_config_turns_it_on(tmp_path) -> None:
    document = {
        "site": "demo",
        "device": "gate-1",
        "data_dir": str(tmp_path / "edge"),
        "doors": [{"id": "barrier-1"}],
        "gates": [{"id": "car-in", "door": "barrier-1"}],
        "cameras": [{"id": "cam-1", "source": "unused", "role": "plate", "gate": "car-in"}],
        "plates": {},
        "decision": {"plate_serial_match_below": 0.5},
    }
    assert parse_config(document, "test").access_config().plate_serial_match_below == 0.5
    document.pop("decision")
    assert parse_config(document, "test").access_config().plate_serial_match_below == 0.0  # off unless chosen


def test_passage_decides_while_the_car_waits_when_only_the_province_is_weak(tmp_path) -> None:
    entry = AllowlistEntry(kind="plate", value="琼W2WXG8", person_id="p-car", credential_ref="v-1")
    gate, relay, outbox = _gate(tmp_path, "barrier-1", "car-in", "plate", [entry], SERIAL_MATCH)
    passage = PlatePassage(PlateSettings(vote={"min_reads": 2}), gate)
    weak_province = (0.2, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99)  # overall 0.79: below the gate's 0.8
    for number, province in enumerate(["京", "皖", "京"]):
        passage.add([read_of(f"{province}W2WXG8", weak_province)], ts=number * 0.25, latency_ms=40.0)
    # the car is still in front of the camera (the passage has not ended) and the barrier is already up
    assert _opened(relay) == 1
    assert [d["reason"] for d in _decisions(outbox)] == ["serial-match"]


def test_without_serial_match_a_weak_province_waits_for_a_better_read(tmp_path) -> None:
    entry = AllowlistEntry(kind="plate", value="琼W2WXG8", person_id="p-car", credential_ref="v-1")
    gate, relay, outbox = _gate(tmp_path, "barrier-1", "car-in", "plate", [entry])  # exact plates only
    passage = PlatePassage(PlateSettings(vote={"min_reads": 2}), gate)
    weak_province = (0.2, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99)
    for number in range(2):
        passage.add([read_of("京W2WXG8", weak_province)], ts=number * 0.25, latency_ms=40.0)
    assert _decisions(outbox) == [], "no decision on a read this unsure: the car is still being read"
    for number in range(2, 6):
        passage.add([read_of("琼W2WXG8", (0.97,) * 7)], ts=number * 0.25, latency_ms=40.0)
    assert [d["reason"] for d in _decisions(outbox)] == ["allowlisted"] and _opened(relay) == 1
