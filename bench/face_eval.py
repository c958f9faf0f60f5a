"""Evaluate face recognition on a folder of photos; the last stdout line is one JSON object.

Protocol (DIR laid out like shared/data: faces/<person>/<n>.jpg, no_face/, faces_multi/, manifest.csv):
- Every person with 2+ photos is enrolled from their lowest-numbered photo that passes enrolment (a
  refused photo is reported and the next one is tried); all their other photos are genuine probes.
- Persons with a single photo and all no_face/ images are strangers: any accept is a false accept.
- Genuine probes: rank-1 uses the probe's largest usable face (nearest identity, threshold-free);
  any face of the photo accepted as another enrolled identity is a false accept.
- faces_multi/ images are crowd probes: every usable face is matched. When the manifest's label column
  names who is in the image (separated by ';' or '|'), an accept of anyone else is a false accept;
  otherwise accepts are listed as unverified. Two faces of one image accepted as the same person is
  always a false accept (one person appears once in a photo).
Still photos are single frames: the multi-frame vote is not involved here.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.enrol import Enroller  # noqa: E402
from edge.vision.face_config import DetectorConfig, MatcherConfig, QualityConfig  # noqa: E402
from edge.vision.faces import FaceAnalyser, load_image  # noqa: E402
from edge.vision.gallery import Gallery, MatchResult  # noqa: E402

logger = logging.getLogger("face_eval")

PROBE_DETECTOR = DetectorConfig(upsample=0, detect_max_side=1024, retry_upsample=1, max_faces=10)


def photo_number(path: Path) -> tuple[int, str]:
    """Sort key: the numeric stem first (2 before 10), then the name."""
    digits = re.sub(r"\D", "", path.stem)
    return (int(digits) if digits else sys.maxsize, path.name)


def manifest_labels(data: Path) -> dict[str, list[str]]:
    """Map relative file path to the persons its manifest label names (empty when unlabelled)."""
    labels: dict[str, list[str]] = {}
    manifest = data / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                names = [n.strip() for n in re.split(r"[;|]", row.get("label") or "") if n.strip()]
                labels[row["file"]] = names
    return labels


def match_faces(analyser: FaceAnalyser, gallery: Gallery, matcher: MatcherConfig, path: Path) -> list[MatchResult]:
    """Match every usable face of a photo, largest face first."""
    faces = analyser.analyse(load_image(str(path)))
    return [gallery.match(face.encoding, matcher) for face in faces if face.usable]


def evaluate(data: Path, matcher: MatcherConfig) -> dict:
    """Run the protocol in the module docstring and return the summary."""
    persons = {
        d.name: sorted(d.glob("*.jpg"), key=photo_number) for d in sorted((data / "faces").iterdir()) if d.is_dir()
    }
    enroller = Enroller()
    analyser = FaceAnalyser(PROBE_DETECTOR, QualityConfig())
    templates, probes, strangers, enrol_refusals = [], [], [], []
    for person, photos in persons.items():
        if len(photos) < 2:
            strangers.extend(photos)
            continue
        for index, photo in enumerate(photos):
            outcome = enroller.enrol_files([photo], person).outcomes[0]
            if outcome.template is not None:
                templates.append(outcome.template)
                probes.extend((person, p) for p in photos if p != photo)
                break
            enrol_refusals.append({"file": str(photo.relative_to(data)), "reason": str(outcome.refusal)})
            if index == len(photos) - 1:
                logger.warning("%s: no photo could be enrolled", person)
    strangers.extend(sorted((data / "no_face").glob("*.jpg")))
    gallery = Gallery(templates)
    misses: dict[str, list[dict]] = {}
    false_accepts: list[dict] = []
    rank1_hits = accepted_hits = 0
    genuine_distances: list[float] = []
    for person, photo in probes:
        rel = str(photo.relative_to(data))
        results = match_faces(analyser, gallery, matcher, photo)
        main = results[0] if results else None
        if main is not None and main.best_person_id == person:
            rank1_hits += 1
            genuine_distances.append(main.distance)
        if main is not None and main.person_id == person:
            accepted_hits += 1
        else:
            reason = "no usable face" if main is None else f"{main.reason}: nearest {main.best_person_id}"
            distance = None if main is None else round(main.distance, 4)
            misses.setdefault(person, []).append({"file": rel, "why": reason, "distance": distance})
        for result in results:
            if result.accepted and result.person_id != person:
                false_accepts.append({"file": rel, "accepted_as": result.person_id, "distance": result.distance})
        print(f"probe    {rel}: {_describe(main)}")
    stranger_distances: list[float] = []
    for photo in strangers:
        rel = str(photo.relative_to(data))
        results = match_faces(analyser, gallery, matcher, photo)
        stranger_distances.extend(r.distance for r in results)
        for result in results:
            if result.accepted:
                false_accepts.append({"file": rel, "accepted_as": result.person_id, "distance": result.distance})
        print(f"stranger {rel}: {len(results)} usable face(s); {', '.join(_describe(r) for r in results) or '-'}")
    crowd = evaluate_crowd(data, analyser, gallery, matcher, false_accepts)
    return {
        "rank1_accuracy": round(rank1_hits / len(probes), 4) if probes else None,
        "genuine_accept_rate": round(accepted_hits / len(probes), 4) if probes else None,
        "false_accepts": len(false_accepts),
        "probes": len(probes),
        "strangers": len(strangers),
        "enrolled_persons": len(templates),
        "threshold": matcher.threshold,
        "margin": matcher.margin,
        "misses": misses,
        "false_accept_details": false_accepts,
        "enrolment_refusals": enrol_refusals,
        "max_genuine_distance": round(max(genuine_distances), 4) if genuine_distances else None,
        "min_stranger_distance": round(min(stranger_distances), 4) if stranger_distances else None,
        **crowd,
    }


def evaluate_crowd(
    data: Path, analyser: FaceAnalyser, gallery: Gallery, matcher: MatcherConfig, false_accepts: list[dict]
) -> dict:
    """Match every face of the faces_multi images; see the module docstring for what counts as false."""
    labels = manifest_labels(data)
    images = sorted((data / "faces_multi").glob("*.jpg")) if (data / "faces_multi").is_dir() else []
    faces = 0
    unverified: list[dict] = []
    for photo in images:
        rel = str(photo.relative_to(data))
        present = labels.get(rel, [])
        results = match_faces(analyser, gallery, matcher, photo)
        faces += len(results)
        seen: set[str] = set()
        for result in results:
            if not result.accepted:
                continue
            entry = {"file": rel, "accepted_as": result.person_id, "distance": round(result.distance, 4)}
            if result.person_id in seen or (present and result.person_id not in present):
                false_accepts.append(entry)
            elif not present:
                unverified.append(entry)
            seen.add(result.person_id)
        print(f"crowd    {rel}: {len(results)} usable face(s); {', '.join(_describe(r) for r in results) or '-'}")
    return {"crowd_images": len(images), "crowd_faces": faces, "crowd_accepts_unverified": unverified}


def _describe(result: MatchResult | None) -> str:
    """One-line summary of a match."""
    if result is None:
        return "no usable face"
    return f"{result.reason} best={result.best_person_id}@{result.distance:.3f} second@{result.second_distance:.3f}"


def main() -> int:
    """Parse arguments, evaluate, print the summary JSON as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="folder laid out like shared/data")
    parser.add_argument("--threshold", type=float, default=MatcherConfig().threshold, help="match threshold")
    parser.add_argument("--margin", type=float, default=MatcherConfig().margin, help="best vs second margin")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = time.perf_counter()
    summary = evaluate(args.data, MatcherConfig(threshold=args.threshold, margin=args.margin))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
