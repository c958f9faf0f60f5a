"""Vehicle barrier logic: raise for each authorised vehicle, lower when it has cleared the safety loop,
never lower onto a vehicle, and raise a tailgating alarm for an unauthorised vehicle following through.

The loop sensor is the safety loop under the arm. Times are float seconds on any monotonic clock.
"""

from __future__ import annotations

import logging

from devices.relay import Relay
from edge.access.config import DoorConfig
from edge.access.door import AlarmSink, LockOutput, StateSink, _ignore_state
from protocol.events import Alarm, AlarmType, DoorState, DoorStateName, Severity

log = logging.getLogger(__name__)


class BarrierController:
    """One barrier arm (relay: energised = up for fail-secure lanes) and its safety loop."""

    def __init__(
        self, config: DoorConfig, relay: Relay, on_alarm: AlarmSink, on_state: StateSink = _ignore_state
    ) -> None:
        self.config = config
        self.arm = LockOutput(relay, config.fail_mode)
        self.on_alarm, self.on_state = on_alarm, on_state
        self.allowances = 0
        self.passed = 0
        self.loop_occupied = False
        self._current_authorised = False
        self._deadline: float | None = None
        self._lowered_at = float("-inf")

    @property
    def is_up(self) -> bool:
        """Whether the arm is up."""
        return self.arm.unlocked

    def start(self) -> None:
        """Lower the arm (call once at start-up)."""
        self.arm.lock()

    def open(self, now: float) -> None:
        """Raise the arm for one more authorised vehicle."""
        self.allowances += 1
        self._deadline = now + self.config.vehicle_timeout_s
        if not self.is_up:
            self.arm.unlock()
            self.on_state(DoorState(door=self.config.id, state=DoorStateName.OPEN, open_for_s=0.0))

    def fail(self) -> None:
        """Put the arm into its fail state."""
        self.arm.fail()

    def loop(self, occupied: bool, now: float) -> None:
        """The safety loop changed: a vehicle arrived under the arm or left it."""
        if occupied == self.loop_occupied:
            return
        self.loop_occupied = occupied
        if occupied:
            self._arrived(now)
        else:
            self._cleared(now)

    def tick(self, now: float) -> None:
        """Lower the arm when nobody came for the authorisation in time."""
        if self.is_up and not self.loop_occupied and self._deadline is not None and now >= self._deadline:
            self.allowances = 0
            self._lower(now)

    def _arrived(self, now: float) -> None:
        """Use one authorisation, or alarm on a vehicle without one while the arm is up or coming down."""
        if self.allowances > 0:
            self.allowances -= 1
            self._current_authorised = True
            return
        self._current_authorised = False
        if self.is_up or now - self._lowered_at <= self.config.barrier_close_s:
            self._alarm(AlarmType.TAILGATING, Severity.WARNING, "second vehicle followed through the barrier")
            if not self.is_up:
                self.arm.unlock()  # never bring the arm down onto a vehicle
        else:
            self._alarm(AlarmType.TAMPER, Severity.WARNING, "vehicle on the safety loop under a closed barrier")

    def _cleared(self, now: float) -> None:
        """A vehicle has left the loop: count it and lower unless more vehicles are authorised."""
        if self._current_authorised:
            self.passed += 1
        self._current_authorised = False
        if self.allowances == 0 and self.is_up:
            self._lower(now)

    def _lower(self, now: float) -> None:
        """Bring the arm down."""
        self._deadline = None
        self._lowered_at = now
        self.arm.lock()
        self.on_state(DoorState(door=self.config.id, state=DoorStateName.CLOSED))

    def _alarm(self, alarm_type: AlarmType, severity: Severity, detail: str) -> None:
        """Hand an alarm about this barrier to the sink."""
        log.warning("barrier %s: %s (%s)", self.config.id, alarm_type.value, detail)
        self.on_alarm(
            Alarm(alarm_type=alarm_type, severity=severity, gate=self.config.gate, door=self.config.id, detail=detail)
        )
