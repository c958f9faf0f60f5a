"""One gate's actions: turn recognitions and credentials into a local decision, pulse the relay, record events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from devices.relay import Relay
from edge.allowlist import AllowlistSnapshot
from edge.config import DecisionPolicy, DoorSettings, GateSettings
from edge.decision import WATCHLIST, AccessRequest, Decider, Decision, decide_access
from edge.vision.faces import FaceDecision, FaceOutcome
from edge.vision.plates import PlateRead as VisionPlateRead
from protocol.base import WireModel
from protocol.commands import CredentialKind
from protocol.events import (
    AccessDecision,
    Alarm,
    AlarmType,
    Method,
    PlateColour,
    PlateRead,
    Result,
    Severity,
)

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where events go: the durable publisher."""

    def send(self, body: WireModel) -> object:
        """Store the event durably for publishing."""


class Door:
    """A door or barrier and its relay; every pulse is logged."""

    def __init__(self, settings: DoorSettings, relay: Relay) -> None:
        self.settings = settings
        self.relay = relay
        self._lock = threading.Lock()

    def open(self, pulse_ms: int | None = None) -> None:
        """Pulse the relay (non-blocking)."""
        with self._lock:
            self.relay.pulse(pulse_ms or self.settings.pulse_ms)
        log.info("door %s: relay pulsed for %d ms", self.settings.id, pulse_ms or self.settings.pulse_ms)


def face_score(distance: float | None) -> float | None:
    """A [0, 1] score from a dlib encoding distance (1 - distance, clipped): higher is a closer match."""
    return None if distance is None else round(min(1.0, max(0.0, 1.0 - distance)), 4)


class GateController:
    """Decides locally from the cached allowlist (works with the broker down), opens the door, records events."""

    def __init__(
        self,
        settings: GateSettings,
        door: Door,
        sink: EventSink,
        allowlist: Callable[[], AllowlistSnapshot],
        policy: DecisionPolicy,
        decider: Decider = decide_access,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.door = door
        self.sink = sink
        self.allowlist = allowlist
        self.policy = policy
        self.decider = decider
        self._clock = clock

    @property
    def id(self) -> str:
        """Gate id."""
        return self.settings.id

    def request(self, request: AccessRequest, latency_ms: float | None = None) -> tuple[Decision, AccessDecision]:
        """Decide one request, open the door when granted, and record the decision (and any alarm)."""
        decision = self.decider(request, self.allowlist())
        if decision.result is Result.GRANTED:
            self.door.open()
        entry = decision.entry
        event = AccessDecision(
            gate=self.id,
            door=self.door.settings.id,
            direction=self.settings.direction,
            method=request.method,
            result=decision.result,
            reason=decision.reason,
            person_id=decision.person_id,
            credential_ref=entry.credential_ref if entry else None,
            score=request.score,
            latency_ms=latency_ms,
        )
        sent = self.sink.send(event)
        if decision.reason == WATCHLIST and self.policy.watchlist_alarm:
            self._alarm(AlarmType.WATCHLIST_HIT, Severity.CRITICAL, f"watchlisted {request.method.value}", sent)
        log.info("gate %s: %s %s (%s)", self.id, request.method.value, decision.result.value, decision.reason)
        return decision, event

    def card(self, card_number: str, started: float | None = None) -> AccessDecision:
        """A card swipe at this gate."""
        started = time.perf_counter() if started is None else started
        request = AccessRequest(self.id, Method.CARD, self._clock(), credential=card_number)
        return self.request(request, _ms_since(started))[1]

    def face(self, decision: FaceDecision, latency_ms: float | None = None) -> AccessDecision | None:
        """A multi-frame face decision from this gate's camera."""
        now = self._clock()
        score = face_score(decision.distance)
        if decision.outcome is FaceOutcome.UNKNOWN_PERSON:
            event = AccessDecision(
                gate=self.id,
                door=self.door.settings.id,
                direction=self.settings.direction,
                method=Method.FACE,
                result=Result.UNKNOWN,
                reason="unknown-face",
                latency_ms=latency_ms,
            )
            sent = self.sink.send(event)
            if self.policy.unknown_person_alarm:
                self._alarm(AlarmType.UNKNOWN_PERSON, Severity.INFO, "unknown face at the gate", sent)
            return event
        if decision.outcome is FaceOutcome.LIVENESS_FAILED:
            ok, reason = False, "liveness-failed"
        elif self.policy.face_requires_liveness and not decision.liveness.checked:
            ok, reason = False, "liveness-not-checked"
        else:
            ok, reason = True, "weak-evidence"
        request = AccessRequest(
            self.id, Method.FACE, now, person_id=decision.person_id, score=score, evidence_ok=ok, evidence_reason=reason
        )
        return self.request(request, latency_ms)[1]

    def plate(self, read: VisionPlateRead, frames: int, latency_ms: float | None = None) -> AccessDecision:
        """A voted plate of a vehicle at this gate; weak reads are refused rather than guessed."""
        policy = self.policy
        ok = read.confidence >= policy.plate_min_confidence and (read.validated or not policy.plate_requires_validated)
        request = AccessRequest(
            self.id,
            Method.PLATE,
            self._clock(),
            credential=read.text,
            score=round(read.confidence, 4),
            evidence_ok=ok,
            evidence_reason="plate-unreadable",
        )
        return self.request(request, latency_ms)[1]

    def plate_read(self, read: VisionPlateRead, frames: int) -> PlateRead:
        """Record the voted plate of a passage (the plate text travels in the payload, never in a topic)."""
        entry = self.allowlist().lookup(CredentialKind.PLATE, read.text)
        event = PlateRead(
            gate=self.id,
            direction=self.settings.direction,
            plate=read.text[:16],
            colour=PlateColour(read.colour.value),
            plate_type=read.plate_type.value.replace("_", "-"),
            validated=read.validated,
            confidence=min(1.0, max(0.0, read.confidence)),
            vehicle_id=entry.credential_ref if entry else None,
            frames=max(1, min(frames, 1000)),
        )
        self.sink.send(event)
        return event

    def remote_open(self, pulse_ms: int, operator: str, reason: str) -> AccessDecision:
        """Open the door on an operator's command: logged and recorded as a remote access decision."""
        log.warning("gate %s: remote open by operator %s: %s", self.id, operator, reason)
        self.door.open(pulse_ms)
        event = AccessDecision(
            gate=self.id,
            door=self.door.settings.id,
            direction=self.settings.direction,
            method=Method.REMOTE,
            result=Result.GRANTED,
            reason="remote-open",
            credential_ref=operator,
        )
        self.sink.send(event)
        return event

    def _alarm(self, alarm_type: AlarmType, severity: Severity, detail: str, related: object) -> None:
        """Record an alarm at this gate, linked to the event that caused it."""
        envelope = getattr(related, "envelope", None)
        self.sink.send(
            Alarm(
                alarm_type=alarm_type,
                severity=severity,
                gate=self.id,
                door=self.door.settings.id,
                detail=detail,
                related_event_id=str(envelope.event_id) if envelope is not None else None,
            )
        )


def _ms_since(started: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return max(0.0, (time.perf_counter() - started) * 1000)
