"""Access points: a policy, a door or barrier controller and an event sink wired together, and a runner that
pumps a gate's devices into them. No MQTT here: the runtime passes its publisher's `send` as the sink."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devices.card_reader import CardReader, CardSwipe
from devices.clock import Clock, SystemClock
from devices.keypad import KeyEntry, Keypad
from devices.relay import Relay
from devices.sensors import BinarySensor
from edge.access.barrier import BarrierController
from edge.access.config import DoorKind
from edge.access.door import DoorController
from edge.access.errors import CredentialFormatError
from edge.access.policy import AccessPolicy, Outcome
from edge.access.wiegand import swipe_card_number
from protocol.base import WireModel
from protocol.events import Method, Result

if TYPE_CHECKING:
    import numpy as np

    from devices.interfaces import Camera

log = logging.getLogger(__name__)
EventSink = Callable[[WireModel], None]


class AccessPoint:
    """One door or barrier: decides presentations, drives the lock or arm, and emits every event to `sink`.

    Every entry point runs under `lock` (share one lock between the points of one policy when several threads
    feed them: readers, cameras, the tick loop and remote commands); QR decoding runs outside it.
    """

    def __init__(
        self,
        door_id: str,
        policy: AccessPolicy,
        relay: Relay,
        sink: EventSink,
        clock: Clock | None = None,
        qr_repeat_s: float = 5.0,
        lock: threading.RLock | None = None,
    ) -> None:
        self.policy = policy
        self.config = policy.config.door(door_id)
        self.sink = sink
        self.clock = clock or SystemClock()
        self.qr_repeat_s = qr_repeat_s
        self.lock = lock or threading.RLock()
        controller_class = BarrierController if self.config.kind is DoorKind.BARRIER else DoorController
        self.controller: DoorController | BarrierController = controller_class(self.config, relay, sink, sink)
        self.controller.start()
        self._qr_reader: Any = None
        self._seen_tokens: dict[str, float] = {}

    @property
    def door_id(self) -> str:
        """The door or barrier id."""
        return self.config.id

    def card(self, swipe: CardSwipe) -> Outcome:
        """A card swipe (number or raw Wiegand frame)."""
        started = time.perf_counter()
        with self.lock:
            try:
                number = swipe_card_number(swipe.card_number, swipe.wiegand_bits)
            except CredentialFormatError as err:
                log.info("door %s: unreadable card: %s", self.door_id, err)
                return self._finish(self._bad_read(Method.CARD), started)
            return self._finish(self.policy.decide_card(number, self.door_id, self.clock.now()), started)

    def pin(self, entry: KeyEntry) -> Outcome:
        """An account code and PIN from the keypad."""
        started = time.perf_counter()
        with self.lock:
            outcome = self.policy.decide_pin(entry.account, entry.pin, self.door_id, self.clock.now())
            return self._finish(outcome, started)

    def qr(self, token: str, recognised_ms: float = 0.0) -> Outcome:
        """A visitor pass token (decoded from a frame or typed in by the guard)."""
        started = time.perf_counter()
        with self.lock:
            outcome = self.policy.decide_qr(token, self.door_id, self.clock.now())
            return self._finish(outcome, started, recognised_ms)

    def frame(self, frame: np.ndarray) -> list[Outcome]:
        """Decide every QR pass on a camera frame; a token still in view (seen within `qr_repeat_s`) only once."""
        started = time.perf_counter()
        if self._qr_reader is None:
            from edge.access.qr_code import QrReader  # OpenCV only for access points that read passes

            self._qr_reader = QrReader()
        tokens = self._qr_reader.decode(frame)
        decoded_ms = (time.perf_counter() - started) * 1000
        outcomes = []
        with self.lock:
            mono = self.clock.monotonic()
            self._seen_tokens = {t: at for t, at in self._seen_tokens.items() if mono - at < self.qr_repeat_s}
            for token in tokens:
                held_up = token in self._seen_tokens
                self._seen_tokens[token] = mono
                if not held_up:
                    outcomes.append(self.qr(token, decoded_ms))
        return outcomes

    def face(
        self, person_id: str | None, score: float, group: str = "residents", recognised_ms: float = 0.0
    ) -> Outcome:
        """An identity from the face module."""
        started = time.perf_counter()
        with self.lock:
            outcome = self.policy.decide_face(person_id, score, self.door_id, self.clock.now(), group)
            return self._finish(outcome, started, recognised_ms)

    def plate(
        self,
        plate: str,
        score: float | None = None,
        recognised_ms: float = 0.0,
        province_confidence: float | None = None,
        serial_score: float | None = None,
    ) -> Outcome:
        """A voted plate read from the plate module (with its province and serial confidences when known)."""
        started = time.perf_counter()
        with self.lock:
            outcome = self.policy.decide_plate(
                plate, self.door_id, self.clock.now(), score, province_confidence, serial_score
            )
            return self._finish(outcome, started, recognised_ms)

    def refuse(self, method: Method, reason: str, recognised_ms: float = 0.0, **refs: Any) -> Outcome:
        """Deny a presentation whose evidence was refused before the policy (liveness, unreadable plate)."""
        config = self.config
        outcome = Outcome(Result.DENIED, reason, method, config.gate, config.id, config.direction, **refs)
        with self.lock:
            return self._finish(outcome, time.perf_counter(), recognised_ms)

    def remote_open(self, duration_ms: int | None = None) -> None:
        """Open on an operator's command (the runtime audits it) or an exit button."""
        with self.lock:
            if isinstance(self.controller, BarrierController):
                self.controller.open(self.clock.monotonic())
            else:
                self.controller.release(self.clock.monotonic(), duration_ms)

    def sensor(self, active: bool) -> None:
        """The door contact (door) or the safety loop (barrier) changed."""
        with self.lock:
            if isinstance(self.controller, BarrierController):
                self.controller.loop(active, self.clock.monotonic())
            else:
                self.controller.sensor(active, self.clock.monotonic())

    def tick(self) -> None:
        """Relock, lower and check timers; call often (10 Hz or more)."""
        with self.lock:
            self.controller.tick(self.clock.monotonic())

    def _bad_read(self, method: Method) -> Outcome:
        """The outcome of a credential that could not be read."""
        config = self.config
        return Outcome(Result.DENIED, "bad-card-read", method, config.gate, config.id, config.direction)

    def _finish(self, outcome: Outcome, started: float, recognised_ms: float = 0.0) -> Outcome:
        """Act on a decision and emit its event and alarms (latency: recognition plus decision)."""
        if outcome.granted:
            self.remote_open()
        self.sink(outcome.event(latency_ms=recognised_ms + (time.perf_counter() - started) * 1000))
        for alarm in outcome.alarms:
            self.sink(alarm)
        return outcome


