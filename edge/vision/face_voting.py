"""Multi-frame decisions for faces: an identity counts only when k of the last n frames agree."""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from edge.vision.face_config import VotingConfig

logger = logging.getLogger(__name__)


class VoteOutcome(enum.StrEnum):
    """What a window of frames concluded."""

    RECOGNISED = "recognised"
    UNKNOWN_PERSON = "unknown_person"


@dataclass(frozen=True)
class VoteDecision:
    """A decision reached by the voter: who (or nobody known), and the evidence count."""

    outcome: VoteOutcome
    person_id: str | None
    votes: int
    frames: int
    ts: float


@dataclass
class _Frame:
    """One frame's votes: identities accepted in it and whether an unmatched good face was seen."""

    ts: float
    identities: set[str]
    unknown: bool


class FaceVoter:
    """Sliding window of the last n frames of one camera; emits a decision when k frames agree."""

    def __init__(self, config: VotingConfig) -> None:
        """Start with an empty window."""
        self.config = config
        self._frames: deque[_Frame] = deque(maxlen=config.n)
        self._last_decision: dict[str | None, float] = {}

    def reset(self) -> None:
        """Forget all frames and cooldowns (e.g. after the camera reconnects)."""
        self._frames.clear()
        self._last_decision.clear()

    def observe(self, identities: Iterable[str], unknown: bool, ts: float) -> list[VoteDecision]:
        """Add one frame (accepted identities, unmatched good face seen?) and return any new decisions."""
        cfg = self.config
        frame = _Frame(ts, set(identities), unknown)
        self._frames.append(frame)
        while self._frames and self._frames[0].ts < ts - cfg.window_s:
            self._frames.popleft()
        decisions: list[VoteDecision] = []
        for person_id in sorted(frame.identities):
            votes = sum(person_id in f.identities for f in self._frames)
            if votes >= cfg.k and not self._cooling_down(person_id, ts):
                decisions.append(self._decide(VoteOutcome.RECOGNISED, person_id, votes, ts))
                for old in self._frames:
                    old.identities.discard(person_id)
        if frame.unknown and not self._recently_recognised(ts):
            votes = sum(f.unknown for f in self._frames)
            if votes >= (cfg.unknown_k or cfg.k) and not self._cooling_down(None, ts):
                decisions.append(self._decide(VoteOutcome.UNKNOWN_PERSON, None, votes, ts))
                for old in self._frames:
                    old.unknown = False
        return decisions

    def _recently_recognised(self, ts: float) -> bool:
        """True if any identity was accepted in the window or recognised within the cooldown."""
        # A known person whose distance hovers near the threshold yields a mix of accepted and unmatched
        # frames; calling that an unknown person would be a false alarm.
        if any(f.identities for f in self._frames):
            return True
        return any(p is not None and ts - t < self.config.cooldown_s for p, t in self._last_decision.items())

    def _cooling_down(self, person_id: str | None, ts: float) -> bool:
        """True if the same decision was emitted less than cooldown_s ago."""
        last = self._last_decision.get(person_id)
        return last is not None and ts - last < self.config.cooldown_s

    def _decide(self, outcome: VoteOutcome, person_id: str | None, votes: int, ts: float) -> VoteDecision:
        """Record and return a decision."""
        self._last_decision[person_id] = ts
        logger.debug("vote decision %s %s with %d/%d frames", outcome, person_id, votes, len(self._frames))
        return VoteDecision(outcome, person_id, votes, len(self._frames), ts)
