"""Face pipeline of a gate camera: detect, check quality, encode, match 1:N, decide over several frames."""

from __future__ import annotations

import enum
import functools
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.vision.face_config import DetectorConfig, FacePipelineConfig, QualityConfig
from edge.vision.face_errors import FaceError, ImageError
from edge.vision.face_voting import FaceVoter, VoteOutcome
from edge.vision.gallery import Gallery, MatchReason, MatchResult
from edge.vision.liveness import LivenessCheck, LivenessResult, NoLivenessCheck

logger = logging.getLogger(__name__)

_DLIB_LOCK = threading.Lock()  # dlib's models keep scratch buffers: one call at a time per process
_CROP_PAD = 0.6  # the 150 px chip dlib aligns reaches about 25 % past the landmarks; keep a wide margin
_SHARPNESS_SIDE = 96


@functools.cache
def _models() -> tuple[Any, Any, Any, Any]:
    """Load dlib's HOG detector, 5-point landmark model and ResNet encoder (once, via face_recognition)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import dlib
        from face_recognition import api
    return dlib, api.face_detector, api.pose_predictor_5_point, api.face_encoder


class QualityIssue(enum.StrEnum):
    """Why a detected face was not used for a decision."""

    TOO_SMALL = "too_small"
    OFF_FRONTAL = "off_frontal"
    TOO_BLURRED = "too_blurred"


class FaceOutcome(enum.StrEnum):
    """What the recogniser concluded for a person at the camera."""

    RECOGNISED = "recognised"
    UNKNOWN_PERSON = "unknown_person"
    LIVENESS_FAILED = "liveness_failed"


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in full-resolution frame pixels (may reach past the frame edge)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        """Box width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Box height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> int:
        """Box area in pixels."""
        return self.width * self.height


@dataclass(frozen=True)
class FaceQuality:
    """Measurements of one face and the first quality issue found (None: usable)."""

    size_px: int
    yaw_ratio: float
    roll_deg: float
    sharpness: float
    issue: QualityIssue | None
    detail: str = ""


@dataclass(frozen=True, eq=False)
class FaceObservation:
    """One detected face: where, how good, and its 128-d encoding when it passed the quality gate."""

    box: FaceBox
    quality: FaceQuality
    landmarks: np.ndarray | None = None
    encoding: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        """True when the face passed the quality gate and was encoded."""
        return self.encoding is not None


@dataclass(frozen=True)
class FaceResult:
    """One face of a frame with its 1:N match (None when it failed the quality gate)."""

    face: FaceObservation
    match: MatchResult | None


@dataclass(frozen=True)
class FaceDecision:
    """A multi-frame decision about a person at the camera; events carry this, never images or templates."""

    outcome: FaceOutcome
    person_id: str | None
    votes: int
    frames: int
    distance: float | None
    liveness: LivenessResult
    gallery_version: int
    box: FaceBox | None
    ts: float


@dataclass(frozen=True)
class FrameResult:
    """Everything found in one frame, the decisions it completed, and stage timings in milliseconds."""

    faces: list[FaceResult]
    decisions: list[FaceDecision]
    timings_ms: dict[str, float] = field(default_factory=dict)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Return a uint8 3-channel BGR view of a grey, BGR or BGRA image; raise ImageError otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageError("expected a uint8 numpy image")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) > 0:
        return image
    raise ImageError(f"unsupported image shape {image.shape}")


