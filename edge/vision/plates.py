"""Chinese licence-plate recogniser for the gate: localise on the frame, read the crop, validate, classify."""

from __future__ import annotations

import logging
import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.plate_colour import PlateColour, classify_plate_colour, reconcile_colour, types_unlike_colour
from edge.vision.plate_detect import DetectConfig, PlateTextDetector
from edge.vision.plate_locate import (
    LocateConfig,
    PlateCandidate,
    apply_shear,
    box_iou,
    estimate_shear,
    locate_plates,
    quad_size,
    quad_skew,
    turned_corners,
    warp_plate,
)
from edge.vision.plate_models import RecognitionModel
from edge.vision.plate_ocr import REC_HEIGHT, DecodedText, PlateOcrError, PlateTextReader, geometric_mean
from edge.vision.plate_rules import (
    PROVINCES,
    PlateType,
    classify_plate_text,
    looks_like_plate_text,
    normalise_plate_text,
)

logger = logging.getLogger(__name__)

__all__ = ["PlateColour", "PlateOcrError", "PlateRead", "PlateRecogniser", "PlateRecogniserConfig", "PlateType"]


class PlateRecogniserConfig(BaseModel):
    """Settings of the plate recogniser (one per gate camera)."""

    model_config = ConfigDict(extra="forbid")

    locate: LocateConfig = Field(default_factory=LocateConfig, description="Whole-frame localiser settings")
    detect: DetectConfig = Field(
        default_factory=DetectConfig, description="Text-detection fallback when the cheap localiser finds no plate"
    )
    max_recognitions: int = Field(3, ge=1, le=20, description="Most candidate crops read per frame")
    max_grammar_gap: float = Field(
        8.0, gt=0, description="Largest log-probability the plate grammar may cost against the free read"
    )
    max_gap_without_chinese: float = Field(
        3.0, gt=0, description="Grammar gap allowed with neither a Chinese character nor a blue/green plate"
    )
    stop_confidence: float = Field(
        0.9, ge=0, le=1, description="A validated read this confident ends the search of a frame early"
    )
    stop_after_reads: int = Field(
        3,
        ge=1,
        description="Confident validated reads after which the remaining candidates are skipped (a frame may show "
        "a queue of vehicles)",
    )
    min_score_after_plate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Once a frame has a confident plate, other candidates are read only from this localiser score",
    )
    time_budget_ms: float | None = Field(
        None, gt=0, description="No new candidate is read once a frame has used this long (None: no limit)"
    )
    report_unvalidated: bool = Field(True, description="Also return plate-like reads that fail validation")
    min_unvalidated_confidence: float = Field(
        0.85, ge=0, le=1, description="Smallest confidence of a read that fails validation to be reported"
    )
    double_row_max_aspect: float = Field(
        2.6, gt=0, description="Crops narrower than this width/height are also read as two rows"
    )
    single_row_aspect: float | None = Field(
        3.14, gt=0, description="Width/height a narrow crop is also stretched to (GA 36 single row: 440/140 mm)"
    )
    min_skew: float = Field(
        0.2, ge=0, le=1, description="Smallest corner |cos| of a narrow quadrilateral that is read stretched"
    )
    deshear: bool = Field(True, description="Also read crops whose characters lean with the lean corrected")
    min_shear: float = Field(0.12, ge=0, description="Smallest estimated lean (dx/dy) that is corrected")
    straight_margin: float = Field(
        0.1, ge=0, le=1, description="Confidence a sheared or turned variant must add to win over the straight read"
    )
    turn_max_aspect: float = Field(
        1.9, gt=0, description="Quadrilaterals narrower than this width/height are also read a quarter turned"
    )
    preferred_provinces: str = Field(
        "",
        pattern=r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]*$",
        description="Site prior, off when empty: province characters of the plates usual at this site (e.g. 皖)",
    )
    preferred_province_bonus: float = Field(
        1.5, ge=0, le=10, description="Log-probability a preferred province gains in the plate grammar"
    )
    colour_type_penalty: float = Field(
        4.0, ge=0, le=50, description="Log-probability a read loses when its plate type never has the plate's colour"
    )
    recognition_model: RecognitionModel = Field(RecognitionModel.PP_OCRV4, description="Text recognition model")
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads for recognition")


