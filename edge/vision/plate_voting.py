"""Multi-frame voting: the reads of one vehicle over several frames give one plate, the best supported."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from edge.vision.plate_rules import PlateType, classify_plate_text
from edge.vision.plates import PlateRead

logger = logging.getLogger(__name__)


class PlateVoteConfig(BaseModel):
    """Settings of the per-vehicle vote."""

    model_config = ConfigDict(extra="forbid")

    min_reads: int = Field(1, ge=1, description="Fewest reads of a vehicle before a result is given")
    unvalidated_weight: float = Field(0.3, ge=0, le=1, description="Weight of a read that failed validation")
    max_text_distance: int = Field(2, ge=0, description="Most differing characters for two reads to match")


@dataclass
class _Track:
    """Reads gathered for one vehicle."""

    reads: list[PlateRead] = field(default_factory=list)


def text_distance(a: str, b: str) -> int:
    """Levenshtein distance between two plate texts."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


class PlateVoter:
    """Collects reads per vehicle and returns one plate per vehicle by confidence-weighted voting."""

    def __init__(self, config: PlateVoteConfig | None = None) -> None:
        self.config = config or PlateVoteConfig()
        self._tracks: dict[str, _Track] = defaultdict(_Track)

    def add(self, vehicle_id: str, reads: list[PlateRead]) -> None:
        """Add the reads of one frame for a vehicle (a tracker's id, or the gate's current passage id)."""
        self._tracks[vehicle_id].reads.extend(reads)

    def result(self, vehicle_id: str) -> PlateRead | None:
        """The voted plate of a vehicle, or None when it has too few reads."""
        reads = self._tracks.get(vehicle_id, _Track()).reads
        if len(reads) < self.config.min_reads or not reads:
            return None
        return vote(reads, self.config)

    def finish(self, vehicle_id: str) -> PlateRead | None:
        """The voted plate of a vehicle that has left; its reads are forgotten."""
        result = self.result(vehicle_id)
        self._tracks.pop(vehicle_id, None)
        return result

    def vehicles(self) -> list[str]:
        """Ids of the vehicles with reads."""
        return list(self._tracks)


def vote(reads: list[PlateRead], config: PlateVoteConfig | None = None) -> PlateRead:
    """One plate from several reads of the same vehicle.

    Whole texts are scored by summed confidence (validated reads weigh more); when no text wins outright,
    with three or more similar reads a per-position character vote may compose a text no single frame
    read; it replaces the winner only when it validates.
    """
    if not reads:
        raise ValueError("vote() needs at least one read")
    config = config or PlateVoteConfig()

    def weight(read: PlateRead) -> float:
        return read.confidence * (1.0 if read.validated else config.unvalidated_weight)

    totals: dict[str, float] = defaultdict(float)
    for read in reads:
        totals[read.text] += weight(read)
    best_text = max(totals, key=lambda text: totals[text])
    best_read = max((r for r in reads if r.text == best_text), key=lambda r: r.confidence)
    same_length = [
        r
        for r in reads
        if len(r.text) == len(best_text) and text_distance(r.text, best_text) <= config.max_text_distance
    ]
    if len(same_length) < 3:
        return best_read
    chars = []
    probs = []
    for position in range(len(best_text)):
        scores: dict[str, float] = defaultdict(float)
        for read in same_length:
            p = read.char_confidences[position] if position < len(read.char_confidences) else read.confidence
            scores[read.text[position]] += p * (1.0 if read.validated else config.unvalidated_weight)
        char = max(scores, key=lambda c: scores[c])
        chars.append(char)
        probs.append(scores[char] / max(1e-9, sum(scores.values())))
    composed = "".join(chars)
    composed_type = classify_plate_text(composed)
    if composed == best_text or composed_type is PlateType.UNKNOWN:
        return best_read
    support = [r for r in same_length if r.text == composed] or same_length
    template = max(support, key=lambda r: r.confidence)
    return template.model_copy(
        update={
            "text": composed,
            "plate_type": composed_type,
            "validated": True,
            "char_confidences": tuple(round(p, 4) for p in probs),
            "confidence": round(sum(probs) / len(probs), 4),
        }
    )
