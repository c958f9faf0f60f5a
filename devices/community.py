"""A community simulator: gates, residents with daily routines, visitors with QR passes, delivery vehicles and
some mischief, producing timed credential presentations and the physical reactions of doors and barriers.

`Community.day()` yields `Presentation`s in time order with the result the ground truth expects; a
`SimulatedGate` turns them into input on simulated devices (card reader, keypad, scene camera, door contact,
vehicle loop) and plays the person or car: it opens the door once the lock releases, holds it, forces it, or
follows another car through. Face and plate presentations carry the identity the vision modules would report.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from devices.card_reader import SimulatedCardReader
from devices.keypad import SimulatedKeypad
from devices.relay import SimulatedRelay
from devices.scene import SceneCamera
from devices.sensors import SimulatedSensor

PROVINCES = "沪苏浙皖京粤川鲁"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Resident:
    """Someone who lives (or works) here and the credentials they hold."""

    person_id: str
    group: str
    card: str
    pin_account: str
    pin: str
    face: bool
    plate: str | None


@dataclass(frozen=True)
class Presentation:
    """One attempt at a door: what is presented, by whom, and what should happen."""

    at: datetime
    gate: str
    door: str
    method: str  # card, pin, qr, face, plate, or "force"/"tailgate" for physical mischief
    actor: str
    value: str = ""  # card number, "account#pin", pass token, person id or plate text
    score: float | None = None
    expect: str = "granted"  # granted / denied / alarm
    behaviour: str = "walk"  # walk: pass through; hold: leave the door open; none: do not pass


@dataclass(frozen=True)
class GateLayout:
    """The doors of one gate."""

    gate: str
    door_in: str
    door_out: str
    barrier: str


class Community:
    """A deterministic community: the same seed gives the same people, credentials and traffic."""

    def __init__(
        self,
        *,
        site: str = "demo",
        gates: int = 2,
        residents: int = 30,
        visitors: int = 8,
        deliveries: int = 4,
        seed: int = 7,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.site = site
        self.tz = ZoneInfo(timezone)
        self.seed = seed
        self.visitors, self.deliveries = visitors, deliveries
        rng = random.Random(seed)
        self.gates = [
            GateLayout(f"gate-{n}", f"gate-{n}-in", f"gate-{n}-out", f"gate-{n}-car") for n in range(1, gates + 1)
        ]
        self.residents = [self._resident(rng, n) for n in range(1, residents + 1)]

    @staticmethod
    def _resident(rng: random.Random, n: int) -> Resident:
        """A resident with a card and PIN, maybe face opt-in (about 60 %) and maybe a car (about 40 %)."""
        plate = None
        if rng.random() < 0.4:
            plate = rng.choice(PROVINCES) + rng.choice(LETTERS) + "".join(rng.choice("0123456789") for _ in range(5))
        return Resident(
            person_id=f"p-{n:04d}",
            group="staff" if n % 10 == 0 else "residents",
            card=str(rng.randrange(10_000_000, 99_999_999)),
            pin_account=f"{1 + n // 20}{n % 20 + 1:02d}",
            pin="".join(rng.choice("0123456789") for _ in range(6)),
            face=rng.random() < 0.6,
            plate=plate,
        )

    def door_configs(self) -> list[dict]:
        """Door and barrier configs (edge.access DoorConfig mappings) for every gate: face never alone."""
        doors = []
        for layout in self.gates:
            doors += [
                {
                    "id": layout.door_in,
                    "gate": layout.gate,
                    "methods": ["card", "pin", "qr", "face"],
                    "held_open_s": 20,
                    "pulse_ms": 3000,
                },
                {
                    "id": layout.door_out,
                    "gate": layout.gate,
                    "direction": "out",
                    "methods": ["card", "face"],
                    "held_open_s": 20,
                    "pulse_ms": 3000,
                },
                {
                    "id": layout.barrier,
                    "gate": layout.gate,
                    "kind": "barrier",
                    "methods": ["plate", "qr", "card"],
                    "barrier_close_s": 3,
                    "vehicle_timeout_s": 20,
                },
            ]
        return doors

    def credentials(self, day: date) -> list[dict]:
        """Allowlist entry mappings (no PINs: see `pins`): residents' cards and plates, deliveries' plates."""
        entries = []
        for resident in self.residents:
            entries.append(
                {
                    "kind": "card",
                    "value": resident.card,
                    "person_id": resident.person_id,
                    "credential_ref": f"card-{resident.person_id}",
                    "group": resident.group,
                }
            )
            if resident.plate:
                entries.append(
                    {
                        "kind": "plate",
                        "value": resident.plate,
                        "person_id": resident.person_id,
                        "credential_ref": f"car-{resident.person_id}",
                        "group": resident.group,
                    }
                )
        for n, plate in enumerate(self._delivery_plates(), start=1):
            start = datetime.combine(day, time(0), self.tz)
            entries.append(
                {
                    "kind": "plate",
                    "value": plate,
                    "credential_ref": f"delivery-{n}",
                    "group": "delivery",
                    "valid_from": start.isoformat(),
                    "valid_until": (start + timedelta(days=1)).isoformat(),
                }
            )
        return entries

    def pins(self) -> list[tuple[Resident, str, str]]:
        """(resident, account, pin) for every resident: the platform hashes them into PIN entries."""
        return [(resident, resident.pin_account, resident.pin) for resident in self.residents]

    def _delivery_plates(self) -> list[str]:
        """Plates of the day's delivery vans (yellow-plate style is not needed: ordinary blue)."""
        rng = random.Random(self.seed + 1)
        return [
            rng.choice(PROVINCES) + "D" + "".join(rng.choice("0123456789") for _ in range(5))
            for _ in range(self.deliveries)
        ]

    def day(self, day: date, issue_pass) -> Iterator[Presentation]:
        """The day's presentations in time order; `issue_pass(pass_id, gate, not_before, expires)` -> token."""
        rng = random.Random(f"{self.seed}-{day.isoformat()}")
        items: list[Presentation] = []

        def at(hour: float) -> datetime:
            return datetime.combine(day, time(0), self.tz) + timedelta(seconds=round(hour * 3600))

        held = False
        for resident in self.residents:
            layout = rng.choice(self.gates)
            leave, back = at(rng.uniform(7, 9.5)), at(rng.uniform(17, 21))
            if resident.plate and rng.random() < 0.7:
                items.append(
                    Presentation(
                        leave,
                        layout.gate,
                        layout.barrier,
                        "plate",
                        resident.person_id,
                        resident.plate,
                        score=round(rng.uniform(0.85, 0.99), 3),
                    )
                )
                items.append(
                    Presentation(
                        back,
                        layout.gate,
                        layout.barrier,
                        "plate",
                        resident.person_id,
                        resident.plate,
                        score=round(rng.uniform(0.85, 0.99), 3),
                    )
                )
                continue
            out_method = "face" if resident.face and rng.random() < 0.7 else "card"
            items.append(self._person(leave, layout, layout.door_out, out_method, resident, rng))
            in_method = rng.choice(["face", "card", "pin"] if resident.face else ["card", "pin"])
            held = held or any(item.behaviour == "hold" for item in items)
            behaviour = "hold" if not held or rng.random() < 0.05 else "walk"  # at least one door held open a day
            items.append(self._person(back, layout, layout.door_in, in_method, resident, rng, behaviour))
        for n in range(1, self.visitors + 1):
            layout = rng.choice(self.gates)
            arrive = at(rng.uniform(9, 20))
            token = issue_pass(
                f"visit-{day:%Y%m%d}-{n}", layout.gate, arrive - timedelta(hours=1), arrive + timedelta(hours=2)
            )
            items.append(Presentation(arrive, layout.gate, layout.door_in, "qr", f"visitor-{n}", token))
            if n % 3 == 0:  # shows the same single-use pass again later: a replay
                items.append(
                    Presentation(
                        arrive + timedelta(minutes=40),
                        layout.gate,
                        layout.door_in,
                        "qr",
                        f"visitor-{n}",
                        token,
                        expect="denied",
                        behaviour="none",
                    )
                )
        for n, plate in enumerate(self._delivery_plates(), start=1):
            layout = rng.choice(self.gates)
            items.append(
                Presentation(
                    at(rng.uniform(10, 18)),
                    layout.gate,
                    layout.barrier,
                    "plate",
                    f"van-{n}",
                    plate,
                    score=0.93,
                    behaviour="tailgate" if n == 1 else "walk",
                )
            )
        for n in range(3):  # strangers and mistakes
            layout = rng.choice(self.gates)
            items.append(
                Presentation(
                    at(rng.uniform(10, 22)),
                    layout.gate,
                    layout.door_in,
                    "card",
                    f"stranger-{n}",
                    str(rng.randrange(10_000_000, 99_999_999)),
                    expect="denied",
                    behaviour="none",
                )
            )
        layout = self.gates[0]
        items.append(Presentation(at(2.5), layout.gate, layout.door_in, "force", "intruder", expect="alarm"))
        return iter(sorted(items, key=lambda item: (item.at, item.door)))

    @staticmethod
    def _person(
        moment: datetime,
        layout: GateLayout,
        door: str,
        method: str,
        resident: Resident,
        rng: random.Random,
        behaviour: str = "walk",
    ) -> Presentation:
        """A resident presenting one of their credentials."""
        if method == "face":
            return Presentation(
                moment,
                layout.gate,
                door,
                "face",
                resident.person_id,
                resident.person_id,
                score=round(rng.uniform(0.7, 0.95), 3),
                behaviour=behaviour,
            )
        if method == "pin":
            return Presentation(
                moment,
                layout.gate,
                door,
                "pin",
                resident.person_id,
                f"{resident.pin_account}#{resident.pin}",
                behaviour=behaviour,
            )
        return Presentation(moment, layout.gate, door, "card", resident.person_id, resident.card, behaviour=behaviour)


