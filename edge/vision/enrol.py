"""Enrolment: photos in, face templates out (or the reason a photo was refused); a library and a CLI."""

from __future__ import annotations

import argparse
import base64
import enum
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.vision.crypto import CryptoError, load_key, read_encrypted, write_encrypted
from edge.vision.face_config import EnrolmentConfig
from edge.vision.face_errors import FaceError, ImageError
from edge.vision.faces import FaceAnalyser, FaceQuality, QualityIssue, load_image
from edge.vision.gallery import Template

logger = logging.getLogger(__name__)

KEY_ENV_VAR = "SC_FACE_TEMPLATES_KEY"
_FILE_FORMAT = "sc-face-templates/1"
_FILE_CONTEXT = b"sc-face-templates-v1"


class RefusalReason(enum.StrEnum):
    """Why an enrolment photo did not become a template."""

    UNREADABLE = "unreadable"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    TOO_BLURRED = "too_blurred"
    OFF_FRONTAL = "off_frontal"


_QUALITY_REFUSALS = {
    QualityIssue.TOO_SMALL: RefusalReason.TOO_SMALL,
    QualityIssue.TOO_BLURRED: RefusalReason.TOO_BLURRED,
    QualityIssue.OFF_FRONTAL: RefusalReason.OFF_FRONTAL,
}


@dataclass(frozen=True)
class PhotoOutcome:
    """One photo's enrolment result: a template, or a refusal reason with a human-readable detail."""

    source: str
    template: Template | None
    refusal: RefusalReason | None
    detail: str = ""
    quality: FaceQuality | None = None


@dataclass(frozen=True)
class EnrolmentReport:
    """The outcome of enrolling a batch of photos."""

    outcomes: tuple[PhotoOutcome, ...]

    @property
    def templates(self) -> list[Template]:
        """Templates of the accepted photos."""
        return [o.template for o in self.outcomes if o.template is not None]

    @property
    def refused(self) -> list[PhotoOutcome]:
        """Outcomes of the refused photos."""
        return [o for o in self.outcomes if o.template is None]


class Enroller:
    """Turns enrolment photos into templates with the same detector and encoder the gates use."""

    def __init__(self, config: EnrolmentConfig | None = None) -> None:
        """Use `config` (stricter quality than at the gate by default)."""
        self.config = config or EnrolmentConfig()
        self.analyser = FaceAnalyser(self.config.detector, self.config.quality, self.config.num_jitters)

    def enrol_image(
        self, image_bgr: np.ndarray, person_id: str, source: str = "image", template_id: str | None = None
    ) -> PhotoOutcome:
        """Enrol one decoded BGR image: exactly one dominant, large, sharp, frontal face is required."""
        boxes = self.analyser.detect(image_bgr)
        if not boxes:
            return PhotoOutcome(source, None, RefusalReason.NO_FACE, "no face found")
        largest = min(boxes[0].width, boxes[0].height)
        rivals = [b for b in boxes[1:] if min(b.width, b.height) >= self.config.other_face_ratio * largest]
        if rivals:
            detail = f"{len(rivals) + 1} faces of similar size; the photo must show only the person enrolled"
            return PhotoOutcome(source, None, RefusalReason.SEVERAL_FACES, detail)
        face = self.analyser.describe(image_bgr, boxes[0])
        if face.quality.issue is not None:
            refusal = _QUALITY_REFUSALS[face.quality.issue]
            return PhotoOutcome(source, None, refusal, face.quality.detail, face.quality)
        if face.encoding is None:
            raise FaceError("internal: a usable face has no encoding")
        template = Template(template_id or uuid.uuid4().hex, person_id, face.encoding)
        detail = f"{len(boxes) - 1} smaller face(s) ignored" if len(boxes) > 1 else ""
        return PhotoOutcome(source, template, None, detail, face.quality)

    def enrol_bytes(self, data: bytes, person_id: str, source: str = "upload") -> PhotoOutcome:
        """Enrol an encoded photo (JPEG, PNG...) received as bytes, e.g. by the server's upload API."""
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
        if image is None:
            return PhotoOutcome(source, None, RefusalReason.UNREADABLE, "not a decodable image")
        return self.enrol_image(image, person_id, source)

    def enrol_files(self, paths: Iterable[str | os.PathLike[str]], person_id: str | None = None) -> EnrolmentReport:
        """Enrol photo files; without `person_id` each photo's folder name is its person id."""
        outcomes = []
        for path in map(Path, paths):
            person = person_id or path.parent.name
            try:
                image = load_image(str(path))
            except ImageError as err:
                outcomes.append(PhotoOutcome(str(path), None, RefusalReason.UNREADABLE, str(err)))
                continue
            outcomes.append(self.enrol_image(image, person, str(path)))
        return EnrolmentReport(tuple(outcomes))