class PlateRead(BaseModel):
    """One plate read on a frame."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="Normalised plate text, e.g. 皖AD12345")
    colour: PlateColour = Field(description="Background colour classified from the plate pixels")
    plate_type: PlateType = Field(description="GA 36 plate type, UNKNOWN when the text fits none")
    confidence: float = Field(description="Geometric mean of the character probabilities, 0..1")
    char_confidences: tuple[float, ...] = Field(description="Probability of each character of text")
    bbox: tuple[int, int, int, int] = Field(description="Plate box (x0, y0, x1, y1) in frame pixels")
    validated: bool = Field(description="True when the text matches the pattern of its plate type")

    @property
    def province_confidence(self) -> float | None:
        """Probability of the opening province character (None when the plate opens with none, e.g. 使)."""
        if not self.text or self.text[0] not in PROVINCES or not self.char_confidences:
            return None
        return self.char_confidences[0]

    @property
    def serial_confidence(self) -> float:
        """Geometric mean of the probabilities of the characters after the province (all of them if none)."""
        return geometric_mean(
            self.char_confidences[1:] if self.province_confidence is not None else self.char_confidences
        )


class PlateRecogniser:
    """Reads Chinese plates on whole frames or tight crops, offline, on the CPU."""

    def __init__(self, config: PlateRecogniserConfig | None = None) -> None:
        self.config = config or PlateRecogniserConfig()
        prior = {char: self.config.preferred_province_bonus for char in self.config.preferred_provinces}
        self._reader = PlateTextReader(
            threads=self.config.threads, province_prior=prior, model=self.config.recognition_model
        )
        self._candidate_ms = 20.0  # running mean of the time one candidate takes, for the frame budget
        self._detect_ms = 60.0  # running mean of the text detection's time, for the frame budget
        self._detector = PlateTextDetector(self.config.detect) if self.config.detect.enabled else None

    @property
    def plate_characters(self) -> str:
        """The characters of the plate columns of the recogniser's frames (column 2 + index)."""
        return self._reader.plate_characters

    def read(self, frame_bgr: np.ndarray) -> list[PlateRead]:
        """All plates read on a BGR frame, best first."""
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.size == 0:
            raise ValueError("read() needs a non-empty BGR image")
        started = time.perf_counter()
        reads: list[PlateRead] = []
        candidates = locate_plates(frame_bgr, self.config.locate)[: self.config.max_recognitions]
        done = self._read_candidates(frame_bgr, candidates, reads, started)
        # The text detector costs several recognitions: it runs only when the cheap candidates validated nothing.
        wanted = not done and not any(r.validated for r in reads)
        if wanted and self._detector is not None and self._within_budget(started, self._detect_ms):
            detect_started = time.perf_counter()
            detected = self._detector.candidates(frame_bgr)
            self._detect_ms = 0.8 * self._detect_ms + 0.2 * (time.perf_counter() - detect_started) * 1000
            self._read_candidates(frame_bgr, detected, reads, started)
            retry = self.config.detect.retry_long_side
            if retry and not any(r.validated for r in reads) and self._within_budget(started, 4 * self._detect_ms):
                self._read_candidates(frame_bgr, self._detector.candidates(frame_bgr, retry), reads, started)
        reads.sort(key=lambda r: (r.validated, r.confidence), reverse=True)
        return reads

    def _within_budget(self, started: float, next_cost_ms: float) -> bool:
        """Whether the frame's time budget leaves room for a step of this expected cost."""
        budget = self.config.time_budget_ms
        return budget is None or (time.perf_counter() - started) * 1000 + next_cost_ms <= budget

    def _read_candidates(
        self, frame: np.ndarray, candidates: list[PlateCandidate], reads: list[PlateRead], started: float
    ) -> bool:
        """Read candidates into reads (in place); True once enough confident validated reads were made."""
        for index, candidate in enumerate(candidates):
            if (reads or index > 0) and not self._within_budget(started, self._candidate_ms):
                logger.debug("frame budget reached after %d candidates", index)
                return True
            if any(box_iou(candidate.bbox, r.bbox) > 0.3 and r.validated for r in reads):
                continue
            confident_read = any(r.validated and r.confidence >= self.config.stop_confidence for r in reads)
            if confident_read and candidate.score < self.config.min_score_after_plate:
                continue
            candidate_started = time.perf_counter()
            plate = self._read_candidate(frame, candidate)
            spent_ms = (time.perf_counter() - candidate_started) * 1000
            self._candidate_ms = 0.8 * self._candidate_ms + 0.2 * spent_ms
            if plate is None:
                continue
            reads[:] = _merge(reads, plate)
            confident = sum(r.validated and r.confidence >= self.config.stop_confidence for r in reads)
            if confident >= self.config.stop_after_reads:
                return True
        return False

    def read_crop(self, crop_bgr: np.ndarray) -> PlateRead | None:
        """The plate on a tight crop of one plate, or None when nothing plate-like is read."""
        height, width = crop_bgr.shape[:2]
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        return self._read_quad(crop_bgr, corners, pad=0.0)

    def _read_candidate(self, frame: np.ndarray, candidate: PlateCandidate) -> PlateRead | None:
        """Read one localised candidate; text-detector lines count only when they validate (shop signs, banners)."""
        return self._read_quad(frame, candidate.corners, pad=0.03, report_unvalidated=candidate.source != "text")

    def _read_quad(
        self, frame: np.ndarray, corners: np.ndarray, pad: float, report_unvalidated: bool = True
    ) -> PlateRead | None:
        """Read a quadrilateral; a nearly square one (a plate seen from the side) is also read a quarter turned."""
        width_px, height_px = quad_size(corners)
        orientations = [corners]
        if width_px < self.config.turn_max_aspect * height_px:
            orientations.append(turned_corners(corners))
        best: PlateRead | None = None
        for quad in orientations:
            plate = self._read_oriented(frame, quad, pad, report_unvalidated)
            if plate is not None and (best is None or (plate.validated, plate.confidence) > _rank(best)):
                best = plate
            if best is not None and best.validated:
                break
        return best

    def _read_oriented(
        self, frame: np.ndarray, corners: np.ndarray, pad: float, report_unvalidated: bool
    ) -> PlateRead | None:
        """Rectify a quadrilateral, read it as one row (and as two rows when it is tall) and keep the best.

        A crop whose characters lean (perspective the quadrilateral did not catch) is also read with the
        shear that stands them upright, unless the straight read already validated with confidence.
        """
        width_px, height_px = quad_size(corners)
        tall = width_px < self.config.double_row_max_aspect * height_px
        crop = warp_plate(frame, corners, height=REC_HEIGHT * (2 if tall else 1), pad=pad)
        colour = classify_plate_colour(crop)
        # Double-row plates (GA 36) are yellow: large vehicles, trailers, coaches, motorcycles.
        double = tall and colour in (PlateColour.YELLOW, PlateColour.UNKNOWN)
        variants = [(crop, double)]  # (image, also read as two rows)
        if self.config.deshear and not tall:
            shear = estimate_shear(crop)
            if abs(shear) >= self.config.min_shear:
                variants.append((apply_shear(crop, shear), False))
        if tall and self.config.single_row_aspect is not None and quad_skew(corners) >= self.config.min_skew:
            # A single-row plate seen from the side is foreshortened into a narrow, skewed quadrilateral whose
            # squeezed characters the recogniser misreads: read it also stretched back to a plate's shape.
            stretched = warp_plate(frame, corners, height=REC_HEIGHT, pad=pad, aspect=self.config.single_row_aspect)
            variants.append((stretched, False))
        options: list[tuple[DecodedText, bool]] = []
        try:
            for variant, two_rows in variants:
                options.append(self.decode_frames(self._reader.frame_probabilities(variant), colour))
                if two_rows:
                    options.append(self.decode_frames(self._double_row_frames(variant), colour, double_row=True))
                best_option = max(options, key=lambda option: (option[1], option[0].confidence))
                if best_option[1] and best_option[0].confidence >= self.config.stop_confidence:
                    break
        except PlateOcrError as err:
            logger.debug("plate crop not readable: %s", err)
            if not options:
                return None
        # the straight read keeps its place unless a later variant validates where it did not, or is clearly surer
        straight = options[0]
        decoded, validated = max(
            options,
            key=lambda option: (
                option[1],
                option[0].confidence + (self.config.straight_margin if option is straight else 0),
            ),
        )
        text = decoded.text if validated else normalise_plate_text(decoded.text.replace("?", ""))
        if not validated:
            plausible = looks_like_plate_text(text) and decoded.confidence >= self.config.min_unvalidated_confidence
            if not (self.config.report_unvalidated and report_unvalidated and plausible):
                return None
        plate_type = decoded.plate_type if validated and decoded.plate_type else PlateType.UNKNOWN
        colour = reconcile_colour(colour, plate_type, crop)
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        return PlateRead(
            text=text,
            colour=colour,
            plate_type=plate_type,
            confidence=round(decoded.confidence, 4),
            char_confidences=tuple(round(p, 4) for p in decoded.char_probs),
            bbox=(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))),
            validated=validated,
        )

    def _double_row_frames(self, crop: np.ndarray) -> np.ndarray:
        """Frames of a double-row plate: the upper row (province, letter) then the lower row (serial)."""
        height, width = crop.shape[:2]
        upper = crop[: int(height * 0.4), int(width * 0.12) : int(width * 0.88)]
        lower = crop[int(height * 0.32) :, :]
        upper_frames = self._reader.frame_probabilities(upper)
        lower_frames = self._reader.frame_probabilities(lower)
        separator = np.zeros((1, upper_frames.shape[1]), dtype=upper_frames.dtype)
        separator[0, 0] = 1.0
        return np.concatenate([upper_frames, separator, lower_frames])

    def decode_frames(
        self, frames: np.ndarray, colour: PlateColour, double_row: bool = False
    ) -> tuple[DecodedText, bool]:
        """Best grammar-constrained reading when it costs little against the free reading, else the free one."""
        # Blue and green backgrounds are Chinese evidence of their own: there the grammar may restore a
        # province character the model dropped. Elsewhere (white, yellow: most foreign plates) it may not.
        chinese_colour = colour in (PlateColour.BLUE, PlateColour.GREEN)
        penalties = {kind: self.config.colour_type_penalty for kind in types_unlike_colour(colour)}
        free = self._reader.decode_free(frames)
        free_text = normalise_plate_text(free.text)
        free_type = classify_plate_text(free_text)
        free_penalty = penalties.get(free_type, 0.0)
        if free_type is not PlateType.UNKNOWN and not self.config.preferred_provinces and not free_penalty:
            # The unconstrained best path already is a valid plate of the plate's colour: the grammar cannot
            # do better.
            return DecodedText(free_text, free.char_probs, free.log_prob, _row_kind(free_type, double_row)), True
        free_has_chinese = any(char == "?" or "\u4e00" <= char <= "\u9fff" for char in free.text)
        if free_type is PlateType.UNKNOWN:
            # The grammar's read is accepted only within a log-probability gap of the free one: when even an
            # upper bound of its score is further away, the Viterbi decoding cannot change the outcome.
            lenient = free_has_chinese or chinese_colour
            max_gap = self.config.max_grammar_gap if lenient else self.config.max_gap_without_chinese
            if free.log_prob - self._reader.template_score_bound(frames) > max_gap + 1e-6:
                return free, False
        templates = self._reader.decode_templates(frames, penalties)
        if free_type is not PlateType.UNKNOWN:
            # A valid read of a type the colour speaks against (an 8-character new-energy read on a yellow
            # plate, a 7-character read on a green one) yields to a read of the colour's types that the
            # model finds almost as likely (within the penalty).
            best = templates[0] if templates else None
            if (
                free_penalty
                and best
                and best.plate_type not in penalties
                and best.log_prob > free.log_prob - free_penalty
            ):
                return DecodedText(
                    best.text, best.char_probs, best.log_prob, _row_kind(best.plate_type, double_row)
                ), True
            # A site prior may only swap the province of a read that is already valid.
            best = templates[0] if templates and templates[0].text[1:] == free_text[1:] else None
            if best is None or (double_row and best.plate_type is not PlateType.ORDINARY):
                return DecodedText(free_text, free.char_probs, free.log_prob, _row_kind(free_type, double_row)), True
            return DecodedText(best.text, best.char_probs, best.log_prob, _row_kind(best.plate_type, double_row)), True
        if templates and free_has_chinese:
            accept = free.log_prob - templates[0].log_prob <= self.config.max_grammar_gap
        elif templates:
            # No Chinese character was seen: the grammar may only add the opening province character the
            # model dropped, never change the rest (a foreign plate must not be forced into a pattern).
            max_gap = self.config.max_grammar_gap if chinese_colour else self.config.max_gap_without_chinese
            free_rest = normalise_plate_text(free.text)
            rest = templates[0].text[1:]
            # on a blue or green plate the first character may also be a misread province character
            same_rest = rest == free_rest or (chinese_colour and rest == free_rest[1:])
            accept = same_rest and free.log_prob - templates[0].log_prob <= max_gap
        else:
            accept = False
        if accept:
            best = templates[0]
            return DecodedText(best.text, best.char_probs, best.log_prob, _row_kind(best.plate_type, double_row)), True
        return free, False


def _row_kind(kind: PlateType, double_row: bool) -> PlateType:
    """The type of a read: an ordinary text read as two rows is a double-row plate (GA 36)."""
    return PlateType.DOUBLE_ROW if double_row and kind is PlateType.ORDINARY else kind


def _rank(read: PlateRead) -> tuple[bool, float]:
    """Sort key of reads: validated first, then by confidence."""
    return read.validated, read.confidence


def _merge(reads: list[PlateRead], plate: PlateRead) -> list[PlateRead]:
    """Add a read, keeping only the better of two reads of the same plate (same text or same place)."""
    for index, other in enumerate(reads):
        if other.text == plate.text or box_iou(other.bbox, plate.bbox) > 0.3:
            if (plate.validated, plate.confidence) > (other.validated, other.confidence):
                reads[index] = plate
            return reads
    reads.append(plate)
    return reads
