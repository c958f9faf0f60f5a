"""Relays that release a door or lift a barrier: the interface, a simulator, GPIO and serial relay boards."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devices.errors import DeviceError

log = logging.getLogger(__name__)


class Relay(Protocol):
    """A relay output."""

    def pulse(self, duration_ms: int) -> None:
        """Energise for `duration_ms`, then release (without blocking the caller)."""

    def set(self, energised: bool) -> None:
        """Energise or release and stay so."""


@dataclass
class SimulatedRelay:
    """Records every pulse and level change with its time; `energised` tells whether it is on now.

    With a `journal` file, each pulse and level change is also appended to it as a JSON line (wall time in
    `at`), so another process (a test, a demo panel) can watch the relay of a running agent.
    """

    name: str
    pulses: list[tuple[float, int]] = field(default_factory=list)
    changes: list[tuple[float, bool]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    journal: Path | None = None
    _until: float = 0.0
    _level: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pulse(self, duration_ms: int) -> None:
        """Record a pulse starting now."""
        with self._lock:
            now = self.clock()
            self.pulses.append((now, duration_ms))
            self._until = max(self._until, now + duration_ms / 1000)
            self._write({"relay": self.name, "pulse_ms": duration_ms})

    def set(self, energised: bool) -> None:
        """Record a level change (repeats of the same level are not recorded)."""
        with self._lock:
            if energised != self._level or not self.changes:
                self.changes.append((self.clock(), energised))
                self._write({"relay": self.name, "energised": energised})
            self._level = energised

    def _write(self, entry: dict) -> None:
        """Append one entry to the journal file, if there is one (a failing write is logged, not raised)."""
        if self.journal is None:
            return
        try:
            with self.journal.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps({"at": time.time(), **entry}) + "\n")
        except OSError as err:
            log.warning("relay %s: cannot write journal %s: %s", self.name, self.journal, err)

    @property
    def energised(self) -> bool:
        """Whether the relay is on now (held on, or a pulse in progress)."""
        with self._lock:
            return self._level or self.clock() < self._until


class GpioRelay:
    """A relay on a GPIO pin through gpiozero (optional extra `gpio`)."""

    def __init__(self, pin: int | str, *, active_high: bool = True, pin_factory: Any = None) -> None:
        try:
            from gpiozero import DigitalOutputDevice
            from gpiozero.exc import GPIOZeroError
        except ImportError as err:
            raise DeviceError("GPIO relays need gpiozero: pip install 'smart-community[gpio]'") from err
        try:
            self._device = DigitalOutputDevice(
                pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )
        except GPIOZeroError as err:
            raise DeviceError(f"cannot open GPIO relay on pin {pin}: {err}") from err

    def set(self, energised: bool) -> None:
        """Drive the pin."""
        if energised:
            self._device.on()
        else:
            self._device.off()

    def pulse(self, duration_ms: int) -> None:
        """Energise for `duration_ms` in gpiozero's background thread."""
        self._device.blink(on_time=duration_ms / 1000, off_time=0, n=1, background=True)

    @property
    def energised(self) -> bool:
        """Whether the pin is driven active."""
        return bool(self._device.value)

    def close(self) -> None:
        """Release the pin (gpiozero leaves it inactive)."""
        self._device.close()


def lcus_frame(channel: int, energised: bool) -> bytes:
    """The command of the common LCUS/CH340 serial relay boards: A0, channel, state, checksum."""
    if not 1 <= channel <= 8:
        raise DeviceError(f"relay channel {channel} out of range 1..8")
    state = 1 if energised else 0
    return bytes([0xA0, channel, state, (0xA0 + channel + state) & 0xFF])


class SerialRelay:
    """One channel of a serial relay board (optional extra `serial`); pulses are timed by this process."""

    def __init__(self, port: Any, channel: int = 1, *, baudrate: int = 9600) -> None:
        self.channel = channel
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        if isinstance(port, str):
            try:
                import serial
            except ImportError as err:
                raise DeviceError("serial relays need pyserial: pip install 'smart-community[serial]'") from err
            try:
                port = serial.Serial(port, baudrate=baudrate, timeout=1, write_timeout=1)
            except serial.SerialException as err:
                raise DeviceError(f"cannot open relay board on {port}: {err}") from err
        self._port = port
        lcus_frame(channel, False)

    def set(self, energised: bool) -> None:
        """Send the on or off command."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._write(energised)

    def pulse(self, duration_ms: int) -> None:
        """Switch on now and off after `duration_ms` (a later pulse or set replaces the pending off)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._write(True)
            self._timer = threading.Timer(duration_ms / 1000, self._write, args=(False,))
            self._timer.daemon = True
            self._timer.start()

    def _write(self, energised: bool) -> None:
        """Write one command; a failed write becomes a DeviceError."""
        try:
            self._port.write(lcus_frame(self.channel, energised))
            self._port.flush()
        except OSError as err:  # serial.SerialException is an OSError
            raise DeviceError(f"relay board write failed: {err}") from err

    def close(self) -> None:
        """Cancel a pending off, switch off and close the port."""
        self.set(False)
        self._port.close()
