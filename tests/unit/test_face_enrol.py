"""Enrolment on real photos: templates out, refusal reasons for bad photos, the CLI and its files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.crypto import encode_key, generate_key
from edge.vision.enrol import Enroller, RefusalReason, load_templates, main
from edge.vision.faces import load_image


@pytest.fixture(scope="module")
def enroller() -> Enroller:
    """Enroller with the default (strict) enrolment settings."""
    return Enroller()


def first_photo(shared_data: Path, min_face: int) -> Path:
    """A photo from faces/ whose face is at least `min_face` px (found by the detector, not by name)."""
    analyser = Enroller().analyser
    for photo in sorted((shared_data / "faces").glob("*/*.jpg")):
        boxes = analyser.detect(load_image(str(photo)))
        if len(boxes) == 1 and boxes[0].width >= min_face:
            return photo
    pytest.fail(f"no photo with a face of {min_face}+ px in {shared_data}")


def test_good_photo_becomes_a_template(enroller: Enroller, shared_data: Path) -> None:
    photo = first_photo(shared_data, 150)
    outcome = enroller.enrol_files([photo]).outcomes[0]
    assert outcome.refusal is None, outcome.detail
    assert outcome.template is not None
    assert outcome.template.person_id == photo.parent.name
    assert outcome.template.vector.shape == (128,) and np.isfinite(outcome.template.vector).all()
    assert outcome.quality is not None and outcome.quality.issue is None


def test_photo_without_face_is_refused(enroller: Enroller, shared_data: Path) -> None:
    photos = sorted((shared_data / "no_face").glob("*.jpg"))
    assert photos
    for outcome in enroller.enrol_files(photos[:2], "someone").outcomes:
        assert outcome.template is None and outcome.refusal is RefusalReason.NO_FACE


def test_photo_with_several_faces_is_refused(enroller: Enroller, shared_data: Path) -> None:
    photos = sorted((shared_data / "faces_multi").glob("*.jpg"))
    assert photos
    refusals = {o.refusal for o in enroller.enrol_files(photos[:3], "someone").outcomes}
    assert refusals == {RefusalReason.SEVERAL_FACES}


def test_small_face_is_refused(enroller: Enroller, shared_data: Path) -> None:
    image = load_image(str(first_photo(shared_data, 200)))
    box = enroller.analyser.detect(image)[0]
    scale = 65 / box.width  # face of about 65 px: detectable with upsampling, below the 80 px minimum
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    outcome = enroller.enrol_image(small, "someone")
    assert outcome.refusal is RefusalReason.TOO_SMALL, outcome.detail


def test_blurred_face_is_refused(enroller: Enroller, shared_data: Path) -> None:
    image = load_image(str(first_photo(shared_data, 200)))
    width = enroller.analyser.detect(image)[0].width
    blurred = cv2.GaussianBlur(image, (0, 0), 0.03 * width)  # encodings drift by ~0.45 at this blur
    assert enroller.enrol_image(image, "someone").template is not None
    outcome = enroller.enrol_image(blurred, "someone")
    assert outcome.refusal is RefusalReason.TOO_BLURRED, outcome.detail


def test_undecodable_upload_is_refused(enroller: Enroller) -> None:
    assert enroller.enrol_bytes(b"not an image", "someone").refusal is RefusalReason.UNREADABLE
    assert enroller.enrol_bytes(b"", "someone").refusal is RefusalReason.UNREADABLE


def test_upload_bytes_give_the_same_template_as_the_file(enroller: Enroller, shared_data: Path) -> None:
    photo = first_photo(shared_data, 150)
    from_file = enroller.enrol_files([photo], "p").templates[0]
    from_bytes = enroller.enrol_bytes(photo.read_bytes(), "p").template
    assert from_bytes is not None
    assert np.allclose(from_file.vector, from_bytes.vector, atol=1e-6)


def test_cli_writes_encrypted_templates_and_reports_refusals(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = generate_key()
    monkeypatch.setenv("SC_FACE_TEMPLATES_KEY", encode_key(key))
    good = first_photo(shared_data, 150)
    bad = sorted((shared_data / "no_face").glob("*.jpg"))[0]
    out = tmp_path / "templates.enc"
    assert main([str(good), str(bad), "--person", "resident-7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no_face" in printed and "1 template(s)" in printed
    assert b"resident-7" not in out.read_bytes()
    templates = load_templates(out, key)
    assert [t.person_id for t in templates] == ["resident-7"]


def test_cli_refuses_to_write_plaintext_without_being_told(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SC_FACE_TEMPLATES_KEY", raising=False)
    photo = sorted((shared_data / "no_face").glob("*.jpg"))[0]
    assert main([str(photo), "--out", str(tmp_path / "t.json")]) == 1
    assert not (tmp_path / "t.json").exists()
    assert main([str(photo), "--out", str(tmp_path / "t.json"), "--plaintext"]) == 2  # nothing enrolled
    assert load_templates(tmp_path / "t.json", None) == []
