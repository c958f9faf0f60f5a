"""One interface per device kind, in one place (each kind's module holds its implementations)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from devices.card_reader import CardReader, CardSwipe
from devices.keypad import KeyEntry, Keypad
from devices.relay import Relay
from devices.sensors import BinarySensor, DoorSensor, LoopSensor, SensorChange


class Camera(Protocol):
    """A frame source: a real camera (devices.camera*, owned by the runtime) or the scene simulator."""

    def read(self) -> np.ndarray | None:
        """The latest BGR frame, or None when no frame is available (end of a file, camera down)."""

    def close(self) -> None:
        """Release the source."""


__all__ = [
    "BinarySensor",
    "Camera",
    "CardReader",
    "CardSwipe",
    "DoorSensor",
    "KeyEntry",
    "Keypad",
    "LoopSensor",
    "Relay",
    "SensorChange",
]
