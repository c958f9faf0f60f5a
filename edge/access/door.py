"""Door logic: unlock on a grant, relock on time or close, held-open and forced-open alarms, fail modes.

Times are float seconds on any monotonic clock, passed in by the caller (the runtime calls `tick` at 10 Hz or
more; simulators pass simulated time). The relay is energised to unlock a fail-secure lock and energised to
lock a fail-safe one, so a controller fault or power loss (`fail()`, relay off) leaves each in its fail state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from devices.relay import Relay
from edge.access.config import DoorConfig, FailMode
from protocol.events import Alarm, AlarmType, DoorState, DoorStateName, Severity

log = logging.getLogger(__name__)
AlarmSink = Callable[[Alarm], None]
StateSink = Callable[[DoorState], None]


def _ignore_state(_state: DoorState) -> None:
    """Default state sink."""


class LockOutput:
    """Maps lock/unlock onto a relay according to the fail mode."""

    def __init__(self, relay: Relay, fail_mode: FailMode) -> None:
        self.relay = relay
        self.fail_mode = fail_mode
        self.unlocked = False

    def lock(self) -> None:
        """Secure the lock."""
        self.relay.set(self.fail_mode is FailMode.FAIL_SAFE)
        self.unlocked = False

    def unlock(self) -> None:
        """Release the lock."""
        self.relay.set(self.fail_mode is FailMode.FAIL_SECURE)
        self.unlocked = True

    def fail(self) -> None:
        """De-energise: a fail-safe lock opens, a fail-secure lock stays shut."""
        self.relay.set(False)
        self.unlocked = self.fail_mode is FailMode.FAIL_SAFE


class DoorController:
    """One door: its lock relay, its contact sensor, and the alarms they imply."""

    def __init__(
        self, config: DoorConfig, relay: Relay, on_alarm: AlarmSink, on_state: StateSink = _ignore_state
    ) -> None:
        self.config = config
        self.lock = LockOutput(relay, config.fail_mode)
        self.on_alarm, self.on_state = on_alarm, on_state
        self.is_open = False
        self._unlock_until: float | None = None
        self._relocked_at = float("-inf")
        self._opened_at: float | None = None
        self._held_alarmed = False
        self._forced = False

    def start(self) -> None:
        """Lock the door (call once at start-up)."""
        self.lock.lock()

    def release(self, now: float, duration_ms: int | None = None) -> None:
        """Unlock for the configured pulse (or `duration_ms`) after a grant, a remote open or an exit button."""
        duration = (duration_ms if duration_ms is not None else self.config.pulse_ms) / 1000
        self._unlock_until = max(self._unlock_until or now, now + duration)
        self.lock.unlock()

    def fail(self) -> None:
        """Put the lock into its fail state (controller fault, shutdown)."""
        self._unlock_until = None
        self.lock.fail()

    def sensor(self, is_open: bool, now: float) -> None:
        """The door contact changed."""
        if is_open == self.is_open:
            return
        self.is_open = is_open
        if is_open:
            self._opened(now)
        else:
            self._closed(now)

    def tick(self, now: float) -> None:
        """Relock when the unlock time is over; raise the held-open alarm when the door stays open too long."""
        if self._unlock_until is not None and now >= self._unlock_until:
            self._relock(now)
        if self.is_open and not self._held_alarmed and now - self._opened_at >= self.config.held_open_s:
            self._held_alarmed = True
            self.on_state(
                DoorState(door=self.config.id, state=DoorStateName.HELD_OPEN, open_for_s=now - self._opened_at)
            )
            self._alarm(AlarmType.DOOR_HELD_OPEN, Severity.WARNING, f"open for more than {self.config.held_open_s:g} s")

    def _opened(self, now: float) -> None:
        """Tell a legitimate opening from a forced one."""
        self._opened_at = now
        self._held_alarmed = False
        authorised = self.lock.unlocked or now - self._relocked_at <= self.config.forced_grace_s
        self._forced = not authorised
        if self._forced:
            self.on_state(DoorState(door=self.config.id, state=DoorStateName.FORCED_OPEN, open_for_s=0.0))
            self._alarm(AlarmType.DOOR_FORCED_OPEN, Severity.CRITICAL, "opened while locked")
        else:
            self.on_state(DoorState(door=self.config.id, state=DoorStateName.OPEN, open_for_s=0.0))

    def _closed(self, now: float) -> None:
        """Report the closing and relock at once if configured."""
        open_for = now - self._opened_at if self._opened_at is not None else None
        self._opened_at = None
        self.on_state(DoorState(door=self.config.id, state=DoorStateName.CLOSED, open_for_s=open_for))
        if self.config.relock_on_close and self._unlock_until is not None:
            self._relock(now)

    def _relock(self, now: float) -> None:
        """Lock again after an unlock."""
        self._unlock_until = None
        self._relocked_at = now
        self.lock.lock()

    def _alarm(self, alarm_type: AlarmType, severity: Severity, detail: str) -> None:
        """Hand an alarm about this door to the sink."""
        log.warning("door %s: %s (%s)", self.config.id, alarm_type.value, detail)
        self.on_alarm(
            Alarm(alarm_type=alarm_type, severity=severity, gate=self.config.gate, door=self.config.id, detail=detail)
        )
