"""Fast plate localisation on a whole frame: colour and vertical-edge candidates, text-likeness scoring."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class LocateConfig(BaseModel):
    """Settings of the whole-frame plate localiser."""

    model_config = ConfigDict(extra="forbid")

    work_size: int = Field(800, ge=240, le=2000, description="Long side (px) the frame is shrunk to for search")
    min_plate_width: int = Field(28, ge=8, description="Smallest plate width (px, work scale) considered")
    max_plate_width_share: float = Field(0.8, gt=0, le=1, description="Largest plate width as frame share")
    min_aspect: float = Field(1.4, gt=0, description="Smallest width/height of a plate (double-row ≈ 2)")
    max_aspect: float = Field(7.0, gt=0, description="Largest width/height of a plate (single-row ≈ 3.1-3.8)")
    min_fill: float = Field(0.45, ge=0, le=1, description="Smallest share of its rotated box a blob fills")
    min_transitions: int = Field(7, ge=0, description="Fewest dark/light changes across the plate (text)")
    max_candidates: int = Field(6, ge=1, description="Most candidates returned, best first")
    use_edges: bool = Field(True, description="Also propose regions of dense vertical edges (white/black)")
    daylight_mean_value: float = Field(
        100.0, gt=0, le=255, description="Mean brightness (HSV value) of a frame below which it counts as dark"
    )
    min_light_factor: float = Field(
        0.3, gt=0, le=1, description="Lowest share of their daylight value the colour masks' brightness floors fall to"
    )


@dataclass(frozen=True)
class PlateCandidate:
    """A plate-like region: its four corners in frame pixels (tl, tr, br, bl) and a score."""

    corners: np.ndarray
    score: float
    source: str

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Axis-aligned box (x0, y0, x1, y1) around the corners."""
        x0, y0 = self.corners.min(axis=0)
        x1, y1 = self.corners.max(axis=0)
        return int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))

    @property
    def aspect(self) -> float:
        """Width over height of the quadrilateral."""
        width, height = quad_size(self.corners)
        return width / max(height, 1e-6)


# (name, hue low, hue high, min saturation, min value) of the saturated plate backgrounds.
_COLOUR_MASKS = (
    ("blue", 98, 128, 90, 50),
    ("yellow", 12, 34, 90, 90),
    ("green", 35, 90, 45, 110),
)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Order the four corners of a convex quadrilateral as top-left, top-right, bottom-right, bottom-left.

    The two longer opposite edges are the plate's top and bottom (the upper one is the top), so the order
    holds for plates tilted past 45 degrees and for strong perspective, where sorting by y alone swaps corners.
    """
    points = points.reshape(4, 2).astype(np.float32)
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    cyclic = points[np.argsort(angles)]  # clockwise on screen (y grows downwards)
    lengths = [float(np.linalg.norm(cyclic[(k + 1) % 4] - cyclic[k])) for k in range(4)]
    # edges k and k+2 are opposite: pick the pair that is longer together
    first = 0 if lengths[0] + lengths[2] >= lengths[1] + lengths[3] else 1
    pairs = [(first, (first + 1) % 4), ((first + 2) % 4, (first + 3) % 4)]
    top_pair = min(pairs, key=lambda pair: float(cyclic[pair[0], 1] + cyclic[pair[1], 1]))
    start, end = top_pair
    # clockwise order runs left to right along the top edge: start is top-left, end is top-right
    tl, tr = cyclic[start], cyclic[end]
    br, bl = cyclic[(end + 1) % 4], cyclic[(end + 2) % 4]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def quad_size(corners: np.ndarray) -> tuple[float, float]:
    """Mean width and height of an ordered quadrilateral."""
    tl, tr, br, bl = corners
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return float(width), float(height)


def quad_skew(corners: np.ndarray) -> float:
    """How far an ordered quadrilateral is from a rectangle: the largest |cos| of its corner angles (0 for one)."""
    worst = 0.0
    for k in range(4):
        a = corners[(k + 1) % 4] - corners[k]
        b = corners[k - 1] - corners[k]
        cosine = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-6)
        worst = max(worst, abs(cosine))
    return worst


def _rect_corners(rect: tuple) -> np.ndarray:
    """Corners of a rotated rectangle with the long side as width."""
    (cx, cy), (w, h), angle = rect
    if h > w:
        rect = ((cx, cy), (h, w), angle - 90)
    return order_corners(cv2.boxPoints(rect))


def _quad_from_contour(contour: np.ndarray, rect: tuple) -> np.ndarray:
    """Four corners that follow a skewed plate better than its rotated box, when they can be found."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            quad = order_corners(approx)
            hull_area = cv2.contourArea(hull)
            if cv2.contourArea(quad) >= 0.85 * hull_area:
                return quad
            break
    # A plate seen at a steep angle is a parallelogram far from its rotated box: the smallest-area
    # quadrilateral around the hull follows it when it is tight (the rotated box then shears the text).
    quad = cv2.approxPolyN(hull, 4, ensure_convex=True).reshape(-1, 2).astype(np.float32)
    if len(quad) == 4:
        quad_area = cv2.contourArea(quad)
        if quad_area <= 1.15 * cv2.contourArea(hull) and quad_area < 0.9 * rect[1][0] * rect[1][1]:
            return order_corners(quad)
    return _rect_corners(rect)


