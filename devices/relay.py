"""Relays that release a door or lift a barrier: the interface and a simulator that records pulses."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


class Relay(Protocol):
    """A relay output."""

    def pulse(self, duration_ms: int) -> None:
        """Energise for `duration_ms`, then release (without blocking the caller)."""


@dataclass
class SimulatedRelay:
    """Records every pulse with its time; `energised` tells whether it is on now."""

    name: str
    pulses: list[tuple[float, int]] = field(default_factory=list)
    _until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pulse(self, duration_ms: int) -> None:
        """Record a pulse starting now."""
        with self._lock:
            now = time.monotonic()
            self.pulses.append((now, duration_ms))
            self._until = max(self._until, now + duration_ms / 1000)

    @property
    def energised(self) -> bool:
        """Whether a pulse is in progress."""
        with self._lock:
            return time.monotonic() < self._until
