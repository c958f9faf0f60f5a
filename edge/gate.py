"""One gate of the agent: what the vision modules and operators bring, handed to the access point of its door.

Decisions, door and barrier logic live in edge.access (AccessPolicy, AccessPoint); this adapter adds what only
the runtime knows: face liveness and unknown-person alarms, plate evidence and plate.read events, and the
audit event of a remote open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from devices.card_reader import CardSwipe
from edge.access.allowlist import Allowlist
from edge.access.gate import AccessPoint
from edge.access.policy import Outcome
from edge.config import DecisionPolicy, GateSettings
from edge.vision.faces import FaceDecision, FaceOutcome
from edge.vision.plates import PlateRead as VisionPlateRead
from protocol.base import WireModel
from protocol.commands import CredentialKind
from protocol.events import AccessDecision, Alarm, AlarmType, Method, PlateColour, PlateRead, Result, Severity

log = logging.getLogger(__name__)
EventSink = Callable[[WireModel], object]
DEFAULT_GROUP = "residents"


def face_score(distance: float | None) -> float | None:
    """A [0, 1] score from a dlib encoding distance (1 - distance, clipped): higher is a closer match."""
    return None if distance is None else round(min(1.0, max(0.0, 1.0 - distance)), 4)


def alarm_filter(sink: EventSink, policy: DecisionPolicy) -> Callable[[WireModel], None]:
    """A sink that drops the alarms the decision policy switched off."""

    def send(body: WireModel) -> None:
        if isinstance(body, Alarm) and body.alarm_type is AlarmType.WATCHLIST_HIT and not policy.watchlist_alarm:
            return
        sink(body)

    return send


class GateController:
    """A gate: its door's access point, fed by cameras (faces, plates, passes), readers, keypads and operators."""

    def __init__(
        self,
        settings: GateSettings,
        point: AccessPoint,
        sink: EventSink,
        policy: DecisionPolicy,
        allowlist: Allowlist,
    ) -> None:
        self.settings = settings
        self.point = point
        self.sink = sink
        self.policy = policy
        self.allowlist = allowlist

    @property
    def id(self) -> str:
        """Gate id."""
        return self.settings.id

    @property
    def door_id(self) -> str:
        """The door or barrier this gate opens."""
        return self.point.door_id

    @property
    def reads_passes(self) -> bool:
        """Whether this gate's door accepts QR passes (cameras then decode them)."""
        return Method.QR in self.point.config.methods

    def card(self, card_number: str) -> Outcome:
        """A card presented at this gate (a reader, or a guard typing the number)."""
        return self.point.card(CardSwipe("manual", card_number))

    def face(self, decision: FaceDecision, latency_ms: float | None = None) -> Outcome:
        """A multi-frame face decision from this gate's camera."""
        recognised = latency_ms or 0.0
        score = face_score(decision.distance)
        if decision.outcome is FaceOutcome.UNKNOWN_PERSON:
            outcome = self.point.face(None, score or 0.0, recognised_ms=recognised)
            if self.policy.unknown_person_alarm:
                self.sink(
                    Alarm(
                        alarm_type=AlarmType.UNKNOWN_PERSON,
                        severity=Severity.INFO,
                        gate=self.id,
                        door=self.door_id,
                        detail="unknown face at the gate",
                    )
                )
            return outcome
        refs = {"person_id": decision.person_id, "score": score}
        if decision.outcome is FaceOutcome.LIVENESS_FAILED:
            return self.point.refuse(Method.FACE, "liveness-failed", recognised, **refs)
        if self.policy.face_requires_liveness and not decision.liveness.checked:
            return self.point.refuse(Method.FACE, "liveness-not-checked", recognised, **refs)
        group = self._group_of(decision.person_id)
        return self.point.face(decision.person_id, score or 0.0, group, recognised_ms=recognised)

    def plate(self, read: VisionPlateRead, frames: int, latency_ms: float | None = None) -> Outcome:
        """A voted plate of a vehicle at this gate; weak reads are refused rather than guessed.

        With the serial match on, a read whose only weak character is the province still goes to the access
        policy, which may match it on its serial (see AccessPolicy.decide_plate).
        """
        policy = self.policy
        score = round(min(1.0, max(0.0, read.confidence)), 4)
        serial_score = round(min(1.0, max(0.0, read.serial_confidence)), 4)
        recognised = latency_ms or 0.0
        if not policy.plate_decidable(read) or (policy.plate_requires_validated and not read.validated):
            return self.point.refuse(Method.PLATE, "plate-unreadable", recognised, score=score)
        return self.point.plate(
            read.text,
            score,
            recognised_ms=recognised,
            province_confidence=read.province_confidence,
            serial_score=serial_score,
        )

    def plate_read(self, read: VisionPlateRead, frames: int) -> PlateRead:
        """Record the voted plate of a passage (the plate text travels in the payload, never in a topic)."""
        entry = self.allowlist.lookup(CredentialKind.PLATE, read.text)
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
        self.sink(event)
        return event

    def frame(self, image: np.ndarray) -> list[Outcome]:
        """Decide the visitor passes shown on a camera frame."""
        return self.point.frame(image)

    def remote_open(self, pulse_ms: int, operator: str, reason: str) -> AccessDecision:
        """Open the door on an operator's command: logged and recorded as a remote access decision."""
        log.warning("gate %s: remote open by operator %s: %s", self.id, operator, reason)
        started = time.perf_counter()
        self.point.remote_open(pulse_ms)
        event = AccessDecision(
            gate=self.id,
            door=self.door_id,
            direction=self.settings.direction,
            method=Method.REMOTE,
            result=Result.GRANTED,
            reason="remote-open",
            credential_ref=operator,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        self.sink(event)
        return event

    def _group_of(self, person_id: str | None) -> str:
        """The access group of a person, from their allowlist entries (residents when none says otherwise)."""
        if person_id is None:
            return DEFAULT_GROUP
        groups = [entry.group for entry in self.allowlist.for_person(person_id) if not entry.watchlist]
        return groups[0] if groups else DEFAULT_GROUP
