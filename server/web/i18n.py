"""Message catalogues (one JSON file per language) and the choice of language for a request."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

CATALOGUE_DIR = Path(__file__).parent / "messages"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGE_COOKIE = "sc_lang"


class CatalogueError(RuntimeError):
    """A message catalogue is missing or not a flat JSON object of strings."""


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """The messages of one language, read once."""
    if language not in LANGUAGES:
        raise CatalogueError(f"language {language!r} is not one of {LANGUAGES}")
    path = CATALOGUE_DIR / f"{language}.json"
    try:
        messages = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CatalogueError(f"{path}: {err}") from err
    if not isinstance(messages, dict) or not all(isinstance(v, str) for v in messages.values()):
        raise CatalogueError(f"{path}: must be one JSON object of key -> string")
    return messages


def translate(language: str, key: str, **values: object) -> str:
    """The message for `key` in `language` with {name} placeholders filled; the key itself when missing."""
    text = catalogue(language).get(key)
    if text is None:
        log.warning("message %r missing from the %s catalogue", key, language)
        return key
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def pick_language(query_value: str | None, cookie_value: str | None) -> str:
    """?lang= wins, then the cookie, then zh-CN."""
    for candidate in (query_value, cookie_value):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
