"""The access policy: one decide entry point per credential kind, deterministic given its inputs and state.

No clock and no network: the caller passes `now`. State the policy keeps (PIN failures, who is inside,
single-use passes claimed) lives in the objects handed to it, so a test or the runtime controls all of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.access.allowlist import Allowlist
from edge.access.config import AccessConfig, DoorConfig
from edge.access.errors import PassError
from edge.access.pin import PinHash, PinLockout, hash_pin
from edge.access.qr_pass import PassVerifier
from edge.access.schedule import AntiPassback, in_schedule
from edge.access.used_passes import UsedPassStore
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import AccessDecision, Alarm, AlarmType, Direction, Method, Result, Severity

log = logging.getLogger(__name__)
_DUMMY_PIN = PinHash.parse(hash_pin("dummy", "000000", log2_n=10))


def serial_match_applies(
    province_confidence: float | None, serial_score: float | None, min_score: float, below: float
) -> bool:
    """Whether a plate may be matched on its serial: its province is less sure than below, the rest sure."""
    unsure_province = province_confidence is not None and province_confidence < below
    return unsure_province and serial_score is not None and serial_score >= min_score


@dataclass(frozen=True)
class Outcome:
    """A decision: result, stable reason code, who and what it concerned, and alarms to raise."""

    result: Result
    reason: str
    method: Method
    gate: str
    door: str
    direction: Direction
    person_id: str | None = None
    credential_ref: str | None = None
    pass_id: str | None = None
    score: float | None = None
    group: str | None = None
    alarms: tuple[Alarm, ...] = field(default=())

    @property
    def granted(self) -> bool:
        """Whether the door opens."""
        return self.result is Result.GRANTED

    def event(self, latency_ms: float | None = None) -> AccessDecision:
        """The access.decision event body for this outcome."""
        return AccessDecision(
            gate=self.gate,
            door=self.door,
            direction=self.direction,
            method=self.method,
            result=self.result,
            reason=self.reason,
            person_id=self.person_id,
            credential_ref=self.credential_ref,
            pass_id=self.pass_id,
            score=self.score,
            latency_ms=latency_ms,
        )


class AccessPolicy:
    """Decides presentations of card, PIN, QR pass, face and plate at the configured doors."""

    def __init__(
        self,
        config: AccessConfig,
        allowlist: Allowlist,
        *,
        verifier: PassVerifier | None = None,
        used_passes: UsedPassStore | None = None,
        lockout: PinLockout | None = None,
        passback: AntiPassback | None = None,
    ) -> None:
        self.config = config
        self.allowlist = allowlist
        self.verifier = verifier
        self.used_passes = used_passes
        self.lockout = lockout or PinLockout(config.pin.max_failures, config.pin.window_s, config.pin.lockout_s)
        self.passback = passback or AntiPassback(config.anti_passback_reset_s)
        self.timezone = ZoneInfo(config.timezone)

    # -- entry points ---------------------------------------------------------------------------------------

    def decide_card(self, card_number: str, door_id: str, now: datetime) -> Outcome:
        """A card held to the reader of a door."""
        door = self.config.door(door_id)
        refused = self._method_refused(door, Method.CARD)
        if refused:
            return refused
        entry = self.allowlist.lookup(CredentialKind.CARD, card_number)
        if entry is None:
            return self._outcome(door, Method.CARD, Result.DENIED, "unknown-card")
        return self._check_entry(door, Method.CARD, entry, now)

    def decide_pin(self, account: str, pin: str, door_id: str, now: datetime) -> Outcome:
        """An account code and PIN typed at the keypad of a door; wrong PINs count towards a lock-out."""
        door = self.config.door(door_id)
        refused = self._method_refused(door, Method.PIN)
        if refused:
            return refused
        keys = (f"account:{account}", f"keypad:{door.id}")
        if any(self.lockout.locked(key, now) for key in keys):
            return self._outcome(door, Method.PIN, Result.DENIED, "pin-locked-out")
        candidates = self.allowlist.pins_for(account)
        entry = next((item for parsed, item in candidates if parsed.matches(pin)), None)
        if entry is None:
            if not candidates:
                _DUMMY_PIN.matches(pin)  # keep the timing of unknown accounts close to that of wrong PINs
            alarms = tuple(self._lockout_alarm(door, key) for key in keys if self.lockout.fail(key, now))
            return self._outcome(door, Method.PIN, Result.DENIED, "wrong-pin", alarms=alarms)
        for key in keys:
            self.lockout.succeed(key)
        return self._check_entry(door, Method.PIN, entry, now)

    def decide_qr(self, token: str, door_id: str, now: datetime) -> Outcome:
        """A visitor pass shown to the camera of a door; a single-use pass is claimed only when it grants."""
        door = self.config.door(door_id)
        refused = self._method_refused(door, Method.QR)
        if refused:
            return refused
        if self.verifier is None:
            return self._outcome(door, Method.QR, Result.DENIED, "pass-not-configured")
        try:
            visitor_pass = self.verifier.verify(token, door.gate, now)
        except PassError as err:
            return self._outcome(door, Method.QR, Result.DENIED, err.reason)
        refs = {"pass_id": visitor_pass.pass_id, "person_id": None, "group": self.config.passes.group}
        blocked = self._group_refusal(door, self.config.passes.group, now)
        if blocked:
            return self._outcome(door, Method.QR, Result.DENIED, blocked, **refs)
        if visitor_pass.single_use and self.used_passes is not None and self.used_passes.used(visitor_pass.pass_id):
            return self._replayed(door, refs)
        key = f"pass:{visitor_pass.pass_id}"
        if door.anti_passback and not self.passback.allows(key, door.direction, now):
            return self._outcome(door, Method.QR, Result.DENIED, "anti-passback", **refs)
        if visitor_pass.single_use:
            if self.used_passes is None:
                return self._outcome(door, Method.QR, Result.DENIED, "pass-not-configured", **refs)
            if not self.used_passes.claim(visitor_pass.pass_id, door.gate, now, visitor_pass.expires):
                return self._replayed(door, refs)
        self.passback.record(key, door.direction, now)
        return self._outcome(door, Method.QR, Result.GRANTED, "visitor-pass", **refs)

    def decide_face(
        self, person_id: str | None, score: float, door_id: str, now: datetime, group: str = "residents"
    ) -> Outcome:
        """A person the face module identified (person id and score; None when unknown) at a door's camera."""
        door = self.config.door(door_id)
        refused = self._method_refused(door, Method.FACE)
        if refused:
            return refused
        if person_id is None:
            return self._outcome(door, Method.FACE, Result.DENIED, "unknown-face", score=score)
        refs = {"person_id": person_id, "score": score, "group": group}
        if score < self.config.face_min_score:
            return self._outcome(door, Method.FACE, Result.DENIED, "low-score", **refs)
        if any(entry.watchlist for entry in self.allowlist.for_person(person_id)):
            alarm = self._watchlist_alarm(door)
            return self._outcome(door, Method.FACE, Result.DENIED, "watchlist", alarms=(alarm,), **refs)
        return self._admit(door, Method.FACE, f"person:{person_id}", group, now, "face-match", refs)

    def decide_plate(
        self,
        plate: str,
        door_id: str,
        now: datetime,
        score: float | None = None,
        province_confidence: float | None = None,
        serial_score: float | None = None,
    ) -> Outcome:
        """A plate read at a barrier; unconfident reads are refused rather than guessed.

        The province character is the one a camera misreads most (a complex glyph, blurred at night). When it
        is unsure (province_confidence below plate_serial_match_below) and the rest of the plate is sure
        (serial_score), a plate unknown as read is matched on its serial: granted only when exactly one
        allowlisted plate has it ("serial-match"); two or more are "ambiguous-plate".
        """
        door = self.config.door(door_id)
        refused = self._method_refused(door, Method.PLATE)
        if refused:
            return refused
        sure = score is None or score >= self.config.plate_min_score
        entry = self.allowlist.lookup(CredentialKind.PLATE, plate)
        if entry is not None and sure:
            return self._check_entry(door, Method.PLATE, entry, now, score=score)
        config = self.config
        if serial_match_applies(
            province_confidence, serial_score, config.plate_min_score, config.plate_serial_match_below
        ):
            matches = self.allowlist.plates_with_serial(plate)
            if len(matches) == 1:
                return self._check_entry(
                    door, Method.PLATE, matches[0], now, score=serial_score, granted_reason="serial-match"
                )
            if matches:
                return self._outcome(door, Method.PLATE, Result.DENIED, "ambiguous-plate", score=serial_score)
        if not sure:
            return self._outcome(door, Method.PLATE, Result.DENIED, "low-score", score=score)
        return self._outcome(door, Method.PLATE, Result.DENIED, "unknown-plate", score=score)

    # -- shared checks --------------------------------------------------------------------------------------

    def _method_refused(self, door: DoorConfig, method: Method) -> Outcome | None:
        """A denial when the door does not accept this method."""
        if method in door.methods:
            return None
        return self._outcome(door, method, Result.DENIED, "method-not-allowed")

    def _check_entry(
        self,
        door: DoorConfig,
        method: Method,
        entry: AllowlistEntry,
        now: datetime,
        score: float | None = None,
        granted_reason: str = "allowlisted",
    ) -> Outcome:
        """Watchlist, gate, validity, group, schedule and anti-passback checks of an allowlist entry."""
        refs = {"person_id": entry.person_id, "credential_ref": entry.credential_ref, "group": entry.group}
        if score is not None:
            refs["score"] = score
        if entry.watchlist:
            return self._outcome(
                door, method, Result.DENIED, "watchlist", alarms=(self._watchlist_alarm(door),), **refs
            )
        if entry.gates and door.gate not in entry.gates:
            return self._outcome(door, method, Result.DENIED, "wrong-gate", **refs)
        if entry.valid_from is not None and now < entry.valid_from:
            return self._outcome(door, method, Result.DENIED, "not-yet-valid", **refs)
        if entry.valid_until is not None and now >= entry.valid_until:
            return self._outcome(door, method, Result.DENIED, "expired", **refs)
        key = f"person:{entry.person_id}" if entry.person_id else f"credential:{entry.credential_ref}"
        return self._admit(door, method, key, entry.group, now, granted_reason, refs)

    def _admit(
        self, door: DoorConfig, method: Method, key: str, group: str, now: datetime, reason: str, refs: dict
    ) -> Outcome:
        """Group, schedule and anti-passback checks; records the passage when it grants."""
        blocked = self._group_refusal(door, group, now)
        if blocked:
            return self._outcome(door, method, Result.DENIED, blocked, **refs)
        if door.anti_passback and not self.passback.allows(key, door.direction, now):
            return self._outcome(door, method, Result.DENIED, "anti-passback", **refs)
        self.passback.record(key, door.direction, now)
        return self._outcome(door, method, Result.GRANTED, reason, **refs)

    def _group_refusal(self, door: DoorConfig, group: str, now: datetime) -> str | None:
        """Why a group may not pass this door now, or None."""
        if door.groups is not None and group not in door.groups:
            return "group-not-allowed"
        schedule = self.config.schedules.get(group)
        if schedule is None:
            return "no-schedule"
        if not in_schedule(schedule, now, self.timezone):
            return "outside-schedule"
        return None

    def _outcome(self, door: DoorConfig, method: Method, result: Result, reason: str, **refs) -> Outcome:
        """Build an outcome for a door."""
        return Outcome(result, reason, method, door.gate, door.id, door.direction, **refs)

    def _watchlist_alarm(self, door: DoorConfig) -> Alarm:
        """The alarm a watchlisted credential or person raises (no personal data in the detail)."""
        return Alarm(
            alarm_type=AlarmType.WATCHLIST_HIT,
            severity=Severity.CRITICAL,
            gate=door.gate,
            door=door.id,
            detail="watchlisted credential presented",
        )

    def _replayed(self, door: DoorConfig, refs: dict) -> Outcome:
        """A single-use pass shown again: refused, with an alarm (a copied or photographed pass)."""
        alarm = Alarm(
            alarm_type=AlarmType.PASS_REPLAYED,
            severity=Severity.WARNING,
            gate=door.gate,
            door=door.id,
            detail="single-use visitor pass shown again",
        )
        return self._outcome(door, Method.QR, Result.DENIED, "pass-replayed", alarms=(alarm,), **refs)

    def _lockout_alarm(self, door: DoorConfig, key: str) -> Alarm:
        """The alarm of a PIN lock-out starting (names the keypad or that an account was locked, not which)."""
        scope = "keypad" if key.startswith("keypad:") else "account"
        return Alarm(
            alarm_type=AlarmType.PIN_LOCKOUT,
            severity=Severity.WARNING,
            gate=door.gate,
            door=door.id,
            detail=f"{scope} locked after {self.lockout.max_failures} wrong PINs",
        )
