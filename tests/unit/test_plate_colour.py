"""Plate colour classification on plates rendered with a CJK font and on the labelled boxes of real photos."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.vision.plate_colour import (
    CHROMATIC_SHARE,
    PlateColour,
    classify_plate_colour,
    colour_shares,
    is_new_energy_fade,
    reconcile_colour,
    types_unlike_colour,
)
from edge.vision.plate_rules import PlateType

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

# (background RGB, text RGB) of GA 36 plates; green is the new-energy gradient's lower half.
PLATE_STYLES = {
    PlateColour.BLUE: ((20, 70, 190), (255, 255, 255)),
    PlateColour.YELLOW: ((240, 190, 20), (0, 0, 0)),
    PlateColour.GREEN: ((70, 200, 110), (0, 0, 0)),
    PlateColour.WHITE: ((245, 245, 245), (0, 0, 0)),
    PlateColour.BLACK: ((15, 15, 15), (255, 255, 255)),
}


def render_plate(text: str, background: tuple[int, int, int], ink: tuple[int, int, int]) -> np.ndarray:
    """A 440x140 single-row plate as a BGR array."""
    if not FONT.is_file():
        pytest.skip(f"CJK font {FONT} is missing (Debian package fonts-wqy-zenhei)")
    image = Image.new("RGB", (440, 140), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 435, 135), outline=ink, width=3)
    # 90 px type fits seven characters; an eight-character new-energy plate gets narrower type
    size = 90 if len(text) <= 7 else 78
    draw.text((24, 22 + (90 - size) // 2), text, font=ImageFont.truetype(str(FONT), size), fill=ink)
    return np.asarray(image)[:, :, ::-1].copy()


@pytest.mark.parametrize("colour", list(PLATE_STYLES))
def test_rendered_plate_colour(colour: PlateColour) -> None:
    background, ink = PLATE_STYLES[colour]
    plate = render_plate("京A12345", background, ink)
    assert classify_plate_colour(plate) is colour


def test_new_energy_gradient_is_green() -> None:
    plate = render_plate("皖AD12345", (70, 200, 110), (0, 0, 0))
    # GA 36 new-energy plates fade from near white at the top to green at the bottom
    fade = np.linspace(0.0, 1.0, plate.shape[0])[:, None, None]
    white = np.full_like(plate, 235)
    blended = (white * (1 - fade) + plate * fade).astype(np.uint8)
    assert classify_plate_colour(blended) is PlateColour.GREEN


def test_blue_under_dim_light_is_still_blue() -> None:
    plate = render_plate("苏E2Y256", *PLATE_STYLES[PlateColour.BLUE])
    assert classify_plate_colour((plate * 0.55).astype(np.uint8)) is PlateColour.BLUE


def test_empty_crop_is_unknown() -> None:
    assert classify_plate_colour(np.zeros((0, 0, 3), np.uint8)) is PlateColour.UNKNOWN


def test_green_looking_ordinary_plate_with_white_characters_is_blue() -> None:
    # white characters on a teal ground: a blue plate under a colour cast (ordinary plates are never green)
    plate = render_plate("京FK5358", (40, 190, 160), (240, 240, 240))
    assert classify_plate_colour(plate) is PlateColour.GREEN
    assert reconcile_colour(PlateColour.GREEN, PlateType.ORDINARY, plate) is PlateColour.BLUE


def test_new_energy_plate_stays_green_and_a_blue_reading_of_one_is_corrected() -> None:
    plate = render_plate("皖AD12345", (40, 190, 160), (10, 10, 10))
    assert reconcile_colour(PlateColour.GREEN, PlateType.NEW_ENERGY_SMALL, plate) is PlateColour.GREEN
    assert reconcile_colour(PlateColour.BLUE, PlateType.NEW_ENERGY_SMALL, plate) is PlateColour.GREEN


def test_unvalidated_reads_keep_the_measured_colour() -> None:
    plate = render_plate("AB12345", (40, 190, 160), (240, 240, 240))
    assert reconcile_colour(PlateColour.GREEN, PlateType.UNKNOWN, plate) is PlateColour.GREEN


def fade_plate(top_rgb: tuple[int, int, int], bottom_rgb: tuple[int, int, int], upwards: bool = False) -> np.ndarray:
    """Black characters on a ground that stays near top_rgb and turns to bottom_rgb only near the bottom edge."""
    plate = render_plate("皖AD11166", (255, 255, 255), (0, 0, 0))
    fade = np.linspace(0.0, 1.0, plate.shape[0])[:, None, None] ** 3
    if upwards:
        fade = fade[::-1]
    top, bottom = np.array(top_rgb[::-1], float), np.array(bottom_rgb[::-1], float)
    ground = top * (1 - fade) + bottom * fade
    ink = plate < 128  # black characters and border stay black
    return np.where(ink, plate, np.broadcast_to(ground, plate.shape)).astype(np.uint8)


def test_overexposed_new_energy_gradient_is_green_not_white() -> None:
    # Overexposed, the fade keeps its green only in the lower part: too pale overall for the green share
    plate = fade_plate((245, 250, 245), (180, 235, 170))
    assert colour_shares(plate)[PlateColour.GREEN] < CHROMATIC_SHARE
    assert is_new_energy_fade(plate)
    assert classify_plate_colour(plate) is PlateColour.GREEN


def test_evenly_green_tinted_white_plate_stays_white() -> None:
    # a white plate under a greenish cast is tinted alike from top to bottom: no fade
    plate = fade_plate((215, 240, 210), (215, 240, 210))
    assert not is_new_energy_fade(plate)
    assert classify_plate_colour(plate) is PlateColour.WHITE


def test_white_plate_shaded_at_the_top_stays_white() -> None:
    # a shadow darkens the top of a white plate without giving it a colour
    plate = fade_plate((150, 150, 150), (245, 245, 245))
    assert not is_new_energy_fade(plate)
    assert classify_plate_colour(plate) is PlateColour.WHITE


def test_green_fading_upwards_is_not_a_new_energy_plate() -> None:
    # the new-energy fade is white at the top and green at the bottom, never the other way round
    plate = fade_plate((245, 250, 245), (180, 235, 170), upwards=True)
    assert not is_new_energy_fade(plate)
    assert classify_plate_colour(plate) is PlateColour.WHITE


@pytest.mark.data
def test_labelled_plate_boxes_fade_only_when_green(shared_data: Path) -> None:
    """Every labelled green plate is green (pale ones by their fade); no other labelled plate looks faded."""
    with (shared_data / "manifest.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] == "plate" and row["plate_bbox_xyxy"]]
    green_seen = 0
    for row in rows:
        image = cv2.imdecode(np.fromfile(str(shared_data / row["file"]), dtype=np.uint8), cv2.IMREAD_COLOR)
        x0, y0, x1, y1 = (int(value) for value in row["plate_bbox_xyxy"].split())
        crop = image[y0:y1, x0:x1]
        if row["plate_color"] == "green":
            green_seen += 1
            assert classify_plate_colour(crop) is PlateColour.GREEN, row["file"]
        else:
            assert not is_new_energy_fade(crop), row["file"]
    assert green_seen >= 5


def test_types_unlike_colour_follow_ga36() -> None:
    new_energy = {PlateType.NEW_ENERGY_SMALL, PlateType.NEW_ENERGY_LARGE}
    assert types_unlike_colour(PlateColour.BLUE) == new_energy
    # large new-energy plates are yellow-green: a yellow reading does not rule them out
    assert types_unlike_colour(PlateColour.YELLOW) == {PlateType.NEW_ENERGY_SMALL}
    green = types_unlike_colour(PlateColour.GREEN)
    assert PlateType.ORDINARY in green and PlateType.POLICE in green and not green & new_energy
    assert PlateType.UNKNOWN not in green
    for colour in (PlateColour.WHITE, PlateColour.BLACK, PlateColour.UNKNOWN):
        assert types_unlike_colour(colour) == frozenset()
