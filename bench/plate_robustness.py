"""Plate recogniser under controlled conditions: rendered plates in synthetic scenes, one factor grid.

The photos of plate_eval.py cannot say where reading breaks down; here every plate is read at every size,
angle, blur, light level and perspective of a grid, so the rate per factor shows it. The plates are random
valid GA 36 texts (blue and yellow ordinary, green new-energy) drawn with the demo's plate renderer
(devices/scene.py, font fonts-wqy-zenhei). Prints one JSON object as the last line.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy / OpenCV / onnxruntime are imported.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from barrier import SERIAL_MATCH, admitted, barrier_policy  # noqa: E402

from devices.scene import render_plate  # noqa: E402
from edge.config import DecisionPolicy  # noqa: E402
from edge.vision.plate_rules import ALNUM, DIGITS, LETTERS, PROVINCES  # noqa: E402
from edge.vision.plates import PlateRecogniser, PlateRecogniserConfig  # noqa: E402

cv2.setNumThreads(1)

FULL_GRID = {
    "width": [70, 90, 120, 180],  # plate width in pixels on a 1280x720 frame
    "angle": [0, -12, 20],  # in-plane rotation, degrees
    "blur": [0.0, 1.2],  # Gaussian sigma, pixels
    "light": [1.0, 0.35],  # brightness factor (0.35: dusk)
    "perspective": [0.0, 0.25],  # far side raised by this share of the width (camera off to one side)
}
QUICK_GRID = {"width": [90, 160], "angle": [0, 15], "blur": [0.0], "light": [1.0], "perspective": [0.0]}


def random_plates(rng: np.random.Generator, per_colour: int) -> list[tuple[str, str]]:
    """Random valid plate texts with their colour: ordinary blue and yellow, small new-energy green."""

    def pick(chars: str, count: int = 1) -> str:
        return "".join(chars[int(i)] for i in rng.integers(0, len(chars), count))

    plates = []
    for _ in range(per_colour):
        plates.append((pick(PROVINCES) + pick(LETTERS) + pick(ALNUM, 5), "blue"))
        plates.append((pick(PROVINCES) + pick(LETTERS) + pick(ALNUM, 5), "yellow"))
        plates.append((pick(PROVINCES) + pick(LETTERS) + pick("DF") + pick(ALNUM) + pick(DIGITS, 4), "green"))
    return plates


def street_scene(rng: np.random.Generator) -> np.ndarray:
    """A 1280x720 grey street with a dark car body, its grille and lamps, and some clutter."""
    frame = np.full((720, 1280, 3), 105, np.uint8)
    frame[:200] = (150, 140, 130)  # wall / sky
    for _ in range(12):
        x, y = int(rng.integers(0, 1200)), int(rng.integers(0, 680))
        colour = tuple(int(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(frame, (x, y), (x + int(rng.integers(20, 120)), y + int(rng.integers(5, 40))), colour, -1)
    cv2.rectangle(frame, (300, 220), (1000, 640), (55, 55, 65), -1)  # car body
    for y in range(260, 360, 14):
        cv2.line(frame, (420, y), (880, y), (30, 30, 35), 4)  # grille bars
    cv2.ellipse(frame, (360, 300), (45, 25), 0, 0, 360, (220, 230, 235), -1)  # lamps
    cv2.ellipse(frame, (940, 300), (45, 25), 0, 0, 360, (220, 230, 235), -1)
    return frame


def place_plate(
    frame: np.ndarray, plate: np.ndarray, width: int, angle: float, perspective: float, centre: tuple[int, int]
) -> None:
    """Paste the plate scaled to width, rotated and foreshortened, centred on centre (in place)."""
    height = int(round(width * plate.shape[0] / plate.shape[1]))
    small = cv2.resize(plate, (width, height), interpolation=cv2.INTER_AREA)
    src = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    lift = perspective * width * 0.3
    dst = np.float32([[0, 0], [width, -lift], [width, height + lift], [0, height]])
    warp = cv2.getPerspectiveTransform(src, dst)
    rotate = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), [0, 0, 1]])
    shift = np.array([[1, 0, centre[0] - width / 2], [0, 1, centre[1] - height / 2], [0, 0, 1]])
    matrix = shift @ rotate @ warp
    size = (frame.shape[1], frame.shape[0])
    mask = cv2.warpPerspective(np.full((height, width), 255, np.uint8), matrix, size)
    pasted = cv2.warpPerspective(small, matrix, size, flags=cv2.INTER_LINEAR)
    frame[mask > 127] = pasted[mask > 127]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=3, help="random plates per colour")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--quick", action="store_true", help="a small grid (smoke test)")
    parser.add_argument("--config", type=Path, help="JSON file with a PlateRecogniserConfig")
    args = parser.parse_args()

    config = (
        PlateRecogniserConfig.model_validate_json(args.config.read_text(encoding="utf-8"))
        if args.config
        else PlateRecogniserConfig()
    )
    recogniser = PlateRecogniser(config)
    rng = np.random.default_rng(args.seed)
    grid = QUICK_GRID if args.quick else FULL_GRID
    plates = random_plates(rng, args.plates)
    rates: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    cpu_ms: list[float] = []
    decision = DecisionPolicy()
    gate_confidence = decision.plate_min_confidence
    frames = exact = exact_actionable = wrong_validated = wrong_actionable = 0
    admitted_by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    twin_admitted: dict[str, int] = defaultdict(int)
    failures = []
    for text, colour in plates:
        image = render_plate(text, colour)
        twin = ("京" if text[0] != "京" else "沪") + text[1:]  # same serial, another province
        barriers = {
            name: (policy, barrier_policy(text, policy), barrier_policy(twin, policy))
            for name, policy in (("exact", decision), ("serial_match", SERIAL_MATCH))
        }
        for width, angle, blur, light, perspective in itertools.product(*grid.values()):
            frame = street_scene(rng)
            centre = (int(rng.integers(480, 820)), int(rng.integers(420, 560)))
            place_plate(frame, image, width, angle, perspective, centre)
            if blur:
                frame = cv2.GaussianBlur(frame, (0, 0), blur)
            noisy = frame.astype(np.float32) * light + rng.normal(0, 3, frame.shape)
            frame = np.clip(noisy, 0, 255).astype(np.uint8)
            started = time.process_time()
            reads = recogniser.read(frame)
            cpu_ms.append((time.process_time() - started) * 1000)
            hit = any(r.text == text and r.validated for r in reads)
            frames += 1
            exact += hit
            exact_actionable += any(r.text == text and r.validated and r.confidence >= gate_confidence for r in reads)
            for setting, (policy, own, other) in barriers.items():
                admitted_by[setting][admitted(own, reads, policy) or "refused"] += 1
                # the same frame when only the twin is registered: this car must stay out
                twin_admitted[setting] += admitted(other, reads, policy) is not None
            wrong = [r for r in reads if r.validated and r.text != text]
            wrong_validated += len(wrong)
            wrong_actionable += sum(r.confidence >= gate_confidence for r in wrong)
            factors = {"width": width, "angle": angle, "blur": blur, "light": light, "perspective": perspective}
            factors |= {"colour": colour, "width_blur": f"{width}/{blur}"}
            for name, value in factors.items():
                rates[name][str(value)][0] += hit
                rates[name][str(value)][1] += 1
            if not hit and len(failures) < 40:
                failures.append({"plate": text, **factors, "read": [(r.text, r.confidence) for r in reads]})

    def table(counts: dict[str, list[int]]) -> dict[str, float]:
        return {value: round(ok / n, 3) for value, (ok, n) in counts.items()}

    result = {
        "frames": frames,
        "plates": len(plates),
        "exact": exact,
        "exact_rate": round(exact / max(1, frames), 4),
        "exact_gate_would_act_on": exact_actionable,
        "wrong_validated_reads": wrong_validated,
        "wrong_reads_gate_would_act_on": wrong_actionable,
        "gate_min_confidence": gate_confidence,
        # the barrier's decision on each frame alone (real access policy), exact plates only (the default) and
        # with the serial match: with the true plate registered, and with only its twin (same serial, another
        # province) registered, where the car must stay out
        "registered_car_admitted": {
            setting: sum(n for reason, n in counts.items() if reason != "refused")
            for setting, counts in admitted_by.items()
        },
        "registered_car_admitted_by": {setting: dict(counts) for setting, counts in admitted_by.items()},
        "unregistered_twin_admitted": dict(twin_admitted),
        "rate_by": {name: table(counts) for name, counts in rates.items()},
        "p50_cpu_ms": round(float(np.percentile(cpu_ms, 50)), 2),
        "p95_cpu_ms": round(float(np.percentile(cpu_ms, 95)), 2),
        "grid": grid,
        "seed": args.seed,
        "failures_sample": failures,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
