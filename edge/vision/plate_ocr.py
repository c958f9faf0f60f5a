"""Plate text recognition on tight crops: a PaddleOCR recogniser with plate-grammar CTC decoding."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.plate_models import PlateOcrError, RecognitionModel, load_recogniser
from edge.vision.plate_rules import PLATE_CHARSET, PLATE_TEMPLATES, PlateType

logger = logging.getLogger(__name__)

REC_HEIGHT = 48
_NEG = -1e9
# Characters the model may print between plate characters; they count as "no character here".
_SEPARATOR_CHARS = "·•・.-－_ ー一'\"`,:;："
_READ_CHARS = PLATE_CHARSET + "IO"


def geometric_mean(probs: tuple[float, ...]) -> float:
    """Geometric mean of character probabilities, the confidence of a read (0 for no characters)."""
    if not probs:
        return 0.0
    return float(math.exp(sum(math.log(max(p, 1e-9)) for p in probs) / len(probs)))


@dataclass(frozen=True)
class DecodedText:
    """One decoding of a crop: text, per-character probabilities and the path log-probability."""

    text: str
    char_probs: tuple[float, ...]
    log_prob: float
    plate_type: PlateType | None = None

    @property
    def confidence(self) -> float:
        """Geometric mean of the character probabilities (0 for no characters)."""
        return geometric_mean(self.char_probs)


class PlateTextReader:
    """Runs a PaddleOCR recognition model on plate crops and decodes its output with the plate grammar."""

    def __init__(
        self,
        threads: int = 1,
        province_prior: dict[str, float] | None = None,
        model: RecognitionModel = RecognitionModel.PP_OCRV4,
    ) -> None:
        recogniser = load_recogniser(model, threads)
        self._session = recogniser.run
        characters = recogniser.characters
        index = {char: i for i, char in enumerate(characters)}
        self._read_chars = "".join(c for c in _READ_CHARS if c in index)
        self._read_columns = np.array([index[c] for c in self._read_chars])
        self._separator_columns = np.array([index[c] for c in _SEPARATOR_CHARS if c in index])
        self._template_types, self._template_masks = self._build_template_masks()
        # log-probability added where a template's first position emits a preferred province (site prior)
        self._emit_bonus = np.zeros(self._template_masks.shape)
        for char, bonus in (province_prior or {}).items():
            if char in index and char in self._read_chars:
                self._emit_bonus[:, 0, self._read_chars.index(char)] = bonus
        self._one, self._zero = self._read_chars.index("1"), self._read_chars.index("0")
        self._letter_i, self._letter_o = self._read_chars.index("I"), self._read_chars.index("O")

    @property
    def plate_characters(self) -> str:
        """The characters of the plate columns of frame_probabilities, in order (column 2 + index)."""
        return self._read_chars

    def _build_template_masks(self) -> tuple[list[PlateType], np.ndarray]:
        """Boolean masks [template, position, char] of the characters each template position allows."""
        types = list(PLATE_TEMPLATES)
        max_len = max(len(t) for t in PLATE_TEMPLATES.values())
        masks = np.zeros((len(types), max_len, len(self._read_chars)), dtype=bool)
        for m, plate_type in enumerate(types):
            for k, allowed in enumerate(PLATE_TEMPLATES[plate_type]):
                masks[m, k] = [c in allowed for c in self._read_chars]
        return types, masks

    def frame_probabilities(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Per-frame probabilities [T, 2 + chars]: blank (with separators), other, then plate characters."""
        height, width = crop_bgr.shape[:2]
        if height < 4 or width < 4:
            raise PlateOcrError(f"crop too small for recognition: {width}x{height}")
        target_width = max(32, min(640, int(math.ceil(REC_HEIGHT * width / height))))
        resized = cv2.resize(crop_bgr, (target_width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        padded_width = int(math.ceil(target_width / 8) * 8)
        batch = np.zeros((1, 3, REC_HEIGHT, padded_width), dtype=np.float32)
        batch[0, :, :, :target_width] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
        try:
            probs = np.asarray(self._session(batch))[0]
        except Exception as err:  # noqa: BLE001
            raise PlateOcrError(f"recognition failed: {err}") from err
        blank = probs[:, 0] + probs[:, self._separator_columns].sum(axis=1)
        chars = probs[:, self._read_columns]
        other = np.clip(1.0 - blank - chars.sum(axis=1), 1e-9, None)
        return np.column_stack([blank, other, chars])

    def decode_free(self, frames: np.ndarray) -> DecodedText:
        """Best-path CTC decoding over every class: what the model reads without any plate grammar."""
        best = frames.argmax(axis=1)
        log_prob = float(np.log(np.clip(frames.max(axis=1), 1e-12, None)).sum())
        text: list[str] = []
        probs: list[float] = []
        previous = -1
        for t, label in enumerate(best):
            if label >= 2 and label != previous:
                text.append(self._read_chars[label - 2])
                probs.append(float(frames[t, label]))
            elif label >= 2 and label == previous:
                probs[-1] = max(probs[-1], float(frames[t, label]))
            elif label == 1:
                text.append("?")
                probs.append(float(frames[t, 1]))
            previous = label
        return DecodedText("".join(text), tuple(probs), log_prob)

    def _template_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames as the template decoding sees them (blank runs collapsed) and their log with I/O folded in."""
        frames = _compress_blank_runs(frames)
        folded = frames.copy()
        # I and O never occur on a plate: where the model sees them, the plate shows 1 and 0.
        folded[:, 2 + self._one] += folded[:, 2 + self._letter_i]
        folded[:, 2 + self._zero] += folded[:, 2 + self._letter_o]
        return frames, np.log(np.clip(folded, 1e-12, None))

    def template_score_bound(self, frames: np.ndarray) -> float:
        """Upper bound of the best log-probability decode_templates can return, at a small share of its cost.

        Each frame of a template path emits the blank or one plate character, so no path scores more than
        the sum over the frames of the better of the two (plus the largest province bonus).
        """
        _, log_frames = self._template_frames(frames)
        log_frames = log_frames.astype(np.float64)  # the Viterbi sums in float64 too
        best_char = log_frames[:, 2:].max(axis=1) + max(0.0, float(self._emit_bonus.max()))
        return float(np.maximum(log_frames[:, 0], best_char).sum())

    def decode_templates(
        self, frames: np.ndarray, type_penalty: dict[PlateType, float] | None = None
    ) -> list[DecodedText]:
        """Most probable CTC path for every plate template (Viterbi), best first.

        A template's score is its path log-probability less its type's penalty (a type the plate's colour
        speaks against); the char probabilities stay those the model gave.
        """
        frames, log_frames = self._template_frames(frames)
        log_blank = log_frames[:, 0]
        log_chars = log_frames[:, 2:]
        masks = self._template_masks
        n_tpl, max_len, n_chars = masks.shape
        steps = log_frames.shape[0]
        emit_mask = np.where(masks, self._emit_bonus, _NEG)
        char_state = np.full((n_tpl, max_len, n_chars), _NEG)
        blank_state = np.full((n_tpl, max_len + 1), _NEG)
        blank_state[:, 0] = log_blank[0]
        char_state[:, 0, :] = log_chars[0] + emit_mask[:, 0]
        # back-pointers: 0 stay, 1 from the blank before this position, 2 from the previous character
        char_from = np.zeros((steps, n_tpl, max_len, n_chars), dtype=np.int8)
        char_prev = np.zeros((steps, n_tpl, max_len, n_chars), dtype=np.int16)
        blank_from = np.zeros((steps, n_tpl, max_len + 1), dtype=np.int8)
        blank_prev = np.zeros((steps, n_tpl, max_len + 1), dtype=np.int16)
        char_ids = np.arange(n_chars)[None, None, :]
        # work arrays reused at every step; position 0 has no previous character
        prev_best = np.full((n_tpl, max_len, n_chars), _NEG)
        prev_arg = np.zeros((n_tpl, max_len, n_chars), np.int16)
        from_char = np.full((n_tpl, max_len + 1), _NEG)
        for t in range(1, steps):
            top1_idx = char_state.argmax(axis=2)
            top1 = char_state.max(axis=2)
            is_top = char_ids == top1_idx[:, :, None]
            masked = np.where(is_top, _NEG, char_state)
            # best previous character different from c (CTC merges repeats without a blank between)
            prev_best[:, 1:] = top1[:, :-1, None]
            np.copyto(prev_best[:, 1:], masked.max(axis=2)[:, :-1, None], where=is_top[:, :-1])
            prev_arg[:, 1:] = top1_idx[:, :-1, None]
            np.copyto(prev_arg[:, 1:], masked.argmax(axis=2)[:, :-1, None], where=is_top[:, :-1], casting="unsafe")
            from_blank = blank_state[:, :max_len, None]
            # source as argmax over (stay, from blank, from previous character) would pick it: first best wins
            best = np.maximum(char_state, from_blank)
            source = (char_state < from_blank).astype(np.int8)
            take_prev = prev_best > best
            source[take_prev] = 2
            char_from[t] = source
            char_prev[t] = prev_arg
            np.maximum(best, prev_best, out=best)
            char_state = best + log_chars[t][None, None, :] + emit_mask
            from_char[:, 1:] = top1
            take_char = from_char > blank_state
            blank_from[t] = take_char
            blank_prev[t, :, 1:] = top1_idx
            blank_state = np.where(take_char, from_char, blank_state) + log_blank[t]
        results = []
        for m, plate_type in enumerate(self._template_types):
            length = len(PLATE_TEMPLATES[plate_type])
            end_char = int(char_state[m, length - 1].argmax())
            end_char_score = float(char_state[m, length - 1, end_char])
            end_blank_score = float(blank_state[m, length])
            if max(end_char_score, end_blank_score) <= _NEG / 2:
                continue
            text, probs = self._backtrack(
                frames,
                m,
                length,
                end_char,
                end_blank_score > end_char_score,
                char_from,
                char_prev,
                blank_from,
                blank_prev,
            )
            score = max(end_char_score, end_blank_score) - (type_penalty or {}).get(plate_type, 0.0)
            results.append(DecodedText(text, probs, score, plate_type))
        results.sort(key=lambda decoded: decoded.log_prob, reverse=True)
        return results

    def _backtrack(
        self,
        frames: np.ndarray,
        m: int,
        length: int,
        end_char: int,
        end_in_blank: bool,
        char_from: np.ndarray,
        char_prev: np.ndarray,
        blank_from: np.ndarray,
        blank_prev: np.ndarray,
    ) -> tuple[str, tuple[float, ...]]:
        """Follow the back-pointers of template m and return its characters and their probabilities."""
        chars: list[int] = [0] * length
        probs: list[float] = [0.0] * length
        position, char, in_blank = length - 1, end_char, end_in_blank
        if in_blank:
            position = length
        for t in range(frames.shape[0] - 1, -1, -1):
            if in_blank:
                if t == 0:
                    break
                if blank_from[t, m, position] == 1:
                    char = int(blank_prev[t, m, position])
                    position -= 1
                    in_blank = False
                continue
            chars[position] = char
            probs[position] = max(probs[position], float(frames[t, 2 + char]))
            if t == 0:
                break
            source = char_from[t, m, position, char]
            if source == 1:
                in_blank = True
            elif source == 2:
                char = int(char_prev[t, m, position, char])
                position -= 1
        text = "".join(self._read_chars[c] for c in chars)
        return text, tuple(probs)


def _compress_blank_runs(frames: np.ndarray, blank_floor: float = 0.999) -> np.ndarray:
    """Collapse runs of near-certain blank frames to one frame: same best paths, fewer Viterbi steps."""
    certain = frames[:, 0] >= blank_floor
    keep = ~certain
    keep[1:] |= certain[1:] & ~certain[:-1]
    keep[0] = True
    return frames[keep]
