"""Card readers: the interface the edge reads swipes from, a scriptable simulator, and a serial line reader.

A swipe carries either a card number (serial readers print one per line) or a raw Wiegand frame
(`wiegand_bits`, as D0/D1 readers deliver it); the edge checks parity and decodes frames (edge.access.card).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from devices.errors import DeviceError

log = logging.getLogger(__name__)
_FRAME = re.compile(r"^[01]{26}$|^[01]{34}$")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class CardSwipe:
    """A card presented at a reader."""

    reader: str
    card_number: str
    wiegand_bits: str | None = None


class CardReader(Protocol):
    """Anything that yields card swipes."""

    def read(self, timeout: float) -> CardSwipe | None:
        """The next swipe, or None after `timeout` seconds."""


class _QueuedReader:
    """Base of readers that queue swipes from another thread."""

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._swipes: queue.Queue[CardSwipe] = queue.Queue()

    def read(self, timeout: float) -> CardSwipe | None:
        """The next queued swipe, or None after `timeout`."""
        try:
            return self._swipes.get(timeout=timeout)
        except queue.Empty:
            return None


class SimulatedCardReader(_QueuedReader):
    """A deterministic reader fed by a script or by `present()` calls (tests, demo)."""

    def __init__(self, reader: str, script: Iterable[str] = ()) -> None:
        super().__init__(reader)
        for card in script:
            self.present(card)

    def present(self, card_number: str) -> None:
        """Queue a swipe as if a card were held to the reader."""
        self._swipes.put(CardSwipe(self.reader, card_number))

    def present_frame(self, bits: str) -> None:
        """Queue a raw Wiegand frame as a D0/D1 reader would deliver it."""
        self._swipes.put(CardSwipe(self.reader, "", wiegand_bits=bits))


def parse_line(reader: str, line: bytes) -> CardSwipe | None:
    """A swipe from one line a serial reader sent: a card number, or a 26/34-bit frame of 0s and 1s."""
    text = _PRINTABLE.sub("", line.decode("ascii", errors="replace")).strip()
    if not text:
        return None
    if _FRAME.match(text):
        return CardSwipe(reader, "", wiegand_bits=text)
    return CardSwipe(reader, text)


class SerialCardReader(_QueuedReader):
    """A reader on a serial port that sends one card number per line (optional extra `serial`)."""

    def __init__(self, reader: str, port: str, *, baudrate: int = 9600) -> None:
        super().__init__(reader)
        try:
            import serial
        except ImportError as err:
            raise DeviceError("serial card readers need pyserial: pip install 'smart-community[serial]'") from err
        self._serial_error = serial.SerialException
        try:
            self._port: Any = serial.Serial(port, baudrate=baudrate, timeout=0.2)
        except serial.SerialException as err:
            raise DeviceError(f"cannot open card reader {reader} on {port}: {err}") from err
        self._stop = threading.Event()
        self.failed: DeviceError | None = None
        self._thread = threading.Thread(target=self._loop, name=f"card-{reader}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """Read lines until closed; a port failure stops the reader and is kept in `failed`."""
        pending = b""
        while not self._stop.is_set():
            try:
                chunk = self._port.read(64)
            except (self._serial_error, OSError, TypeError) as err:
                if not self._stop.is_set():
                    self.failed = DeviceError(f"card reader {self.reader} failed: {err}")
                    log.error("%s", self.failed)
                return
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            for line in lines:
                swipe = parse_line(self.reader, line)
                if swipe is not None:
                    self._swipes.put(swipe)

    def close(self) -> None:
        """Stop reading and close the port."""
        self._stop.set()
        self._thread.join(2)
        self._port.close()