@dataclass
class SimulatedDoorDevices:
    """The simulated hardware of one door or barrier."""

    door: str
    barrier: bool
    relay: SimulatedRelay
    sensor: SimulatedSensor
    reader: SimulatedCardReader
    keypad: SimulatedKeypad
    camera: SceneCamera


@dataclass(order=True)
class _Action:
    """A scheduled sensor change."""

    at: float
    seq: int
    door: str = field(compare=False)
    active: bool = field(compare=False)


class SimulatedGate:
    """The devices of a community's gates and the people and cars in front of them, on a shared clock."""

    def __init__(self, community: Community, clock, camera_size: tuple[int, int] = (640, 480)) -> None:
        self.clock = clock
        self.doors: dict[str, SimulatedDoorDevices] = {}
        for layout in community.gates:
            for door, barrier in ((layout.door_in, False), (layout.door_out, False), (layout.barrier, True)):
                self.doors[door] = SimulatedDoorDevices(
                    door,
                    barrier,
                    SimulatedRelay(door, clock=clock.monotonic),
                    SimulatedSensor(door, clock=clock.monotonic),
                    SimulatedCardReader(door),
                    SimulatedKeypad(door),
                    SceneCamera(*camera_size, clock=clock, noise=0, idle_frames=False),
                )
        self._waiting: dict[str, list[tuple[str, float]]] = {door: [] for door in self.doors}
        self._actions: list[_Action] = []
        self._seq = 0

    def deliver(self, presentation: Presentation) -> None:
        """Put a presentation onto the door's devices and remember who waits to pass."""
        devices = self.doors[presentation.door]
        if presentation.method == "card":
            devices.reader.present(presentation.value)
        elif presentation.method == "pin":
            account, pin = presentation.value.split("#", 1)
            devices.keypad.type(account, pin)
        elif presentation.method == "qr":
            devices.camera.show_qr(presentation.value, duration=1.0)
        elif presentation.method == "force":
            self._schedule(presentation.door, 0.5, True)
            self._schedule(presentation.door, 4.0, False)
            return
        if presentation.behaviour != "none":  # walks away if the door has not opened within 10 s
            self._waiting[presentation.door].append((presentation.behaviour, self.clock.monotonic() + 10.0))

    def physics(self) -> None:
        """People and cars react: pass through a released door or raised arm; scheduled changes happen."""
        now = self.clock.monotonic()
        for door, devices in self.doors.items():
            waiting = self._waiting[door] = [item for item in self._waiting[door] if item[1] >= now]
            if waiting and devices.relay.energised and not devices.sensor.active:
                behaviour = waiting.pop(0)[0]
                if devices.barrier:
                    self._schedule(door, 1.0, True)
                    self._schedule(door, 4.0, False)
                    if behaviour == "tailgate":  # a second car follows as the arm comes down
                        self._schedule(door, 5.0, True)
                        self._schedule(door, 8.0, False)
                else:
                    self._schedule(door, 1.0, True)
                    self._schedule(door, 40.0 if behaviour == "hold" else 4.0, False)
        while self._actions and self._actions[0].at <= now:
            action = heapq.heappop(self._actions)
            self.doors[action.door].sensor.set(action.active, at=action.at)

    def next_action_at(self) -> float | None:
        """When the next scheduled change happens (monotonic seconds), if any."""
        return self._actions[0].at if self._actions else None

    def _schedule(self, door: str, after_s: float, active: bool) -> None:
        """Change a door's sensor `after_s` from now."""
        self._seq += 1
        heapq.heappush(self._actions, _Action(self.clock.monotonic() + after_s, self._seq, door, active))
