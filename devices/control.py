"""A control file for simulated devices: another process appends JSON lines and the simulators act on them.

One line per input, e.g. ``{"reader": "reader-1", "card": "12345678"}``, ``{"reader": "reader-1", "wiegand":
"1000...0"}``, ``{"keypad": "keypad-1", "account": "1201", "pin": "482913"}`` or ``{"sensor": "door-1",
"active": true}`` (door open / vehicle on the loop). The file is read from its start and then followed;
a bad line is logged and skipped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from devices.card_reader import SimulatedCardReader
from devices.keypad import SimulatedKeypad
from devices.sensors import SimulatedSensor

log = logging.getLogger(__name__)


class ControlFile:
    """Follows a JSON-lines file and feeds each line to the simulated reader, keypad or sensor it names."""

    def __init__(
        self,
        path: Path | str,
        readers: Mapping[str, SimulatedCardReader] | None = None,
        keypads: Mapping[str, SimulatedKeypad] | None = None,
        sensors: Mapping[str, SimulatedSensor] | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.path = Path(path)
        self.readers = dict(readers or {})
        self.keypads = dict(keypads or {})
        self.sensors = dict(sensors or {})
        self.poll_s = poll_s
        self.applied = 0
        self.rejected = 0
        self._offset = 0
        self._pending = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ControlFile:
        """Follow the file on a thread of its own."""
        self._thread = threading.Thread(target=self._loop, name=f"control-{self.path.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def poll(self) -> int:
        """Apply the complete lines appended since the last poll; returns how many were applied."""
        try:
            with self.path.open("rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return 0
        except OSError as err:
            log.warning("control file %s unreadable: %s", self.path, err)
            return 0
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        applied = 0
        for line in lines:
            if line.strip():
                applied += self.apply(line)
        return applied

    def apply(self, line: bytes | str) -> bool:
        """Act on one line; False (logged and counted) when it is malformed or names no simulated device."""
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise ValueError("not an object")
            self._dispatch(command)
        except (ValueError, KeyError, TypeError) as err:
            self.rejected += 1
            log.warning("control file %s: line skipped (%s): %.200r", self.path, err, line)
            return False
        self.applied += 1
        return True

    def _dispatch(self, command: dict) -> None:
        """Route a command to its device."""
        if "reader" in command:
            reader = self.readers[str(command["reader"])]
            if "wiegand" in command:
                reader.present_frame(str(command["wiegand"]))
            else:
                reader.present(str(command["card"]))
        elif "keypad" in command:
            self.keypads[str(command["keypad"])].type(str(command["account"]), str(command["pin"]))
        elif "sensor" in command:
            active = command["active"]
            if not isinstance(active, bool):
                raise TypeError("active must be true or false")
            self.sensors[str(command["sensor"])].set(active)
        else:
            raise KeyError("a line names a reader, keypad or sensor")

    def _loop(self) -> None:
        """Poll until stopped."""
        while not self._stop.wait(self.poll_s):
            self.poll()