def warp_plate(
    frame: np.ndarray, corners: np.ndarray, height: int = 64, pad: float = 0.03, aspect: float | None = None
) -> np.ndarray:
    """Rectified plate crop: the quadrilateral (grown by pad on each side) warped to a flat rectangle.

    The rectangle keeps the quadrilateral's width/height unless aspect is given (a plate seen from the
    side looks narrower than it is and is stretched back to a plate's shape).
    """
    if aspect is None:
        width_px, height_px = quad_size(corners)
        aspect = width_px / max(height_px, 1e-6)
    out_h = height
    out_w = max(8, int(round(height * aspect)))
    centre = corners.mean(axis=0)
    grown = centre + (corners - centre) * np.array([1 + 2 * pad, 1 + 4 * pad], dtype=np.float32)
    target = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(grown.astype(np.float32), target)
    return cv2.warpPerspective(frame, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def text_transitions(crop_bgr: np.ndarray, double_row_max_aspect: float = 2.6) -> int:
    """Median count of dark/light changes along rows in the middle band of a crop (characters make many).

    A crop as tall as a double-row plate (GA 36: 440x220 mm) is also measured across its lower half, where
    the serial stands: its middle falls between the two rows.
    """
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    grey = cv2.resize(grey, (max(16, int(round(24 * width / max(height, 1)))), 24))
    _, binary = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bands = [binary[8:17]]
    if width < double_row_max_aspect * height:
        bands.append(binary[14:22])
    return max(int(np.median(np.abs(np.diff(band.astype(np.int8), axis=1)).sum(axis=1))) for band in bands)


def _edge_mask(small: np.ndarray) -> np.ndarray:
    """Regions dense in vertical edges, closed horizontally so a plate's characters join into one blob."""
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    sobel = cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3))
    _, edges = cv2.threshold(sobel, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (max(9, small.shape[1] // 60), 3))
    mask = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, close)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 5), np.uint8))


