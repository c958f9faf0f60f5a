"""Identifier validation and masking: GB 11643 ID numbers, phones, GB/T 28181 ids, plates."""

from __future__ import annotations

import pytest

from server.storage.identity import (
    IdentifierError,
    id_check_char,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    parse_gb28181_id,
)
from server.storage.people import vehicle_values

VALID_ID = "11010519491231002X"  # the worked example of GB 11643-1999


def test_check_digit_of_the_standard_example():
    assert id_check_char(VALID_ID[:17]) == "X"
    assert normalise_id_number(VALID_ID.lower()) == VALID_ID


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("110105194912310021", "check digit"),
        ("11010519491231002", "17 digits"),
        ("990105194912310021", "province"),
        ("110105194913310023", "calendar"),
        ("01010519491231002X", "17 digits"),
    ],
)
def test_bad_id_numbers_are_refused(raw, why):
    with pytest.raises(IdentifierError, match=why):
        normalise_id_number(raw)


def test_every_single_digit_change_breaks_the_check_digit():
    for position in range(17):
        digit = int(VALID_ID[position])
        changed = VALID_ID[:position] + str((digit + 1) % 10) + VALID_ID[position + 1 :]
        assert id_check_char(changed[:17]) != "X", f"position {position}"


def test_phone_numbers():
    assert normalise_phone("+86 138-0013-8000") == "13800138000"
    assert normalise_phone("010-12345678") == "01012345678"
    for bad in ("12800138000", "1380013800", "abc"):
        with pytest.raises(IdentifierError):
            normalise_phone(bad)


def test_masks_hide_the_middle():
    assert mask_id_number(VALID_ID) == "110***********002X"
    assert mask_phone("13800138000") == "138****8000"


def test_gb28181_segments():
    parsed = parse_gb28181_id("34020000001320000001")
    assert (parsed.province, parsed.industry, parsed.type_code, parsed.network, parsed.serial) == (
        "34",
        "00",
        132,
        0,
        "000001",
    )
    for bad, why in [
        ("3402000000132000000", "20 digits"),
        ("99020000001320000001", "province"),
        ("34020000001000000001", "type code"),
        ("34020000001329000001", "reserved"),
    ]:
        with pytest.raises(IdentifierError, match=why):
            parse_gb28181_id(bad)


def test_vehicle_plate_is_normalised_and_checked():
    values = vehicle_values(site_id="demo", plate="京a·12345", colour="blue", vehicle_type="car")
    assert values["plate"] == "京A12345"
    with pytest.raises(ValueError, match="plate"):
        vehicle_values(site_id="demo", plate="XYZ", colour="blue", vehicle_type="car")
    with pytest.raises(ValueError, match="colour"):
        vehicle_values(site_id="demo", plate="京A12345", colour="pink", vehicle_type="car")
