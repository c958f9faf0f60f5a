"""Plate background colour (blue, yellow, green, white, black) from the pixels of a plate crop."""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np


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


def ink_is_light(crop_bgr: np.ndarray) -> bool:
    """Whether the characters (the minority of the middle band after Otsu) are lighter than the background."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    height = grey.shape[0]
    band = grey[int(height * 0.25) : int(height * 0.75) or height]
    if band.size == 0:
        return False
    _, binary = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(binary.mean()) < 0.5  # the light pixels are the minority: light characters on a dark ground


def classify_plate_colour(crop_bgr: np.ndarray) -> PlateColour:
    """Background colour of a plate crop: a chromatic colour when enough pixels carry it, else white/black."""
    if crop_bgr.size == 0:
        return PlateColour.UNKNOWN
    shares = colour_shares(crop_bgr)
    chromatic = max(HUE_RANGES, key=lambda colour: shares[colour])
    if shares[chromatic] >= CHROMATIC_SHARE:
        # Green (new-energy) plates carry black characters, blue ones white: a cyan cast on a blue plate
        # (white balance, sodium light) moves its hue into green, but not its white characters.
        if chromatic is PlateColour.GREEN and ink_is_light(crop_bgr):
            return PlateColour.BLUE
        return chromatic
    # White plates carry black characters and black plates white ones: the larger share is the background.
    if max(shares[PlateColour.WHITE], shares[PlateColour.BLACK]) < 0.2:
        return PlateColour.UNKNOWN
    return PlateColour.WHITE if shares[PlateColour.WHITE] >= shares[PlateColour.BLACK] else PlateColour.BLACK