def _colour_masks(small: np.ndarray, config: LocateConfig) -> list[tuple[str, np.ndarray]]:
    """One mask per saturated plate colour, with the characters' holes closed.

    In a dark frame (dusk, night, a car park) a plate is as dark as the rest: the brightness floors fall in
    proportion to the frame's mean brightness, down to min_light_factor of their daylight value.
    """
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    light = min(1.0, max(config.min_light_factor, float(hsv[:, :, 2].mean()) / config.daylight_mean_value))
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (max(5, small.shape[1] // 50), 3))
    masks = []
    for name, h_low, h_high, s_min, v_min in _COLOUR_MASKS:
        mask = cv2.inRange(hsv, (h_low, s_min, int(v_min * light)), (h_high, 255, 255))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        masks.append((name, mask))
    return masks


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def locate_plates(frame_bgr: np.ndarray, config: LocateConfig | None = None) -> list[PlateCandidate]:
    """Plate-like regions of a frame, best first, in the frame's own pixel coordinates."""
    config = config or LocateConfig()
    height, width = frame_bgr.shape[:2]
    scale = min(1.0, config.work_size / max(height, width))
    small = cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame_bgr
    sources = _colour_masks(small, config)
    if config.use_edges:
        sources.append(("edges", _edge_mask(small)))
    max_width = config.max_plate_width_share * small.shape[1]
    found: list[PlateCandidate] = []
    for source, mask in sources:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            area = cv2.contourArea(contour)
            if area < config.min_plate_width * 6:
                continue
            rect = cv2.minAreaRect(contour)
            long_side, short_side = max(rect[1]), min(rect[1])
            if short_side < 6 or not config.min_plate_width <= long_side <= max_width:
                continue
            aspect = long_side / short_side
            fill = area / (long_side * short_side)
            if not (config.min_aspect <= aspect <= config.max_aspect) or fill < config.min_fill:
                continue
            corners = _quad_from_contour(contour, rect) if source != "edges" else _rect_corners(rect)
            probe = warp_plate(small, corners, height=24, pad=0.0)
            transitions = text_transitions(probe)
            if transitions < config.min_transitions:
                continue
            text_score = min(1.0, transitions / 14)
            shape_score = 1.0 - min(1.0, abs(np.log(aspect / 3.2)) / 1.5)
            bonus = 1.0 if source != "edges" else 0.7
            score = float(fill * text_score * (0.5 + 0.5 * shape_score) * bonus)
            found.append(PlateCandidate(corners / scale, score, source))
    found.sort(key=lambda candidate: candidate.score, reverse=True)
    kept: list[PlateCandidate] = []
    for candidate in found:
        if all(box_iou(candidate.bbox, other.bbox) < 0.5 for other in kept):
            kept.append(candidate)
        if len(kept) >= config.max_candidates:
            break
    return kept


def turned_corners(corners: np.ndarray) -> np.ndarray:
    """The same quadrilateral read a quarter turn round: its short edges become top and bottom.

    A plate seen from the side can look taller than wide; then the long edges are its sides.
    """
    tl, tr, br, bl = corners
    if float(tr[1] + br[1]) <= float(bl[1] + tl[1]):
        return np.array([tr, br, bl, tl], dtype=np.float32)
    return np.array([bl, tl, tr, br], dtype=np.float32)


def estimate_shear(crop_bgr: np.ndarray, max_shear: float = 1.0, steps: int = 21, min_gain: float = 0.08) -> float:
    """Horizontal shear that makes a plate's characters upright (0 when none clearly helps).

    Characters stand in vertical columns separated by gaps; the shear whose column profile of the
    binarised text is the most peaked wins (x' = x + s * (y - h / 2)).
    """
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    work_h = 32
    work_w = max(16, int(round(width * work_h / max(height, 1))))
    grey = cv2.resize(grey, (work_w, work_h), interpolation=cv2.INTER_AREA)
    _, binary = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if binary.mean() > 0.5:
        binary = 1 - binary  # characters are the minority of the pixels
    band = binary[int(work_h * 0.15) : int(work_h * 0.85)].astype(np.float32)
    band_h = band.shape[0]
    margin = int(np.ceil(max_shear * band_h / 2)) + 1
    scores = []
    shears = np.linspace(-max_shear, max_shear, steps)
    for shear in shears:
        matrix = np.float32([[1, shear, margin - shear * band_h / 2], [0, 1, 0]])
        sheared = cv2.warpAffine(band, matrix, (work_w + 2 * margin, band_h), flags=cv2.INTER_LINEAR)
        scores.append(float(np.square(sheared.sum(axis=0)).sum()))
    best = int(np.argmax(scores))
    straight = scores[steps // 2]
    if scores[best] <= straight * (1 + min_gain):
        return 0.0
    return float(shears[best])


def apply_shear(crop_bgr: np.ndarray, shear: float) -> np.ndarray:
    """The crop sheared horizontally by shear (x' = x + s * (y - h / 2)), widened so nothing is cut off."""
    height, width = crop_bgr.shape[:2]
    margin = int(np.ceil(abs(shear) * height / 2))
    matrix = np.float32([[1, shear, margin - shear * height / 2], [0, 1, 0]])
    return cv2.warpAffine(
        crop_bgr, matrix, (width + 2 * margin, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
