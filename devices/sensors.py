"""Binary inputs: door contacts and vehicle loops. The interface, a scriptable simulator, and gpiozero inputs."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from devices.errors import DeviceError


@dataclass(frozen=True)
class SensorChange:
    """An input changed: `active` is door open, or vehicle on the loop."""

    sensor: str
    active: bool
    at: float


class BinarySensor(Protocol):
    """An input the edge waits on for changes."""

    @property
    def active(self) -> bool:
        """The current state."""

    def poll(self, timeout: float) -> SensorChange | None:
        """The next change, or None after `timeout` seconds."""


DoorSensor = BinarySensor  # active = door open
LoopSensor = BinarySensor  # active = vehicle over the loop


class SimulatedSensor:
    """A deterministic input: scripted or driven by `set()`; changes carry the caller's time if given."""

    def __init__(self, name: str, script: Iterable[bool] = (), clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self._active = False
        self._changes: queue.Queue[SensorChange] = queue.Queue()
        for state in script:
            self.set(state)

    @property
    def active(self) -> bool:
        """The current state."""
        return self._active

    def set(self, active: bool, at: float | None = None) -> None:
        """Change the input (no change event if it already had that state)."""
        if active == self._active:
            return
        self._active = active
        self._changes.put(SensorChange(self.name, active, self.clock() if at is None else at))

    def poll(self, timeout: float) -> SensorChange | None:
        """The next change, or None after `timeout`."""
        try:
            return self._changes.get(timeout=timeout)
        except queue.Empty:
            return None


class GpioSensor:
    """A contact or loop-detector output on a GPIO pin through gpiozero (optional extra `gpio`)."""

    def __init__(
        self,
        name: str,
        pin: int | str,
        *,
        active_high: bool = True,
        pull_up: bool | None = None,
        bounce_s: float | None = 0.05,
        pin_factory: Any = None,
    ) -> None:
        try:
            from gpiozero import DigitalInputDevice
            from gpiozero.exc import GPIOZeroError
        except ImportError as err:
            raise DeviceError("GPIO sensors need gpiozero: pip install 'smart-community[gpio]'") from err
        self.name = name
        self._changes: queue.Queue[SensorChange] = queue.Queue()
        try:
            active_state = None if pull_up is not None else active_high
            self._input = DigitalInputDevice(
                pin, pull_up=pull_up, active_state=active_state, bounce_time=bounce_s, pin_factory=pin_factory
            )
        except GPIOZeroError as err:
            raise DeviceError(f"cannot open sensor {name} on pin {pin}: {err}") from err
        self._input.when_activated = lambda: self._changes.put(SensorChange(name, True, time.monotonic()))
        self._input.when_deactivated = lambda: self._changes.put(SensorChange(name, False, time.monotonic()))

    @property
    def active(self) -> bool:
        """The current state."""
        return bool(self._input.is_active)

    def poll(self, timeout: float) -> SensorChange | None:
        """The next change, or None after `timeout`."""
        try:
            return self._changes.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Release the pin."""
        self._input.close()
