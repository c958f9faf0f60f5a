"""Config sections of the hardware a gate agent drives: relays, door contacts and loops, card readers, keypads.

Each device names a driver `kind` from devices/: `simulated` (tests, demo; driven by the control file),
or a real one (GPIO through gpiozero, serial ports through pyserial, Wiegand D0/D1 on two GPIO pins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from protocol.errors import TopicError
from protocol.topics import check_level

Pin = int | str


def _level(value: str) -> str:
    """Accept only identifiers usable as MQTT topic levels (a-z, 0-9, '-')."""
    try:
        return check_level(value, "identifier")
    except TopicError as err:
        raise ValueError(err.detail) from err


Ident = Annotated[str, AfterValidator(_level)]


class _Strict(BaseModel):
    """Base for device sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def _require(settings: BaseModel, kind: str, *names: str) -> None:
    """Refuse a driver kind whose required fields are missing."""
    missing = [name for name in names if getattr(settings, name) is None]
    if missing:
        raise ValueError(f"kind {kind} needs {', '.join(missing)}")


class RelaySettings(_Strict):
    """The relay output that releases a door lock or raises a barrier arm."""

    kind: Literal["simulated", "gpio", "serial"] = Field(default="simulated", description="Relay driver")
    journal: Path | None = Field(
        default=None, description="Simulated: JSON-lines file (under data_dir) recording every level change"
    )
    pin: Pin | None = Field(default=None, description="gpio: the output pin (BCM number or gpiozero name)")
    active_high: bool = Field(default=True, description="gpio: the relay is energised when the pin is high")
    port: str | None = Field(default=None, description="serial: the relay board's port, e.g. /dev/ttyUSB0")
    channel: int = Field(default=1, ge=1, le=8, description="serial: the board channel (LCUS boards: 1-8)")
    baudrate: int = Field(default=9600, gt=0, description="serial: line speed")

    @model_validator(mode="after")
    def _driver_fields(self) -> RelaySettings:
        """Each real driver needs its connection."""
        if self.kind == "gpio":
            _require(self, "gpio", "pin")
        if self.kind == "serial":
            _require(self, "serial", "port")
        return self


class SensorSettings(_Strict):
    """A door contact (door open = active) or a vehicle loop (vehicle over it = active)."""

    kind: Literal["simulated", "gpio"] = Field(default="simulated", description="Sensor driver")
    pin: Pin | None = Field(default=None, description="gpio: the input pin")
    active_high: bool = Field(default=True, description="gpio: active when the pin is high (no pull resistor)")
    pull_up: bool | None = Field(default=None, description="gpio: internal pull-up (true) or pull-down (false)")
    bounce_s: float | None = Field(default=0.05, ge=0, le=1, description="gpio: debounce time")

    @model_validator(mode="after")
    def _driver_fields(self) -> SensorSettings:
        """A GPIO sensor needs its pin."""
        if self.kind == "gpio":
            _require(self, "gpio", "pin")
        return self


class CardReaderSettings(_Strict):
    """A card reader at a gate."""

    id: Ident = Field(description="Reader id on this device")
    gate: Ident = Field(description="Gate (from `gates`) the reader serves")
    kind: Literal["simulated", "serial", "wiegand"] = Field(default="simulated", description="Reader driver")
    script: list[str] = Field(default_factory=list, description="Simulated: card numbers swiped at start")
    port: str | None = Field(default=None, description="serial: port of a reader printing one card per line")
    baudrate: int = Field(default=9600, gt=0, description="serial: line speed")
    d0_pin: Pin | None = Field(default=None, description="wiegand: GPIO pin of the D0 line")
    d1_pin: Pin | None = Field(default=None, description="wiegand: GPIO pin of the D1 line")

    @model_validator(mode="after")
    def _driver_fields(self) -> CardReaderSettings:
        """Each real driver needs its connection."""
        if self.kind == "serial":
            _require(self, "serial", "port")
        if self.kind == "wiegand":
            _require(self, "wiegand", "d0_pin", "d1_pin")
        return self


class KeyEntrySettings(_Strict):
    """One scripted keypad entry (tests and demos only: a real PIN never belongs in a config file)."""

    account: str = Field(description="Account code typed first (room or user code)")
    pin: str = Field(description="The PIN typed after the account")


class KeypadSettings(_Strict):
    """A PIN keypad at a gate: an account code, then the PIN."""

    id: Ident = Field(description="Keypad id on this device")
    gate: Ident = Field(description="Gate (from `gates`) the keypad serves")
    kind: Literal["simulated"] = Field(default="simulated", description="Keypad driver")
    script: list[KeyEntrySettings] = Field(default_factory=list, description="Simulated: entries typed at start")


class SimulationSettings(_Strict):
    """Inputs for simulated devices from another process (tests, demo)."""

    control_file: Path = Field(
        default=Path("control.jsonl"),
        description="JSON-lines file (under data_dir) the agent follows: card swipes, keypad entries, sensor changes",
    )
