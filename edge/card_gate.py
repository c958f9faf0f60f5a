"""A minimal card-operated gate without an agent: swipe -> AccessPolicy -> relay pulse -> durable event.

For the thin-slice tests and small demos; the full agent (python -m edge) runs doors through AccessPoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from devices.card_reader import CardReader
from devices.relay import Relay
from edge.access.allowlist import Allowlist
from edge.access.config import ALWAYS, AccessConfig
from edge.access.errors import CredentialFormatError
from edge.access.policy import AccessPolicy, Outcome
from edge.access.wiegand import swipe_card_number
from edge.publisher import EdgePublisher
from protocol.commands import AllowlistEntry
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
        allowlist: Mapping[tuple[str, str], AllowlistEntry],
        pulse_ms: int = 3000,
        direction: Direction = Direction.IN,
    ) -> None:
        self.gate, self.door, self.reader, self.relay = gate, door, reader, relay
        self.publisher = publisher
        self.pulse_ms = pulse_ms
        self.direction = direction
        entries = list(allowlist.values())
        groups = {entry.group for entry in entries} | {"residents"}
        config = AccessConfig(
            site="local",
            doors=[{"id": door, "gate": gate, "direction": direction, "methods": [Method.CARD], "pulse_ms": pulse_ms}],
            schedules={group: ALWAYS for group in groups},
        )
        self.policy = AccessPolicy(config, Allowlist(entries))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"gate-{gate}", daemon=True)

    def start(self) -> None:
        """Start reading swipes."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current swipe."""
        self._stop.set()
        self._thread.join(5)

    def handle(self, card_number: str, wiegand_bits: str | None = None) -> AccessDecision:
        """Decide on one swipe, pulse the relay when granted, and record the event (and any alarm)."""
        started = time.perf_counter()
        try:
            number = swipe_card_number(card_number, wiegand_bits)
        except CredentialFormatError as err:
            log.info("gate %s: unreadable card: %s", self.gate, err)
            number = ""
        if number:
            outcome = self.policy.decide_card(number, self.door, datetime.now(UTC))
        else:
            door = self.policy.config.door(self.door)
            outcome = Outcome(Result.DENIED, "bad-card-read", Method.CARD, self.gate, self.door, door.direction)
        if outcome.granted:
            self.relay.pulse(self.pulse_ms)
        event = outcome.event(latency_ms=(time.perf_counter() - started) * 1000)
        self.publisher.send(event)
        for alarm in outcome.alarms:
            self.publisher.send(alarm)
        return event

    def _loop(self) -> None:
        """Read swipes until stopped."""
        while not self._stop.is_set():
            swipe = self.reader.read(timeout=0.2)
            if swipe is not None:
                event = self.handle(swipe.card_number, swipe.wiegand_bits)
                log.info("gate %s: %s (%s)", self.gate, event.result.value, event.reason)
