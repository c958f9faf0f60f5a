"""Drivers from devices/ built from the config: relays, door contacts and loops, card readers, keypads.

A driver library that is missing or a port that cannot be opened becomes a ConfigError naming the field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from devices.card_reader import CardReader, SerialCardReader, SimulatedCardReader
from devices.errors import DeviceError
from devices.keypad import Keypad, SimulatedKeypad
from devices.relay import GpioRelay, Relay, SerialRelay, SimulatedRelay
from devices.sensors import BinarySensor, GpioSensor, SimulatedSensor
from edge.config import ConfigError, EdgeConfig
from edge.device_settings import CardReaderSettings, KeypadSettings, RelaySettings, SensorSettings

log = logging.getLogger(__name__)


@dataclass
class InputDevices:
    """The input devices of one runtime, by id (sensors by their door's id)."""

    readers: dict[str, CardReader] = field(default_factory=dict)
    keypads: dict[str, Keypad] = field(default_factory=dict)
    sensors: dict[str, BinarySensor] = field(default_factory=dict)

    def simulated(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(readers, keypads, sensors) that are simulators, for the control file."""
        return (
            {k: v for k, v in self.readers.items() if isinstance(v, SimulatedCardReader)},
            {k: v for k, v in self.keypads.items() if isinstance(v, SimulatedKeypad)},
            {k: v for k, v in self.sensors.items() if isinstance(v, SimulatedSensor)},
        )

    def close(self) -> None:
        """Release every device that holds a port or pin."""
        for device in [*self.readers.values(), *self.keypads.values(), *self.sensors.values()]:
            close_device(device)


def close_device(device: object) -> None:
    """Close a driver that has close(); a failure is logged, never raised."""
    close = getattr(device, "close", None)
    if close is None:
        return
    try:
        close()
    except (DeviceError, OSError) as err:
        log.warning("closing %r failed: %s", device, err)


def build_relay(settings: RelaySettings, name: str, where: str, cfg: EdgeConfig) -> Relay:
    """The relay driver of a door."""
    try:
        if settings.kind == "gpio":
            return GpioRelay(settings.pin, active_high=settings.active_high)
        if settings.kind == "serial":
            return SerialRelay(settings.port, settings.channel, baudrate=settings.baudrate)
    except DeviceError as err:
        raise ConfigError(f"{where}: {err}") from err
    journal = cfg.path(settings.journal) if settings.journal is not None else None
    return SimulatedRelay(name, journal=journal)


def build_sensor(settings: SensorSettings, name: str, where: str) -> BinarySensor:
    """A door contact or vehicle loop."""
    if settings.kind == "simulated":
        return SimulatedSensor(name)
    try:
        return GpioSensor(
            name, settings.pin, active_high=settings.active_high, pull_up=settings.pull_up, bounce_s=settings.bounce_s
        )
    except DeviceError as err:
        raise ConfigError(f"{where}: {err}") from err


def build_reader(settings: CardReaderSettings, where: str) -> CardReader:
    """A card reader."""
    if settings.kind == "simulated":
        return SimulatedCardReader(settings.id, settings.script)
    try:
        if settings.kind == "serial":
            return SerialCardReader(settings.id, settings.port, baudrate=settings.baudrate)
        from devices.wiegand import GpioWiegandReader

        return GpioWiegandReader(settings.id, settings.d0_pin, settings.d1_pin)
    except DeviceError as err:
        raise ConfigError(f"{where}: {err}") from err


def build_keypad(settings: KeypadSettings) -> Keypad:
    """A PIN keypad."""
    return SimulatedKeypad(settings.id, [(entry.account, entry.pin) for entry in settings.script])


def build_inputs(cfg: EdgeConfig) -> InputDevices:
    """Every reader, keypad and sensor of a config (devices built so far are closed if one fails)."""
    devices = InputDevices()
    try:
        for index, reader in enumerate(cfg.card_readers):
            devices.readers[reader.id] = build_reader(reader, f"card_readers.{index}")
        for keypad in cfg.keypads:
            devices.keypads[keypad.id] = build_keypad(keypad)
        for index, door in enumerate(cfg.doors):
            if door.sensor is not None:
                devices.sensors[door.id] = build_sensor(door.sensor, door.id, f"doors.{index}.sensor")
    except ConfigError:
        devices.close()
        raise
    return devices
