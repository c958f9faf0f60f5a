"""The gate pipeline on real photos and a real video: detection, encoding, voting, liveness seam, ROI."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.enrol import Enroller
from edge.vision.face_config import DetectorConfig, FacePipelineConfig, QualityConfig, RegionOfInterest, VotingConfig
from edge.vision.faces import FaceAnalyser, FaceOutcome, FaceRecogniser, QualityIssue, load_image
from edge.vision.gallery import Gallery, Template
from edge.vision.liveness import LivenessResult

PHOTO_DETECTOR = DetectorConfig(detect_max_side=1024, retry_upsample=1)
CONFIG = FacePipelineConfig(detector=PHOTO_DETECTOR, voting=VotingConfig(k=3, n=5, cooldown_s=60))


def number(path: Path) -> int:
    """Numeric stem of a photo (2 before 10)."""
    return int(re.sub(r"\D", "", path.stem) or 0)


@pytest.fixture(scope="module")
def enrolled(shared_data: Path) -> dict:
    """Enrol the lowest-numbered photo of each person with 2+ photos; keep probes and strangers."""
    enroller = Enroller()
    templates: list[Template] = []
    probes: dict[str, list[Path]] = {}
    strangers: list[Path] = []
    for folder in sorted(p for p in (shared_data / "faces").iterdir() if p.is_dir()):
        photos = sorted(folder.glob("*.jpg"), key=number)
        if len(photos) < 2:
            strangers.extend(photos)
            continue
        outcome = enroller.enrol_files(photos[:1], folder.name).outcomes[0]
        assert outcome.template is not None, f"{photos[0]} refused: {outcome.refusal}"
        templates.append(outcome.template)
        probes[folder.name] = photos[1:]
    assert probes and strangers, "shared data must hold enrolled persons and strangers"
    return {"templates": templates, "probes": probes, "strangers": strangers}


def test_crop_encoding_equals_face_recognition_on_the_full_image(enrolled: dict) -> None:
    import face_recognition

    person, photos = next(iter(enrolled["probes"].items()))
    image = load_image(str(photos[0]))
    face = FaceAnalyser(PHOTO_DETECTOR, QualityConfig()).analyse(image)[0]
    box = face.box
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    reference = face_recognition.face_encodings(rgb, [(box.top, box.right - 1, box.bottom - 1, box.left)])[0]
    assert face.encoding is not None
    assert np.allclose(face.encoding, reference, atol=1e-5)


def test_enrolled_person_is_recognised_only_after_k_frames(enrolled: dict) -> None:
    gallery = Gallery(enrolled["templates"])
    person, photos = max(enrolled["probes"].items(), key=lambda kv: len(kv[1]))
    recogniser = FaceRecogniser(CONFIG, gallery)
    frames = [load_image(str(p)) for p in photos] * 3
    decisions = []
    for index, frame in enumerate(frames[:4]):
        result = recogniser.process(frame, ts=index * 0.2)
        assert result.faces and result.faces[0].match is not None
        decisions.extend((index, d) for d in result.decisions)
    assert [(i, d.outcome, d.person_id) for i, d in decisions] == [(2, FaceOutcome.RECOGNISED, person)]
    decision = decisions[0][1]
    assert decision.votes == 3 and decision.distance is not None and decision.distance < CONFIG.matcher.threshold
    assert decision.liveness.passed and not decision.liveness.checked
    assert "not checked" in decision.liveness.reason


def test_stranger_is_an_unknown_person_never_recognised(enrolled: dict) -> None:
    gallery = Gallery(enrolled["templates"])
    stranger = load_image(str(enrolled["strangers"][0]))
    recogniser = FaceRecogniser(CONFIG, gallery)
    outcomes = []
    for index in range(4):
        result = recogniser.process(stranger, ts=index * 0.2)
        assert result.faces and not result.faces[0].match.accepted
        outcomes.extend(d.outcome for d in result.decisions)
    assert outcomes == [FaceOutcome.UNKNOWN_PERSON]


def test_failed_or_broken_liveness_check_never_recognises(enrolled: dict) -> None:
    gallery = Gallery(enrolled["templates"])
    person, photos = next(iter(enrolled["probes"].items()))
    frame = load_image(str(photos[0]))
    calls = []

    def spoof(frame_bgr: np.ndarray, face: object) -> LivenessResult:
        calls.append(face)
        return LivenessResult(passed=False, reason="screen replay suspected")

    def broken(frame_bgr: np.ndarray, face: object) -> LivenessResult:
        raise RuntimeError("sensor unplugged")

    for check, reason in ((spoof, "screen replay suspected"), (broken, "liveness check error: RuntimeError")):
        recogniser = FaceRecogniser(CONFIG, gallery, liveness=check)
        decisions = [d for i in range(3) for d in recogniser.process(frame, ts=i * 0.2).decisions]
        assert [(d.outcome, d.person_id) for d in decisions] == [(FaceOutcome.LIVENESS_FAILED, person)]
        assert decisions[0].liveness.reason == reason
    assert len(calls) == 1  # run once, when the vote completes, not on every frame


def paste(photo: np.ndarray, width: int, height: int, x: int, y: int) -> np.ndarray:
    """A grey frame with the photo pasted at (x, y)."""
    frame = np.full((height, width, 3), 110, np.uint8)
    h, w = min(photo.shape[0], height - y), min(photo.shape[1], width - x)
    frame[y : y + h, x : x + w] = photo[:h, :w]
    return frame


def test_region_of_interest_limits_the_search_and_keeps_frame_coordinates(enrolled: dict) -> None:
    person, photos = next(iter(enrolled["probes"].items()))
    photo = load_image(str(photos[0]))
    scale = 400 / max(photo.shape[:2])
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = paste(photo, 1280, 720, 800, 100)
    right = FaceAnalyser(DetectorConfig(roi=RegionOfInterest(x=0.5, width=0.5)), QualityConfig())
    left = FaceAnalyser(DetectorConfig(roi=RegionOfInterest(x=0.0, width=0.5)), QualityConfig())
    boxes = right.detect(frame)
    assert len(boxes) == 1 and boxes[0].left >= 800
    assert left.detect(frame) == []


def test_downscaled_detection_finds_the_same_face_as_full_resolution(enrolled: dict) -> None:
    person, photos = next(iter(enrolled["probes"].items()))
    photo = load_image(str(photos[0]))
    scale = 600 / max(photo.shape[:2])
    frame = paste(cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), 1280, 720, 300, 60)
    fast = FaceAnalyser(DetectorConfig(detect_max_side=640), QualityConfig()).analyse(frame)
    full = FaceAnalyser(DetectorConfig(detect_max_side=None), QualityConfig()).analyse(frame)
    assert len(fast) == len(full) == 1
    a, b = fast[0].box, full[0].box
    inter = max(0, min(a.right, b.right) - max(a.left, b.left)) * max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    assert inter / (a.area + b.area - inter) > 0.7
    gallery = Gallery(enrolled["templates"])
    assert gallery.match(fast[0].encoding, CONFIG.matcher).person_id == person


def test_a_face_too_small_for_a_decision_is_reported_not_matched(enrolled: dict) -> None:
    person, photos = next(iter(enrolled["probes"].items()))
    photo = load_image(str(photos[0]))
    analyser = FaceAnalyser(DetectorConfig(detect_max_side=None, upsample=1), QualityConfig(min_face_px=60))
    width = analyser.detect(photo)[0].width
    small = cv2.resize(photo, None, fx=50 / width, fy=50 / width, interpolation=cv2.INTER_AREA)
    recogniser = FaceRecogniser(FacePipelineConfig(detector=analyser.detector), Gallery(enrolled["templates"]))
    result = recogniser.process(paste(small, 320, 240, 20, 20), ts=0.0)
    assert len(result.faces) == 1
    assert result.faces[0].face.quality.issue is QualityIssue.TOO_SMALL and result.faces[0].match is None


def test_real_video_recognises_the_enrolled_performer_and_nobody_else(shared_data: Path, enrolled: dict) -> None:
    video = shared_data / "video" / "short_hamilton_clip.mp4"
    reference = shared_data / "faces" / "lin_manuel_miranda" / "1.jpg"
    if not (video.is_file() and reference.is_file()):
        pytest.skip("the shared data has no performer clip with a reference photo")
    performer = Enroller().enrol_files([reference], "performer").templates
    gallery = Gallery([*enrolled["templates"], *performer])
    recogniser = FaceRecogniser(FacePipelineConfig(voting=VotingConfig(k=3, n=5, cooldown_s=60)), gallery)
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    decisions, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 4 == 0:  # about 7.5 frames per second, as a gate agent that drops stale frames sees them
            decisions.extend(recogniser.process(frame, ts=index / fps).decisions)
        index += 1
    capture.release()
    assert index > 100
    assert [(d.outcome, d.person_id) for d in decisions] == [(FaceOutcome.RECOGNISED, "performer")]
