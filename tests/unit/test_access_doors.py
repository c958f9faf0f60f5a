"""Door and barrier logic: relay timing, fail modes, held-open, forced-open and tailgating alarms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices.clock import ManualClock
from devices.relay import SimulatedRelay
from edge.access.allowlist import Allowlist
from edge.access.barrier import BarrierController
from edge.access.config import AccessConfig, DoorConfig
from edge.access.door import DoorController
from edge.access.gate import AccessPoint
from edge.access.policy import AccessPolicy
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import AccessDecision, Alarm, AlarmType, DoorState, DoorStateName, Severity


class Recorder:
    """Collects what a controller emits."""

    def __init__(self) -> None:
        self.items = []

    def __call__(self, item) -> None:
        self.items.append(item)

    def alarms(self) -> list[AlarmType]:
        return [item.alarm_type for item in self.items if isinstance(item, Alarm)]

    def states(self) -> list[DoorStateName]:
        return [item.state for item in self.items if isinstance(item, DoorState)]


def _door(**changes) -> DoorConfig:
    return DoorConfig.model_validate(
        {"id": "d1", "gate": "north", "methods": ["card"], "pulse_ms": 3000, "held_open_s": 20, **changes}
    )


def _controller(**changes):
    relay, sink = SimulatedRelay("r1"), Recorder()
    controller = DoorController(_door(**changes), relay, sink, sink)
    controller.start()
    return controller, relay, sink


def test_fail_secure_release_pulses_for_the_configured_time():
    """Fail-secure: energised to unlock for pulse_ms, then locked again by tick."""
    door, relay, sink = _controller()
    assert not relay.energised
    door.release(100.0)
    assert relay.energised
    door.tick(102.9)
    assert relay.energised
    door.tick(103.0)
    assert not relay.energised
    assert sink.alarms() == []


def test_fail_safe_is_energised_while_locked_and_opens_on_failure():
    """Fail-safe (maglock): energised to lock, released to unlock, and released on a fault."""
    door, relay, _sink = _controller(fail_mode="fail_safe")
    assert relay.energised
    door.release(0.0)
    assert not relay.energised
    door.tick(3.0)
    assert relay.energised
    door.fail()
    assert not relay.energised and door.lock.unlocked


def test_fail_secure_stays_locked_on_failure():
    """Fail-secure: a fault leaves the lock de-energised, i.e. locked."""
    door, relay, _sink = _controller()
    door.release(0.0)
    door.fail()
    assert not relay.energised and not door.lock.unlocked


def test_relock_on_close():
    """Closing the door after a grant relocks at once, before the pulse time is over."""
    door, relay, sink = _controller()
    door.release(0.0)
    door.sensor(True, 1.0)
    door.sensor(False, 2.0)
    assert not relay.energised
    assert sink.states() == [DoorStateName.OPEN, DoorStateName.CLOSED]
    assert sink.items[-1].open_for_s == pytest.approx(1.0)


def test_forced_open_alarm():
    """Opening a locked door raises a critical forced-open alarm; opening right after relock does not."""
    door, _relay, sink = _controller(forced_grace_s=1.0)
    door.sensor(True, 50.0)
    assert sink.alarms() == [AlarmType.DOOR_FORCED_OPEN]
    assert sink.items[-1].severity is Severity.CRITICAL and sink.items[-1].door == "d1"
    door.sensor(False, 51.0)
    door.release(60.0)
    door.tick(63.0)  # relocked at 63
    door.sensor(True, 63.5)  # within grace: the person was slow on the handle
    assert sink.alarms() == [AlarmType.DOOR_FORCED_OPEN]


def test_held_open_alarm_once_per_opening():
    """A door open past held_open_s raises one warning, not one per tick; a new opening can raise again."""
    door, _relay, sink = _controller()
    door.release(0.0)
    door.sensor(True, 1.0)
    for second in range(2, 60):
        door.tick(float(second))
    assert sink.alarms() == [AlarmType.DOOR_HELD_OPEN]
    assert DoorStateName.HELD_OPEN in sink.states()
    door.sensor(False, 60.0)
    door.release(70.0)
    door.sensor(True, 71.0)
    door.tick(80.0)
    assert sink.alarms() == [AlarmType.DOOR_HELD_OPEN]
    door.tick(91.5)
    assert sink.alarms() == [AlarmType.DOOR_HELD_OPEN, AlarmType.DOOR_HELD_OPEN]


def _barrier(**changes):
    relay, sink = SimulatedRelay("arm"), Recorder()
    config = _door(id="car", kind="barrier", methods=["plate"], barrier_close_s=3, vehicle_timeout_s=20, **changes)
    barrier = BarrierController(config, relay, sink, sink)
    barrier.start()
    return barrier, relay, sink


def test_barrier_one_vehicle_passes_and_arm_lowers():
    """The arm rises for a valid vehicle, stays up while it is on the loop, and lowers once it has cleared."""
    barrier, relay, sink = _barrier()
    barrier.open(0.0)
    assert relay.energised
    barrier.loop(True, 2.0)
    barrier.tick(30.0)  # no timeout while a vehicle is on the loop
    assert relay.energised
    barrier.loop(False, 31.0)
    assert not relay.energised and barrier.passed == 1 and sink.alarms() == []


def test_barrier_tailgating_alarm_and_no_lowering_onto_the_car():
    """A second vehicle on the loop while the arm comes down raises tailgating and keeps the arm up."""
    barrier, relay, sink = _barrier()
    barrier.open(0.0)
    barrier.loop(True, 1.0)
    barrier.loop(False, 4.0)
    assert not relay.energised
    barrier.loop(True, 5.0)  # within barrier_close_s of lowering
    assert sink.alarms() == [AlarmType.TAILGATING]
    assert relay.energised, "the arm must not come down onto the tailgater"
    barrier.loop(False, 7.0)
    assert not relay.energised and barrier.passed == 1


def test_barrier_two_authorised_vehicles_are_not_tailgating():
    """Two grants let two vehicles through without an alarm."""
    barrier, relay, sink = _barrier()
    barrier.open(0.0)
    barrier.open(0.5)
    for start in (1.0, 5.0):
        barrier.loop(True, start)
        barrier.loop(False, start + 2)
    assert barrier.passed == 2 and sink.alarms() == [] and not relay.energised


def test_barrier_times_out_without_a_vehicle():
    """Nobody came: the arm lowers after vehicle_timeout_s and the authorisation is gone."""
    barrier, relay, sink = _barrier()
    barrier.open(0.0)
    barrier.tick(19.0)
    assert relay.energised
    barrier.tick(20.0)
    assert not relay.energised and barrier.allowances == 0
    barrier.loop(True, 40.0)
    assert sink.alarms() == [AlarmType.TAMPER]


def test_access_point_grants_pulse_and_emits_events():
    """An access point turns a grant into an unlock and emits the decision; a refusal leaves the door shut."""
    clock = ManualClock(datetime(2025, 6, 2, 1, 0, tzinfo=UTC))
    config = AccessConfig.model_validate({"site": "demo", "doors": [_door().model_dump(mode="json")]})
    entry = AllowlistEntry(kind=CredentialKind.CARD, value="42", credential_ref="c-42", person_id="p-42")
    relay, sink = SimulatedRelay("r1"), Recorder()
    point = AccessPoint("d1", AccessPolicy(config, Allowlist([entry])), relay, sink, clock=clock)
    from devices.card_reader import CardSwipe

    assert point.card(CardSwipe("reader", "42")).granted
    assert relay.energised
    clock.advance(3.5)
    point.tick()
    assert not relay.energised
    assert point.card(CardSwipe("reader", "", wiegand_bits="1" * 26)).reason == "bad-card-read"
    decisions = [item for item in sink.items if isinstance(item, AccessDecision)]
    assert [(d.result.value, d.reason) for d in decisions] == [("granted", "allowlisted"), ("denied", "bad-card-read")]
    assert all(d.latency_ms is not None for d in decisions)
