"""Plate colour classification on plates rendered with a CJK font."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.vision.plate_colour import PlateColour, classify_plate_colour, reconcile_colour
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
    draw.text((24, 22), text, font=ImageFont.truetype(str(FONT), 90), fill=ink)
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
