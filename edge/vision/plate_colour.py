"""Plate background colour (blue, yellow, green, white, black) from the pixels of a plate crop."""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from edge.vision.plate_rules import PlateType


class PlateColour(StrEnum):
    """Background colours of Chinese plates (GA 36)."""

    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    WHITE = "white"
    BLACK = "black"
    UNKNOWN = "unknown"


# OpenCV hue runs 0..179. Ranges of the saturated plate backgrounds.
HUE_RANGES: dict[PlateColour, tuple[int, int]] = {
    PlateColour.YELLOW: (11, 34),
    PlateColour.GREEN: (35, 95),
    PlateColour.BLUE: (96, 130),
}
MIN_SATURATION = {PlateColour.YELLOW: 70, PlateColour.GREEN: 35, PlateColour.BLUE: 70}
MIN_VALUE = 50
CHROMATIC_SHARE = 0.22
# New-energy plates (GA 36) fade from near white at the top to green at the bottom: in an overexposed photo
# the green survives only in the lower part, as a saturation that grows from the top band to the bottom one.
FADE_GREEN_SHARE = 0.6
FADE_MIN_SATURATION = 22
FADE_SATURATION_RATIO = 2.0


def colour_shares(crop_bgr: np.ndarray, border: float = 0.08) -> dict[PlateColour, float]:
    """Share of the crop's inner pixels that fall in each background colour class."""
    height, width = crop_bgr.shape[:2]
    dy, dx = int(height * border), int(width * border)
    inner = crop_bgr[dy : height - dy or height, dx : width - dx or width]
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int16)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    total = max(1, hue.size)
    shares: dict[PlateColour, float] = {}
    for colour, (low, high) in HUE_RANGES.items():
        in_class = (hue >= low) & (hue <= high) & (sat >= MIN_SATURATION[colour]) & (val >= MIN_VALUE)
        shares[colour] = float(in_class.sum()) / total
    shares[PlateColour.WHITE] = float(((sat < 60) & (val >= 140)).sum()) / total
    shares[PlateColour.BLACK] = float((val < 80).sum()) / total
    return shares


def is_new_energy_fade(crop_bgr: np.ndarray, border: float = 0.08) -> bool:
    """Whether a crop's ground is green at the bottom and clearly paler above: a new-energy plate's fade."""
    # A white plate under a green cast is tinted alike from top to bottom; a new-energy plate's ground is far
    # less saturated at the top than at the bottom. The ground is the brighter half of each band's pixels.
    if crop_bgr.size == 0:
        return False
    height, width = crop_bgr.shape[:2]
    dy, dx = int(height * border), int(width * border)
    hsv = cv2.cvtColor(crop_bgr[dy : height - dy or height, dx : width - dx or width], cv2.COLOR_BGR2HSV)
    third = max(1, hsv.shape[0] // 3)
    green_low, green_high = HUE_RANGES[PlateColour.GREEN]
    levels = []
    for band in (hsv[:third], hsv[hsv.shape[0] - third :]):
        pixels = band.reshape(-1, 3).astype(np.int16)
        ground = pixels[pixels[:, 2] >= np.median(pixels[:, 2])]
        green_share = float(((ground[:, 0] >= green_low) & (ground[:, 0] <= green_high)).mean())
        levels.append((green_share, float(np.median(ground[:, 1]))))
    (_, top_saturation), (bottom_green, bottom_saturation) = levels
    return (
        bottom_green >= FADE_GREEN_SHARE
        and bottom_saturation >= FADE_MIN_SATURATION
        and bottom_saturation >= FADE_SATURATION_RATIO * max(top_saturation, 1.0)
    )


def ink_is_light(crop_bgr: np.ndarray, min_share: float = 0.05) -> bool:
    """Whether the characters are light: many unsaturated pixels brighter than the coloured ground, few darker.

    Luminance, not HSV value, tells white from a bright cyan ground. The fade of a new-energy plate is light
    and unsaturated too, but its black characters are there as well, so it does not count as light ink.
    """
    height = crop_bgr.shape[0]
    band = crop_bgr[int(height * 0.25) : int(height * 0.75) or height]
    saturation = cv2.cvtColor(band, cv2.COLOR_BGR2HSV)[:, :, 1].ravel()
    luminance = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY).ravel().astype(np.int16)
    ground = luminance[saturation >= 80]
    if ground.size < min_share * luminance.size:
        return False
    level = float(np.median(ground))
    grey = saturation < 60
    light = float((grey & (luminance > level + 30)).mean())
    dark = float((grey & (luminance < level - 30)).mean())
    return light >= min_share and dark < min_share


def classify_plate_colour(crop_bgr: np.ndarray) -> PlateColour:
    """Background colour of a plate crop: a chromatic colour when enough pixels carry it, else white/black."""
    if crop_bgr.size == 0:
        return PlateColour.UNKNOWN
    shares = colour_shares(crop_bgr)
    chromatic = max(HUE_RANGES, key=lambda colour: shares[colour])
    if shares[chromatic] >= CHROMATIC_SHARE:
        return chromatic
    if is_new_energy_fade(crop_bgr):
        return PlateColour.GREEN
    # White plates carry black characters and black plates white ones: the larger share is the background.
    if max(shares[PlateColour.WHITE], shares[PlateColour.BLACK]) < 0.2:
        return PlateColour.UNKNOWN
    return PlateColour.WHITE if shares[PlateColour.WHITE] >= shares[PlateColour.BLACK] else PlateColour.BLACK


NEW_ENERGY_TYPES = (PlateType.NEW_ENERGY_SMALL, PlateType.NEW_ENERGY_LARGE)


def types_unlike_colour(colour: PlateColour) -> frozenset[PlateType]:
    """Plate types that never have this background (GA 36: new-energy plates are green, or yellow-green if large)."""
    if colour is PlateColour.BLUE:
        return frozenset(NEW_ENERGY_TYPES)
    if colour is PlateColour.YELLOW:
        return frozenset({PlateType.NEW_ENERGY_SMALL})
    if colour is PlateColour.GREEN:
        return frozenset(t for t in PlateType if t not in (*NEW_ENERGY_TYPES, PlateType.UNKNOWN))
    return frozenset()


def reconcile_colour(colour: PlateColour, plate_type: PlateType, crop_bgr: np.ndarray) -> PlateColour:
    """The background colour made consistent with a validated plate type (GA 36: only new-energy plates are green).

    A colour cast (white balance, sodium light) can move a blue plate's hue into green; a green read on an
    ordinary plate is blue when its characters are light (blue plates carry white ones), else yellow.
    """
    if colour is PlateColour.GREEN and plate_type not in (*NEW_ENERGY_TYPES, PlateType.UNKNOWN):
        return PlateColour.BLUE if ink_is_light(crop_bgr) else PlateColour.YELLOW
    if colour is PlateColour.BLUE and plate_type in NEW_ENERGY_TYPES:
        return PlateColour.GREEN
    return colour
