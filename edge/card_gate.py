"""Card-operated gates: swipe -> local decision -> relay pulse -> durable event."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from devices.card_reader import CardReader
from devices.relay import Relay
from edge.decision import decide
from edge.gate import GateController
from edge.publisher import EdgePublisher
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import AccessDecision, Direction, Method, Result

log = logging.getLogger(__name__)


class CardGate:
    """Runs the passage loop of one card reader and one relay; keeps working when the broker is down."""

    def __init__(
        self,
        gate: str,
        door: str,
        reader: CardReader,
        relay: Relay,
        publisher: EdgePublisher,
        allowlist: dict[tuple[str, str], AllowlistEntry],
        pulse_ms: int = 3000,
        direction: Direction = Direction.IN,
    ) -> None:
        self.gate, self.door, self.reader, self.relay = gate, door, reader, relay
        self.publisher = publisher
        self.allowlist = allowlist
        self.pulse_ms = pulse_ms
        self.direction = direction
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"gate-{gate}", daemon=True)

    def start(self) -> None:
        """Start reading swipes."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current swipe."""
        self._stop.set()
        self._thread.join(5)

    def handle(self, card_number: str) -> AccessDecision:
        """Decide on one swipe, pulse the relay when granted, and record the event."""
        started = time.perf_counter()
        decision = decide(CredentialKind.CARD, card_number, self.gate, datetime.now(UTC), self.allowlist)
        if decision.result is Result.GRANTED:
            self.relay.pulse(self.pulse_ms)
        entry = decision.entry
        event = AccessDecision(
            gate=self.gate,
            door=self.door,
            direction=self.direction,
            method=Method.CARD,
            result=decision.result,
            reason=decision.reason,
            person_id=entry.person_id if entry else None,
            credential_ref=entry.credential_ref if entry else None,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        self.publisher.send(event)
        return event

    def _loop(self) -> None:
        """Read swipes until stopped."""
        while not self._stop.is_set():
            swipe = self.reader.read(timeout=0.2)
            if swipe is not None:
                event = self.handle(swipe.card_number)
                log.info("gate %s: %s (%s)", self.gate, event.result.value, event.reason)


class ReaderLoop:
    """Feeds the swipes of one card reader to its gate controller on a thread of its own."""

    def __init__(self, reader: CardReader, gate: GateController) -> None:
        self.reader = reader
        self.gate = gate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"reader-{gate.id}", daemon=True)

    def start(self) -> None:
        """Start reading swipes."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current swipe."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _loop(self) -> None:
        """Read swipes until stopped; a failing swipe is logged, never fatal."""
        while not self._stop.is_set():
            swipe = self.reader.read(timeout=0.2)
            if swipe is None or not swipe.card_number:
                continue
            started = time.perf_counter()
            try:
                self.gate.card(swipe.card_number, started)
            except Exception:  # noqa: BLE001 - one bad swipe must not stop the reader
                log.exception("gate %s: swipe failed", self.gate.id)
