"""Normalisation and validation of every GA 36 plate type."""

from __future__ import annotations

import pytest

from edge.vision.plate_rules import (
    PLATE_PATTERNS,
    PLATE_TEMPLATES,
    PROVINCES,
    PlateType,
    classify_plate_text,
    is_valid_plate,
    looks_like_plate_text,
    normalise_plate_text,
)

VALID = {
    PlateType.ORDINARY: ["京A12345", "皖AB112D", "粤BD8K2Z", "新A0N718"],
    PlateType.NEW_ENERGY_SMALL: ["皖AD00518", "沪AF71017", "京ADA1234", "粤BK12345", "浙AA12345"],
    PlateType.NEW_ENERGY_LARGE: ["皖A12345D", "粤B00001F"],
    PlateType.POLICE: ["鄂F8888警", "京A1234警"],
    PlateType.COACH: ["渝B3587学", "琼A6716学"],
    PlateType.TRAILER: ["冀A1234挂"],
    PlateType.HONG_KONG_MACAU: ["粤Z1234港", "粤ZA123澳"],
    PlateType.CONSULATE: ["沪A1234领"],
    PlateType.EMBASSY: ["使014578", "224001使"],
}

INVALID = [
    "",
    "京A1234",  # too short
    "京A123456",  # eight characters, not a new-energy layout
    "京AI2345",  # I never occurs in the serial
    "京AO2345",  # O never occurs in the serial
    "京112345",  # the issuing-authority position is a letter
    "港A12345",  # 港 is not a province
    "A12345",  # no province
    "WA56660",  # a Polish plate
    "M5XSX",  # a British plate
    "皖AL12345",  # new energy: L is not an energy letter
    "皖AD1234A",  # new energy small: the last four are digits
    "粤A1234港",  # Hong Kong plates are 粤Z
    "使01457",  # embassy: six digits
    "京A12345警",  # police: four serial characters
]


def test_there_are_31_distinct_provinces() -> None:
    assert len(PROVINCES) == 31
    assert len(set(PROVINCES)) == 31


def test_every_type_has_a_pattern_and_a_template() -> None:
    for plate_type in PlateType:
        if plate_type is PlateType.UNKNOWN:
            continue
        assert plate_type in PLATE_PATTERNS
    # every template only produces texts its own pattern accepts
    for plate_type, template in PLATE_TEMPLATES.items():
        text = "".join(allowed[0] for allowed in template)
        assert PLATE_PATTERNS[plate_type].match(text), (plate_type, text)


@pytest.mark.parametrize(("plate_type", "text"), [(t, x) for t, texts in VALID.items() for x in texts])
def test_valid_examples_validate_as_their_type(plate_type: PlateType, text: str) -> None:
    assert is_valid_plate(text, plate_type)
    assert is_valid_plate(text)
    if plate_type is not PlateType.NEW_ENERGY_SMALL or text != "浙AA12345":
        assert classify_plate_text(text) in (plate_type, PlateType.ORDINARY)


def test_double_row_uses_the_ordinary_text_pattern() -> None:
    assert is_valid_plate("京EA5331", PlateType.DOUBLE_ROW)
    assert not is_valid_plate("京EA533", PlateType.DOUBLE_ROW)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_examples_are_rejected(text: str) -> None:
    assert not is_valid_plate(text)
    assert classify_plate_text(text) is PlateType.UNKNOWN


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("京F·K5358", "京FK5358"),
        ("皖A 00T45", "皖A00T45"),
        ("皖A-D00518", "皖AD00518"),
        ("皖A·GOS33", "皖AG0S33"),  # O in the serial is a zero
        ("川A·3X7JI", "川A3X7J1"),  # I in the serial is a one
        ("苏e-7r5yo", "苏E7R5Y0"),  # lower case and O
        ("ＡＢ１２３", "AB123"),  # full-width characters
        ("使O14578", "使014578"),
    ],
)
def test_normalisation(raw: str, expected: str) -> None:
    assert normalise_plate_text(raw) == expected


def test_normalisation_leaves_foreign_plates_alone() -> None:
    # no Chinese opener: O and I stay letters, nothing is forced into a Chinese layout
    assert normalise_plate_text("AYO 9034") == "AYO9034"
    assert normalise_plate_text("NORTH") == "NORTH"
    assert not is_valid_plate(normalise_plate_text("AYO 9034"))


def test_authority_letter_is_not_rewritten() -> None:
    assert normalise_plate_text("京O12345") == "京O12345"
    assert not is_valid_plate("京O12345")


def test_plate_likeness_of_unvalidated_text() -> None:
    assert looks_like_plate_text("A931Y9")
    assert looks_like_plate_text("WA56660")
    assert not looks_like_plate_text("AB")
    assert not looks_like_plate_text("欢迎光临小区")
    assert not looks_like_plate_text("ABCDEFGHJKLM")