def load_image(path: str) -> np.ndarray:
    """Read an image file as BGR; raise ImageError when it is missing or not an image."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"cannot read image {path}")
    return image


class FaceAnalyser:
    """Detects faces, measures their quality and encodes the good ones; no state, no side effects."""

    def __init__(self, detector: DetectorConfig, quality: QualityConfig, num_jitters: int = 1) -> None:
        """Keep the settings; models load on first use."""
        self.detector = detector
        self.quality = quality
        self.num_jitters = num_jitters

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        """Find faces (HOG on the downscaled region of interest), largest first, in full-res coordinates."""
        frame = as_bgr(frame_bgr)
        cfg = self.detector
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = 0, 0, width, height
        if cfg.roi is not None:
            x0, y0 = int(cfg.roi.x * width), int(cfg.roi.y * height)
            x1 = min(width, x0 + max(1, round(cfg.roi.width * width)))
            y1 = min(height, y0 + max(1, round(cfg.roi.height * height)))
        region = frame[y0:y1, x0:x1]
        scale = self._detection_scale(region.shape[1], region.shape[0])
        if scale != 1.0:
            size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        small_rgb = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)
        _, detector, _, _ = _models()
        try:
            with _DLIB_LOCK:
                rects = list(detector(small_rgb, cfg.upsample))
                if not rects and cfg.retry_upsample is not None and cfg.retry_upsample > cfg.upsample:
                    rects = list(detector(small_rgb, cfg.retry_upsample))
        except RuntimeError as err:
            raise FaceError(f"face detection failed: {err}") from err
        boxes = [
            FaceBox(
                round(r.left() / scale) + x0,
                round(r.top() / scale) + y0,
                round((r.right() + 1) / scale) + x0,
                round((r.bottom() + 1) / scale) + y0,
            )
            for r in rects
        ]
        boxes.sort(key=lambda b: b.area, reverse=True)
        return boxes

    def analyse(self, frame_bgr: np.ndarray, encode: bool = True) -> list[FaceObservation]:
        """Detect, then measure and (if good enough and asked to) encode the largest max_faces faces."""
        frame = as_bgr(frame_bgr)
        boxes = self.detect(frame)[: self.detector.max_faces]
        return [self.describe(frame, box, encode=encode) for box in boxes]

    def describe(self, frame_bgr: np.ndarray, box: FaceBox, encode: bool = True) -> FaceObservation:
        """Landmarks, quality and (when usable) the encoding of one face box of a full-resolution frame."""
        dlib, _, predictor, encoder = _models()
        height, width = frame_bgr.shape[:2]
        pad_x, pad_y = int(box.width * _CROP_PAD), int(box.height * _CROP_PAD)
        cx0, cy0 = max(0, box.left - pad_x), max(0, box.top - pad_y)
        cx1, cy1 = min(width, box.right + pad_x), min(height, box.bottom + pad_y)
        crop_rgb = cv2.cvtColor(frame_bgr[cy0:cy1, cx0:cx1], cv2.COLOR_BGR2RGB)
        rect = dlib.rectangle(box.left - cx0, box.top - cy0, box.right - cx0 - 1, box.bottom - cy0 - 1)
        try:
            with _DLIB_LOCK:
                shape = predictor(crop_rgb, rect)
        except RuntimeError as err:
            raise FaceError(f"face landmarks failed: {err}") from err
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        quality = self._assess(frame_bgr, box, points)
        landmarks = points + np.array([cx0, cy0], dtype=np.float32)
        if quality.issue is not None or not encode:
            return FaceObservation(box, quality, landmarks)
        try:
            with _DLIB_LOCK:
                descriptor = encoder.compute_face_descriptor(crop_rgb, shape, self.num_jitters)
        except RuntimeError as err:
            raise FaceError(f"face encoding failed: {err}") from err
        return FaceObservation(box, quality, landmarks, np.asarray(descriptor, dtype=np.float32))

    def _detection_scale(self, width: int, height: int) -> float:
        """Scale factor from the region to the image HOG runs on."""
        if self.detector.detect_scale is not None:
            return self.detector.detect_scale
        limit = self.detector.detect_max_side
        longest = max(width, height)
        return limit / longest if limit is not None and longest > limit else 1.0

    def _assess(self, frame_bgr: np.ndarray, box: FaceBox, points: np.ndarray) -> FaceQuality:
        """Measure size, pose (from the 5 landmarks) and sharpness; name the first issue found."""
        cfg = self.quality
        size = min(box.width, box.height)
        eye_image_right = points[0:2].mean(axis=0)  # dlib 5-point: 0-1 one eye, 2-3 the other, 4 nose
        eye_image_left = points[2:4].mean(axis=0)
        eye_line = eye_image_right - eye_image_left
        inter_eye = float(np.linalg.norm(eye_line)) or 1e-6
        yaw = float(np.dot(points[4] - (eye_image_right + eye_image_left) / 2, eye_line / inter_eye) / inter_eye)
        roll = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
        sharpness = _sharpness(frame_bgr, box)
        issue, detail = None, ""
        if size < cfg.min_face_px:
            issue, detail = QualityIssue.TOO_SMALL, f"face {size} px < {cfg.min_face_px} px"
        elif abs(yaw) > cfg.max_yaw_ratio or abs(roll) > cfg.max_roll_deg:
            issue, detail = QualityIssue.OFF_FRONTAL, f"yaw ratio {yaw:+.2f}, roll {roll:+.0f} deg"
        elif sharpness < cfg.min_sharpness:
            issue, detail = QualityIssue.TOO_BLURRED, f"sharpness {sharpness:.1f} < {cfg.min_sharpness}"
        return FaceQuality(size, yaw, roll, sharpness, issue, detail)


def _sharpness(frame_bgr: np.ndarray, box: FaceBox) -> float:
    """Variance of the Laplacian of the face, resized to a fixed size so faces of any size compare."""
    height, width = frame_bgr.shape[:2]
    x0, y0 = max(0, box.left), max(0, box.top)
    x1, y1 = min(width, box.right), min(height, box.bottom)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    grey = cv2.cvtColor(frame_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


class FaceRecogniser:
    """One camera's face recogniser: analyse each frame, match against the gallery, vote over frames."""

    def __init__(
        self,
        config: FacePipelineConfig,
        gallery: Gallery,
        liveness: LivenessCheck | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Bind the config, the (shared, live-updated) gallery and the liveness check run before recognising."""
        self.config = config
        self.gallery = gallery
        self.liveness: LivenessCheck = liveness or NoLivenessCheck()
        self.analyser = FaceAnalyser(config.detector, config.quality, config.num_jitters)
        self.voter = FaceVoter(config.voting)
        self._clock = clock

    def reset(self) -> None:
        """Forget the vote window (after a camera reconnect or a long gap)."""
        self.voter.reset()

    def process(self, frame_bgr: np.ndarray, ts: float | None = None) -> FrameResult:
        """Run the full pipeline on one frame; `ts` is a monotonic time in seconds (default: now)."""
        ts = self._clock() if ts is None else ts
        start = time.perf_counter()
        frame = as_bgr(frame_bgr)
        faces = self.analyser.analyse(frame)
        analysed = time.perf_counter()
        results: list[FaceResult] = []
        accepted: dict[str, FaceResult] = {}
        unknown: FaceResult | None = None
        for face in faces:
            match = self.gallery.match(face.encoding, self.config.matcher) if face.usable else None
            result = FaceResult(face, match)
            results.append(result)
            if match is None:
                continue
            if match.accepted and match.person_id not in accepted:
                accepted[match.person_id] = result
            elif match.reason in (MatchReason.NO_MATCH, MatchReason.EMPTY_GALLERY) and unknown is None:
                unknown = result
        matched = time.perf_counter()
        decisions = []
        for vote in self.voter.observe(accepted, unknown is not None, ts):
            if vote.outcome is VoteOutcome.RECOGNISED:
                decisions.append(self._recognised(frame, accepted[vote.person_id], vote.votes, vote.frames, ts))
            elif unknown is not None:
                decisions.append(
                    FaceDecision(
                        FaceOutcome.UNKNOWN_PERSON,
                        None,
                        vote.votes,
                        vote.frames,
                        None,
                        LivenessResult(passed=False, reason="not run for an unknown person", checked=False),
                        self.gallery.version,
                        unknown.face.box,
                        ts,
                    )
                )
        end = time.perf_counter()
        timings = {
            "analyse": (analysed - start) * 1e3,
            "match": (matched - analysed) * 1e3,
            "decide": (end - matched) * 1e3,
            "total": (end - start) * 1e3,
        }
        return FrameResult(results, decisions, timings)

    def _recognised(self, frame: np.ndarray, result: FaceResult, votes: int, frames: int, ts: float) -> FaceDecision:
        """Run the liveness check on the face that completed the vote, then decide."""
        try:
            liveness = self.liveness(frame, result.face)
        except Exception as err:  # a failing check must never open the door
            logger.exception("liveness check raised")
            liveness = LivenessResult(passed=False, reason=f"liveness check error: {type(err).__name__}")
        outcome = FaceOutcome.RECOGNISED if liveness.passed else FaceOutcome.LIVENESS_FAILED
        match = result.match
        if match is None:
            raise FaceError("internal: a recognised face has no match")
        return FaceDecision(
            outcome,
            match.person_id,
            votes,
            frames,
            match.distance,
            liveness,
            match.gallery_version,
            result.face.box,
            ts,
        )
