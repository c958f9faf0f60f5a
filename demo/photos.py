"""Face photos that ship inside an installed package, so the demo needs no downloaded or shared data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# The astronaut photo (Eileen Collins, public domain) is bundled in scikit-image's wheel as
# skimage/data/astronaut.png; data.astronaut() reads that file and never downloads it.
ASTRONAUT_FACE_BOX = (0, 300, 90, 370)  # rows, then columns: one face (the full photo shows a second one)


class PhotoUnavailable(RuntimeError):
    """The package holding the demo's face photo is missing."""


def resident_face() -> np.ndarray:
    """The demo resident's enrolment photo as a BGR image (one face, about 90 px between the eyes' ends)."""
    try:
        from skimage import data
    except ImportError as err:
        raise PhotoUnavailable("scikit-image is not installed (pip install scikit-image)") from err
    top, bottom, left, right = ASTRONAUT_FACE_BOX
    return cv2.cvtColor(np.ascontiguousarray(data.astronaut()[top:bottom, left:right]), cv2.COLOR_RGB2BGR)


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PhotoUnavailable("cannot encode the photo as JPEG")
    return buffer.tobytes()


def write_gate_photo(folder: Path) -> Path:
    """The resident as the gate camera sees them: mirrored and a little darker than the enrolment photo."""
    folder.mkdir(parents=True, exist_ok=True)
    seen = cv2.convertScaleAbs(cv2.flip(resident_face(), 1), alpha=0.9, beta=-8)
    path = folder / "resident-at-gate.jpg"
    path.write_bytes(jpeg(seen))
    return path
