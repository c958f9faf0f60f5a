"""Text-line candidates for plates from a PaddleOCR text detection model, run on a reduced frame."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.plate_locate import PlateCandidate, order_corners
from edge.vision.plate_models import DetectionModel, PlateOcrError, load_detector

logger = logging.getLogger(__name__)


class DetectConfig(BaseModel):
    """Settings of the text-detection fallback that proposes plate candidates the cheap localiser missed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run text detection when the cheap candidates give no confident plate")
    long_side: int = Field(
        480, ge=160, le=1280, description="Long side (px, rounded to 32) the frame is shrunk to for detection"
    )
    threshold: float = Field(0.3, gt=0, lt=1, description="Text probability above which a pixel is text")
    min_box_score: float = Field(0.5, gt=0, lt=1, description="Smallest mean text probability of a kept box")
    unclip_ratio: float = Field(1.6, gt=0, description="How far a detected text core is grown (DB unclip ratio)")
    min_aspect: float = Field(1.8, gt=0, description="Smallest width/height of a text line kept as a plate")
    max_aspect: float = Field(
        6.0,
        gt=0,
        description="Largest width/height of a text line kept as a plate (plate lines measure 1.7-3.8, 6 allows a "
        "plate seen from well above; longer lines hold more than a plate and their crops cost two plate reads)",
    )
    min_height: float = Field(6.0, gt=0, description="Smallest text-line height (px, detection scale)")
    max_candidates: int = Field(4, ge=1, le=20, description="Most detected candidates returned, best first")
    retry_long_side: int | None = Field(
        None,
        ge=160,
        le=2048,
        description="When the first detection gives no valid plate, detect again at this long side (None: off; "
        "960 finds small, blurred or badly lit plates at about four times the cost)",
    )
    model: DetectionModel = Field(DetectionModel.PP_OCRV4, description="Text-line detection model")
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads for detection")


class PlateTextDetector:
    """Finds text lines on a frame with a PaddleOCR DB text detector and returns plate-shaped ones as quads."""

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()
        self._session = load_detector(self.config.model, self.config.threads)

    def probability_map(self, frame_bgr: np.ndarray, long_side: int | None = None) -> tuple[np.ndarray, float, float]:
        """Text probability per pixel of the reduced frame and the x / y factors back to frame pixels."""
        height, width = frame_bgr.shape[:2]
        scale = min(1.0, (long_side or self.config.long_side) / max(height, width))
        new_h = max(32, int(round(height * scale / 32)) * 32)
        new_w = max(32, int(round(width * scale / 32)) * 32)
        small = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)
        batch = (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        try:
            probs = np.asarray(self._session(np.ascontiguousarray(batch)))[0, 0]
        except Exception as err:  # noqa: BLE001
            raise PlateOcrError(f"text detection failed: {err}") from err
        return probs, width / new_w, height / new_h

    def candidates(self, frame_bgr: np.ndarray, long_side: int | None = None) -> list[PlateCandidate]:
        """Plate-shaped text lines of a frame, best first, in frame pixels (detected at long_side if given)."""
        probs, fx, fy = self.probability_map(frame_bgr, long_side)
        return text_line_candidates(probs, fx, fy, self.config)


def _unclip(rect: tuple, ratio: float) -> tuple:
    """Grow a detected text core (a rotated rectangle) the way DB's unclip does: by area * ratio / perimeter."""
    (cx, cy), (w, h), angle = rect
    distance = w * h * ratio / max(2 * (w + h), 1e-6)
    return (cx, cy), (w + 2 * distance, h + 2 * distance), angle


def _long_axis_rect(rect: tuple) -> tuple:
    """The same rotated rectangle with its long side as width and the angle in (-90, 90]."""
    (cx, cy), (w, h), angle = rect
    if h > w:
        w, h, angle = h, w, angle - 90
    while angle <= -90:
        angle += 180
    while angle > 90:
        angle -= 180
    return (cx, cy), (w, h), angle


def _joinable(a: tuple, b: tuple) -> bool:
    """Whether two text cores are pieces of one line (the two halves of a plate around its dot)."""
    (ax, ay), (aw, ah), a_angle = a
    (bx, by), (bw, bh), b_angle = b
    if max(ah, bh) > 1.6 * min(ah, bh):
        return False
    turn = abs(a_angle - b_angle) % 180
    if min(turn, 180 - turn) > 12:
        return False
    theta = math.radians(a_angle)
    axis = np.array([math.cos(theta), math.sin(theta)])
    offset = np.array([bx - ax, by - ay])
    along = abs(float(offset @ axis))
    across = abs(float(offset @ np.array([-axis[1], axis[0]])))
    height = max(ah, bh)
    gap = along - (aw + bw) / 2
    return across < 0.5 * height and gap < 1.2 * height


def text_line_candidates(probs: np.ndarray, fx: float, fy: float, config: DetectConfig) -> list[PlateCandidate]:
    """Rotated text lines of a probability map (pieces of one line joined) that have a plate's shape."""
    mask = (probs > config.threshold).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pieces = []
    for contour in contours:
        if len(contour) < 3:
            continue
        rect = _long_axis_rect(cv2.minAreaRect(contour))
        if min(rect[1]) < 2:
            continue
        pieces.append((contour, rect))
    # Join pieces of one line, transitively (a plate often splits at its dot into two cores).
    groups = [[index] for index in range(len(pieces))]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                rect_i = _group_rect(pieces, groups[i])
                rect_j = _group_rect(pieces, groups[j])
                if _joinable(rect_i, rect_j) or _joinable(rect_j, rect_i):
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    found: list[PlateCandidate] = []
    for group in groups:
        core = _group_rect(pieces, group)
        rect = _unclip(core, config.unclip_ratio)
        width, height = rect[1]
        if height < config.min_height or not config.min_aspect <= width / height <= config.max_aspect:
            continue
        score = _box_score(probs, core)
        if score < config.min_box_score:
            continue
        corners = order_corners(cv2.boxPoints(rect)) * np.array([fx, fy], dtype=np.float32)
        found.append(PlateCandidate(order_corners(corners), score * min(1.0, height / 12), "text"))
    found.sort(key=lambda candidate: candidate.score, reverse=True)
    return found[: config.max_candidates]


def _group_rect(pieces: list, group: list[int]) -> tuple:
    """The rotated rectangle around a group of pieces."""
    if len(group) == 1:
        return pieces[group[0]][1]
    points = np.concatenate([pieces[index][0] for index in group])
    return _long_axis_rect(cv2.minAreaRect(points))


def _box_score(probs: np.ndarray, rect: tuple) -> float:
    """Mean text probability inside a rotated rectangle."""
    mask = np.zeros(probs.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1)
    inside = mask.astype(bool)
    return float(probs[inside].mean()) if inside.any() else 0.0
