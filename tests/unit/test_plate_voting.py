"""Multi-frame voting of plate reads per vehicle."""

from __future__ import annotations

import pytest

from edge.vision.plate_colour import PlateColour
from edge.vision.plate_rules import PlateType, classify_plate_text
from edge.vision.plate_voting import PlateVoteConfig, PlateVoter, text_distance, vote
from edge.vision.plates import PlateRead


def make_read(text: str, confidence: float, validated: bool | None = None) -> PlateRead:
    plate_type = classify_plate_text(text)
    return PlateRead(
        text=text,
        colour=PlateColour.BLUE,
        plate_type=plate_type,
        confidence=confidence,
        char_confidences=(confidence,) * len(text),
        bbox=(10, 10, 110, 40),
        validated=plate_type is not PlateType.UNKNOWN if validated is None else validated,
    )


def test_majority_of_confident_reads_wins() -> None:
    reads = [make_read("皖A931Y9", 0.9), make_read("陕A931Y9", 0.6), make_read("皖A931Y9", 0.8)]
    assert vote(reads).text == "皖A931Y9"


def test_one_very_confident_read_beats_weak_ones() -> None:
    reads = [make_read("京FK5358", 0.99), make_read("新FK5358", 0.3), make_read("新FK5358", 0.3)]
    assert vote(reads).text == "京FK5358"


def test_validated_read_beats_unvalidated_read_of_the_same_car() -> None:
    reads = [make_read("A931Y9", 0.95), make_read("A931Y9", 0.95), make_read("皖A931Y9", 0.7)]
    result = vote(reads)
    assert result.text == "皖A931Y9"
    assert result.validated


def test_per_position_vote_repairs_single_character_errors() -> None:
    # every frame has one wrong character, at a different place each time
    reads = [make_read("皖A8T45D", 0.8), make_read("皖AB745D", 0.8), make_read("皖ABT450", 0.8)]
    result = vote(reads)
    assert result.text == "皖ABT45D"
    assert result.validated
    assert result.plate_type is PlateType.ORDINARY


def test_voter_keeps_vehicles_apart_and_forgets_finished_ones() -> None:
    voter = PlateVoter(PlateVoteConfig(min_reads=2))
    voter.add("car-1", [make_read("苏E2Y256", 0.9)])
    voter.add("car-2", [make_read("豫K91239", 0.9)])
    assert voter.result("car-1") is None  # one read is not enough with min_reads=2
    voter.add("car-1", [make_read("苏E2Y256", 0.8)])
    voter.add("car-2", [make_read("豫K91239", 0.95)])
    assert voter.result("car-1").text == "苏E2Y256"
    assert voter.finish("car-2").text == "豫K91239"
    assert voter.vehicles() == ["car-1"]
    assert voter.result("car-2") is None


def test_vote_needs_reads() -> None:
    with pytest.raises(ValueError):
        vote([])


def test_text_distance() -> None:
    assert text_distance("皖A931Y9", "皖A931Y9") == 0
    assert text_distance("皖A931Y9", "A931Y9") == 1
    assert text_distance("皖A931Y9", "陕A981Y9") == 2
