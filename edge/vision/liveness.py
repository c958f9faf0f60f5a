"""Seam for presentation-attack (liveness) checks that run before a face is recognised at a gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from edge.vision.faces import FaceObservation


@dataclass(frozen=True)
class LivenessResult:
    """Whether the face looked live, with a reason that goes into the decision record."""

    passed: bool
    reason: str
    checked: bool = True


@runtime_checkable
class LivenessCheck(Protocol):
    """Decides whether a face about to be recognised is a live person (not a photo, screen or mask)."""

    def __call__(self, frame_bgr: np.ndarray, face: FaceObservation) -> LivenessResult:
        """Check `face` in the frame it was seen in; stateful checks may keep their own history."""
        ...


class NoLivenessCheck:
    """The default: no presentation-attack detection is done; it passes and says so in the reason."""

    def __call__(self, frame_bgr: np.ndarray, face: FaceObservation) -> LivenessResult:
        """Pass without checking."""
        return LivenessResult(passed=True, reason="liveness not checked (no check configured)", checked=False)
