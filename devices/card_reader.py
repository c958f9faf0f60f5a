"""Card readers: the interface the edge reads swipes from, and a scriptable simulator."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CardSwipe:
    """A card presented at a reader."""

    reader: str
    card_number: str


class CardReader(Protocol):
    """Anything that yields card swipes."""

    def read(self, timeout: float) -> CardSwipe | None:
        """The next swipe, or None after `timeout` seconds."""


class SimulatedCardReader:
    """A deterministic reader fed by a script or by `present()` calls (tests, demo)."""

    def __init__(self, reader: str, script: Iterable[str] = ()) -> None:
        self.reader = reader
        self._swipes: queue.Queue[CardSwipe] = queue.Queue()
        self._lock = threading.Lock()
        for card in script:
            self.present(card)

    def present(self, card_number: str) -> None:
        """Queue a swipe as if a card were held to the reader."""
        self._swipes.put(CardSwipe(self.reader, card_number))

    def read(self, timeout: float) -> CardSwipe | None:
        """The next queued swipe, or None after `timeout`."""
        try:
            return self._swipes.get(timeout=timeout)
        except queue.Empty:
            return None
