"""Card numbers in their one canonical form: what the platform stores and sends, and what gates index and look up.

Readers print the same card in several ways (leading zeros, separators, a 0x prefix, lower-case hex), so every
side keys cards by `canonical_card`: decimal without leading zeros, or upper-case hex without leading zeros.
A number made only of digits is read as decimal. Pure computation: no I/O.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-:.·•]")
_HEX = re.compile(r"[0-9A-F]+")
MAX_CARD_CHARS = 40


class CardFormatError(ValueError):
    """A card number that is neither decimal nor hexadecimal."""


def canonical_card(text: str) -> str:
    """The canonical form of a card number; CardFormatError when it is neither decimal nor hex."""
    cleaned = _SEPARATORS.sub("", text).upper()
    if cleaned.startswith("0X"):
        cleaned = cleaned[2:]
    if not cleaned or len(cleaned) > MAX_CARD_CHARS or not _HEX.fullmatch(cleaned):
        raise CardFormatError(f"card number {text[:MAX_CARD_CHARS]!r} is neither decimal nor hex")
    return cleaned.lstrip("0") or "0"
