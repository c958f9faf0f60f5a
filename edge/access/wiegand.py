"""Wiegand 26- and 34-bit frames: parity-checked decoding and encoding (bits come from devices.wiegand)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.access.errors import CredentialFormatError

# Frame layout: leading even-parity bit over the first half of the data, trailing odd-parity bit over the second.
FORMATS: dict[int, tuple[int, int]] = {26: (8, 16), 34: (16, 16)}  # bits -> (facility bits, number bits)


@dataclass(frozen=True)
class WiegandCard:
    """A decoded card: facility code, card number, and the full data word as most readers print it."""

    bits: int
    facility: int
    number: int

    @property
    def data(self) -> int:
        """The facility and number as one integer (24 bits for W26, 32 bits for W34)."""
        return (self.facility << FORMATS[self.bits][1]) | self.number

    @property
    def card_number(self) -> str:
        """The decimal card number used as the allowlist value (the whole data word, as serial readers print)."""
        return str(self.data)


def _parity_ok(bits: str) -> bool:
    """Check the leading even and trailing odd parity of a frame given as a '0'/'1' string."""
    half = (len(bits) - 2) // 2
    first, second = bits[1 : 1 + half], bits[1 + half : -1]
    even_ok = (bits[0].count("1") + first.count("1")) % 2 == 0
    odd_ok = (bits[-1].count("1") + second.count("1")) % 2 == 1
    return even_ok and odd_ok


def decode_frame(bits: str) -> WiegandCard:
    """Decode a 26- or 34-bit frame ('0'/'1' string, first bit first); raise on bad length, digits or parity."""
    if len(bits) not in FORMATS:
        raise CredentialFormatError(f"Wiegand frame of {len(bits)} bits: only 26 and 34 are supported")
    if set(bits) - {"0", "1"}:
        raise CredentialFormatError("Wiegand frame must contain only 0 and 1")
    if not _parity_ok(bits):
        raise CredentialFormatError(f"Wiegand {len(bits)}-bit frame failed its parity check")
    facility_bits, number_bits = FORMATS[len(bits)]
    data = bits[1:-1]
    return WiegandCard(len(bits), int(data[:facility_bits], 2), int(data[facility_bits:], 2))


def encode_frame(facility: int, number: int, bits: int = 26) -> str:
    """Build a valid frame for a facility code and card number (simulators and tests)."""
    if bits not in FORMATS:
        raise CredentialFormatError(f"Wiegand frame of {bits} bits: only 26 and 34 are supported")
    facility_bits, number_bits = FORMATS[bits]
    if not (0 <= facility < 1 << facility_bits and 0 <= number < 1 << number_bits):
        raise CredentialFormatError(f"facility {facility} or number {number} does not fit a {bits}-bit frame")
    data = format(facility, f"0{facility_bits}b") + format(number, f"0{number_bits}b")
    half = len(data) // 2
    even = str(data[:half].count("1") % 2)
    odd = str(1 - data[half:].count("1") % 2)
    return even + data + odd


def swipe_card_number(card_number: str, wiegand_bits: str | None) -> str:
    """The card number of a swipe: decoded and parity-checked from a raw frame, else as the reader sent it."""
    if wiegand_bits is not None:
        return decode_frame(wiegand_bits).card_number
    if not card_number.strip():
        raise CredentialFormatError("empty card read")
    return card_number
