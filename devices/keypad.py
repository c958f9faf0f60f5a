"""PIN keypads: the interface (an account code and a PIN per entry) and a scriptable simulator."""

from __future__ import annotations

import queue
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class KeyEntry:
    """An account (room or user code) and PIN typed at a keypad, e.g. "1201#482913"."""

    keypad: str
    account: str
    pin: str = ""

    def __repr__(self) -> str:
        """Never show the PIN in logs."""
        return f"KeyEntry(keypad={self.keypad!r}, account={self.account!r}, pin='***')"


class Keypad(Protocol):
    """Anything that yields PIN entries."""

    def read(self, timeout: float) -> KeyEntry | None:
        """The next entry, or None after `timeout` seconds."""


class SimulatedKeypad:
    """A deterministic keypad fed by a script of (account, pin) pairs or by `type()` calls."""

    def __init__(self, keypad: str, script: Iterable[tuple[str, str]] = ()) -> None:
        self.keypad = keypad
        self._entries: queue.Queue[KeyEntry] = queue.Queue()
        for account, pin in script:
            self.type(account, pin)

    def type(self, account: str, pin: str) -> None:
        """Queue an entry as if typed and confirmed with '#'."""
        self._entries.put(KeyEntry(self.keypad, account, pin))

    def read(self, timeout: float) -> KeyEntry | None:
        """The next queued entry, or None after `timeout`."""
        try:
            return self._entries.get(timeout=timeout)
        except queue.Empty:
            return None