def templates_to_json(templates: Sequence[Template]) -> bytes:
    """Serialise templates (vectors as base64 little-endian float32, exact)."""
    items = [
        {
            "template_id": t.template_id,
            "person_id": t.person_id,
            "vector": base64.b64encode(t.vector.astype("<f4").tobytes()).decode("ascii"),
        }
        for t in templates
    ]
    return json.dumps({"format": _FILE_FORMAT, "templates": items}, indent=1).encode()


def templates_from_json(data: bytes) -> list[Template]:
    """Parse bytes made by templates_to_json."""
    try:
        document = json.loads(data)
        if document.get("format") != _FILE_FORMAT:
            raise ValueError(f"format is not {_FILE_FORMAT}")
        return [
            Template(item["template_id"], item["person_id"], np.frombuffer(base64.b64decode(item["vector"]), "<f4"))
            for item in document["templates"]
        ]
    except (ValueError, KeyError, TypeError) as err:
        raise FaceError(f"malformed templates file: {err}") from err


def save_templates(path: str | os.PathLike[str], templates: Sequence[Template], key: bytes | None) -> None:
    """Write templates to a file, AES-GCM encrypted when a key is given."""
    data = templates_to_json(templates)
    if key is None:
        Path(path).write_bytes(data)
        return
    try:
        write_encrypted(path, key, data, _FILE_CONTEXT)
    except CryptoError as err:
        raise FaceError(f"cannot write templates: {err}") from err


def load_templates(path: str | os.PathLike[str], key: bytes | None) -> list[Template]:
    """Read a templates file written by save_templates (encrypted when a key is given)."""
    try:
        data = read_encrypted(path, key, _FILE_CONTEXT) if key is not None else Path(path).read_bytes()
    except (CryptoError, OSError) as err:
        raise FaceError(f"cannot read templates {path}: {err}") from err
    return templates_from_json(data)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: enrol photos and write their templates; exit 0 if at least one photo was enrolled."""
    parser = argparse.ArgumentParser(
        prog="python -m edge.vision.enrol", description="Enrol face photos and write their templates."
    )
    parser.add_argument("photos", nargs="+", help="photo files (JPEG, PNG, ...)")
    parser.add_argument("--out", required=True, help="templates file to write")
    parser.add_argument("--person", help="person id for all photos (default: each photo's folder name)")
    parser.add_argument("--key-file", help=f"encryption key file (default: ${KEY_ENV_VAR})")
    parser.add_argument(
        "--plaintext", action="store_true", help="write unencrypted templates (only for tests; they are biometric)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    key = None
    if not args.plaintext:
        try:
            key = load_key(KEY_ENV_VAR, args.key_file)
        except CryptoError as err:
            print(f"error: {err}; or pass --plaintext", file=sys.stderr)
            return 1
    report = Enroller().enrol_files(args.photos, args.person)
    for outcome in report.outcomes:
        if outcome.template is not None:
            print(f"enrolled  {outcome.source}: person {outcome.template.person_id} {outcome.detail}".rstrip())
        else:
            print(f"refused   {outcome.source}: {outcome.refusal} ({outcome.detail})")
    try:
        save_templates(args.out, report.templates, key)
    except FaceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    state = "encrypted" if key is not None else "PLAINTEXT"
    print(f"{len(report.templates)} template(s) written to {args.out} ({state}), {len(report.refused)} refused")
    return 0 if report.templates else 2


if __name__ == "__main__":
    sys.exit(main())
