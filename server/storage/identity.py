"""Validation and masking of identifiers: GB 11643 ID numbers, phone numbers, GB/T 28181 device ids (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_PATTERN = re.compile(r"^[1-9]\d{16}[\dX]$")
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_PATTERN = re.compile(r"^0\d{2,3}\d{7,8}$")
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54}
    | {61, 62, 63, 64, 65, 71, 81, 82}
)
GB28181_PATTERN = re.compile(r"^\d{20}$")
# Type codes of GB/T 28181-2016 Appendix D: front-end devices, peripherals, platform parts, users, extensions.
GB28181_TYPE_RANGES = ((111, 130), (131, 199), (200, 299), (300, 399), (400, 499))


class IdentifierError(ValueError):
    """An identifier that fails its format or check digit; `field` names what was checked."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def normalise_id_number(raw: str) -> str:
    """Validate an 18-character resident ID number (region, birth date, check digit); returns it upper-cased."""
    value = raw.strip().upper()
    if not ID_PATTERN.match(value):
        raise IdentifierError("id_number", "must be 17 digits and a check digit or X")
    if int(value[:2]) not in PROVINCE_CODES:
        raise IdentifierError("id_number", f"unknown province code {value[:2]}")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as err:
        raise IdentifierError("id_number", "birth date is not a calendar date") from err
    if born.year < 1900 or born > date.today():
        raise IdentifierError("id_number", "birth date out of range")
    if id_check_char(value[:17]) != value[17]:
        raise IdentifierError("id_number", "check digit does not match (GB 11643)")
    return value


def normalise_phone(raw: str) -> str:
    """Validate a mainland mobile (11 digits, optional +86) or landline with area code; returns digits only."""
    digits = re.sub(r"[\s\-()]", "", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if MOBILE_PATTERN.match(digits) or LANDLINE_PATTERN.match(digits):
        return digits
    raise IdentifierError("phone", "not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area code + number)")


@dataclass(frozen=True)
class Gb28181Id:
    """The segments of a GB/T 28181 20-digit code."""

    centre: str
    industry: str
    type_code: int
    network: int
    serial: str

    @property
    def province(self) -> str:
        """The two-digit province code."""
        return self.centre[:2]


def parse_gb28181_id(raw: str) -> Gb28181Id:
    """Validate a GB/T 28181 id segment by segment: centre (8), industry (2), type (3), network (1), serial (6)."""
    value = raw.strip()
    if not GB28181_PATTERN.match(value):
        raise IdentifierError("gb28181_id", "must be exactly 20 digits")
    centre, industry, type_code, network, serial = value[:8], value[8:10], int(value[10:13]), int(value[13]), value[14:]
    if int(centre[:2]) not in PROVINCE_CODES:
        raise IdentifierError("gb28181_id", f"unknown province code {centre[:2]} in the centre code")
    if not any(low <= type_code <= high for low, high in GB28181_TYPE_RANGES):
        raise IdentifierError("gb28181_id", f"type code {type_code:03d} is outside 111-499")
    if network == 9:
        raise IdentifierError("gb28181_id", "network digit 9 is reserved")
    return Gb28181Id(centre, industry, type_code, network, serial)


def mask_id_number(value: str) -> str:
    """Show only the first 3 and last 4 characters of an ID number."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_phone(value: str) -> str:
    """Show only the first 3 and last 4 digits of a phone number."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:] if len(value) > 7 else "*" * len(value)
