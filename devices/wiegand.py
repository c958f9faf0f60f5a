"""Wiegand D0/D1 readers: a bit accumulator that frames pulses by the quiet gap, and a gpiozero reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from devices.card_reader import CardSwipe, _QueuedReader
from devices.errors import DeviceError


class WiegandAccumulator:
    """Collects bits from the D0/D1 lines and hands out a frame once the line has been quiet for `gap_s`."""

    def __init__(self, on_frame: Callable[[str], None], gap_s: float = 0.025) -> None:
        self.on_frame = on_frame
        self.gap_s = gap_s
        self._bits: list[str] = []
        self._last = 0.0
        self._lock = threading.Lock()

    def bit(self, value: int, now: float) -> None:
        """Record one bit (0 from a D0 pulse, 1 from a D1 pulse) seen at monotonic time `now`."""
        with self._lock:
            frame = self._take_locked(now)
            self._bits.append("1" if value else "0")
            self._last = now
        if frame:
            self.on_frame(frame)

    def poll(self, now: float) -> None:
        """Hand out the pending frame if the line has been quiet for longer than the gap."""
        with self._lock:
            frame = self._take_locked(now)
        if frame:
            self.on_frame(frame)

    def _take_locked(self, now: float) -> str:
        """The collected bits if the line has gone quiet (then start a new frame), else ''."""
        if not self._bits or now - self._last <= self.gap_s:
            return ""
        frame, self._bits = "".join(self._bits), []
        return frame


class GpioWiegandReader(_QueuedReader):
    """A Wiegand reader on two GPIO inputs through gpiozero (optional extra `gpio`); frames are not decoded here."""

    def __init__(
        self, reader: str, d0_pin: int | str, d1_pin: int | str, *, pin_factory: Any = None, gap_s: float = 0.025
    ) -> None:
        super().__init__(reader)
        try:
            from gpiozero import DigitalInputDevice
            from gpiozero.exc import GPIOZeroError
        except ImportError as err:
            raise DeviceError("GPIO Wiegand readers need gpiozero: pip install 'smart-community[gpio]'") from err
        self.accumulator = WiegandAccumulator(self._frame, gap_s)
        try:
            # The lines idle high and pulse low: a falling edge ("activated" with active_state False) is a bit.
            self._d0 = DigitalInputDevice(d0_pin, pull_up=None, active_state=False, pin_factory=pin_factory)
            self._d1 = DigitalInputDevice(d1_pin, pull_up=None, active_state=False, pin_factory=pin_factory)
        except GPIOZeroError as err:
            raise DeviceError(f"cannot open Wiegand reader {reader} on pins {d0_pin}/{d1_pin}: {err}") from err
        self._d0.when_activated = lambda: self.accumulator.bit(0, time.monotonic())
        self._d1.when_activated = lambda: self.accumulator.bit(1, time.monotonic())

    def read(self, timeout: float) -> CardSwipe | None:
        """The next frame (flushed once the line has been quiet), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.accumulator.poll(time.monotonic())
            swipe = super().read(min(0.01, max(0.0, deadline - time.monotonic())))
            if swipe is not None or time.monotonic() >= deadline:
                return swipe

    def _frame(self, bits: str) -> None:
        """Queue a completed frame."""
        self._swipes.put(CardSwipe(self.reader, "", wiegand_bits=bits))

    def close(self) -> None:
        """Release the pins."""
        self._d0.close()
        self._d1.close()