@dataclass
class GateDevices:
    """The input devices of one access point."""

    card_readers: Sequence[CardReader] = ()
    keypads: Sequence[Keypad] = ()
    cameras: Sequence[Camera] = ()
    sensor: BinarySensor | None = None


@dataclass
class GateRunner:
    """Pumps devices into access points: `step()` once (simulations) or `start()` a thread (runtime)."""

    points: dict[str, tuple[AccessPoint, GateDevices]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    keep_outcomes: bool = False

    def add(self, point: AccessPoint, devices: GateDevices) -> None:
        """Serve another access point."""
        self.points[point.door_id] = (point, devices)

    def step(self) -> int:
        """Drain every device without waiting, then tick; returns how many inputs were handled."""
        handled = 0
        for point, devices in self.points.values():
            handled += self._drain(point, devices)
            point.tick()
        return handled

    def _drain(self, point: AccessPoint, devices: GateDevices) -> int:
        """Handle all pending input of one access point."""
        handled = 0
        results: list[Outcome] = []
        if devices.sensor is not None:
            while (change := devices.sensor.poll(0)) is not None:
                point.sensor(change.active)
                handled += 1
        for reader in devices.card_readers:
            while (swipe := reader.read(0)) is not None:
                results.append(point.card(swipe))
        for keypad in devices.keypads:
            while (entry := keypad.read(0)) is not None:
                results.append(point.pin(entry))
        for camera in devices.cameras:
            frame = camera.read()
            if frame is not None:
                results.extend(point.frame(frame))
        if self.keep_outcomes:
            self.outcomes.extend(results)
        return handled + len(results)

    def start(self, interval_s: float = 0.05) -> None:
        """Run `step()` in a background thread until `stop()` (the default 20 Hz keeps door timers tight)."""
        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - one bad input must not stop the gate
                    log.exception("gate step failed")
                self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="gate-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (if it was started)."""
        thread = getattr(self, "_thread", None)
        if thread is not None:
            self._stop.set()
            thread.join(5)
