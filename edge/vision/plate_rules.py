"""Chinese licence-plate rules (GA 36): provinces, plate types, normalisation and validation."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

# The 31 mainland province-level abbreviations that open an ordinary plate.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Letters used on plates: I and O never occur (they would be confused with 1 and 0).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS
# Energy-kind letters of new-energy plates: D (electric), F (other), then the letters added since 2022.
NEW_ENERGY_LETTERS = "ABCDEFGHJK"
SPECIAL_SUFFIXES = "警学挂港澳领"
# Every character a plate can carry; recognisers may restrict their output to this set.
PLATE_CHARSET = PROVINCES + ALNUM + SPECIAL_SUFFIXES + "使"

_SEPARATORS = re.compile(r"[\s·•∙⋅・\.\-_]+")


class PlateType(StrEnum):
    """Plate types per GA 36 that the recogniser tells apart."""

    ORDINARY = "ordinary"
    DOUBLE_ROW = "double_row"
    NEW_ENERGY_SMALL = "new_energy_small"
    NEW_ENERGY_LARGE = "new_energy_large"
    POLICE = "police"
    COACH = "coach"
    TRAILER = "trailer"
    HONG_KONG_MACAU = "hong_kong_macau"
    CONSULATE = "consulate"
    EMBASSY = "embassy"
    UNKNOWN = "unknown"


_P = f"[{PROVINCES}]"
_L = f"[{LETTERS}]"
_A = f"[{ALNUM}]"
_N = f"[{NEW_ENERGY_LETTERS}]"

# One regex per text pattern. DOUBLE_ROW shares the ordinary text and is told apart by layout.
PLATE_PATTERNS: dict[PlateType, re.Pattern[str]] = {
    PlateType.ORDINARY: re.compile(f"^{_P}{_L}{_A}{{5}}$"),
    PlateType.NEW_ENERGY_SMALL: re.compile(f"^{_P}{_L}{_N}{_A}[0-9]{{4}}$"),
    PlateType.NEW_ENERGY_LARGE: re.compile(f"^{_P}{_L}[0-9]{{5}}{_N}$"),
    PlateType.POLICE: re.compile(f"^{_P}{_L}{_A}{{4}}警$"),
    PlateType.COACH: re.compile(f"^{_P}{_L}{_A}{{4}}学$"),
    PlateType.TRAILER: re.compile(f"^{_P}{_L}{_A}{{4}}挂$"),
    PlateType.HONG_KONG_MACAU: re.compile(f"^粤Z{_A}{{4}}[港澳]$"),
    PlateType.CONSULATE: re.compile(f"^{_P}{_L}[0-9]{{4}}领$"),
    PlateType.EMBASSY: re.compile("^(使[0-9]{6}|[0-9]{6}使)$"),
}
PLATE_PATTERNS[PlateType.DOUBLE_ROW] = PLATE_PATTERNS[PlateType.ORDINARY]

# Position templates (one character set per position) for grammar-constrained decoding.
PLATE_TEMPLATES: dict[PlateType, tuple[str, ...]] = {
    PlateType.ORDINARY: (PROVINCES, LETTERS) + (ALNUM,) * 5,
    PlateType.NEW_ENERGY_SMALL: (PROVINCES, LETTERS, NEW_ENERGY_LETTERS, ALNUM) + (DIGITS,) * 4,
    PlateType.NEW_ENERGY_LARGE: (PROVINCES, LETTERS) + (DIGITS,) * 5 + (NEW_ENERGY_LETTERS,),
    PlateType.POLICE: (PROVINCES, LETTERS) + (ALNUM,) * 4 + ("警",),
    PlateType.COACH: (PROVINCES, LETTERS) + (ALNUM,) * 4 + ("学",),
    PlateType.TRAILER: (PROVINCES, LETTERS) + (ALNUM,) * 4 + ("挂",),
    PlateType.HONG_KONG_MACAU: ("粤", "Z") + (ALNUM,) * 4 + ("港澳",),
    PlateType.CONSULATE: (PROVINCES, LETTERS) + (DIGITS,) * 4 + ("领",),
    PlateType.EMBASSY: ("使",) + (DIGITS,) * 6,
}

_TEXT_TYPE_ORDER = (
    PlateType.ORDINARY,
    PlateType.NEW_ENERGY_SMALL,
    PlateType.NEW_ENERGY_LARGE,
    PlateType.POLICE,
    PlateType.COACH,
    PlateType.TRAILER,
    PlateType.HONG_KONG_MACAU,
    PlateType.CONSULATE,
    PlateType.EMBASSY,
)

_LETTER_TO_DIGIT = {"O": "0", "I": "1"}


def _is_cjk(char: str) -> bool:
    """Tell whether a character is a CJK ideograph."""
    return "\u4e00" <= char <= "\u9fff"


def normalise_plate_text(raw: str) -> str:
    """Canonical plate text: half-width, upper case, no separators, O→0 / I→1 where letters cannot be."""
    text = unicodedata.normalize("NFKC", raw).upper()
    text = _SEPARATORS.sub("", text)
    if not text:
        return text
    chars = list(text)
    # The first character of a mainland plate is a province (or 使): from the third character on,
    # the serial never holds I or O, so those are read as 1 and 0. A plate with no Chinese opener
    # (foreign, or a misread) is left alone: it must not be forced into a Chinese pattern.
    opener_is_chinese = _is_cjk(chars[0])
    if opener_is_chinese:
        start = 1 if chars[0] == "使" else 2
        for index in range(start, len(chars)):
            chars[index] = _LETTER_TO_DIGIT.get(chars[index], chars[index])
    elif chars[-1] == "使":
        for index in range(len(chars) - 1):
            chars[index] = _LETTER_TO_DIGIT.get(chars[index], chars[index])
    return "".join(chars)


def classify_plate_text(text: str) -> PlateType:
    """Plate type whose pattern the (normalised) text matches, UNKNOWN when none does."""
    for plate_type in _TEXT_TYPE_ORDER:
        if PLATE_PATTERNS[plate_type].match(text):
            return plate_type
    return PlateType.UNKNOWN


def is_valid_plate(text: str, plate_type: PlateType | None = None) -> bool:
    """Whether the text is a valid plate (of the given type, or of any type)."""
    if plate_type is None:
        return classify_plate_text(text) is not PlateType.UNKNOWN
    pattern = PLATE_PATTERNS.get(plate_type)
    return bool(pattern and pattern.match(text))


def looks_like_plate_text(text: str, min_chars: int = 5, max_chars: int = 9) -> bool:
    """Whether unvalidated text is still plate-like enough to report (mostly plate characters)."""
    if not min_chars <= len(text) <= max_chars:
        return False
    alnum = sum(char in ALNUM or char in "IO" for char in text)
    return alnum >= min_chars - 1 and all(char in PLATE_CHARSET or char in "IO" for char in text)
