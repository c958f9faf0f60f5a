"""Per-frame latency of the gate face pipeline on one core; the last stdout line is one JSON object.

Wall-clock p50/p95 include waiting for the core when other processes share it; cpu_p50/p95 are the
thread's own CPU time per frame (the work done, whatever the load).

Frames are composed from a real photo: its face is scaled to a typical gate size and pasted onto a real
no-face background (or grey) at 640x480 and 1280x720. The gallery holds the person's real template
among 10,000 templates; the other templates are random vectors with the norm of dlib encodings
(1:N search time does not depend on the values). Every timed frame must be recognised as that person.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.vision.enrol import Enroller  # noqa: E402
from edge.vision.face_config import FacePipelineConfig, MatcherConfig  # noqa: E402
from edge.vision.faces import FaceAnalyser, FaceRecogniser, load_image  # noqa: E402
from edge.vision.gallery import EMBEDDING_DIM, Gallery, Template  # noqa: E402

FRAME_SIZES = {"640x480": (640, 480, 150), "1280x720": (1280, 720, 220)}  # width, height, face px


def pin_to_one_core() -> dict:
    """Limit BLAS pools to one thread (env vars above, threadpoolctl if present) and the process to one CPU."""
    info: dict = {"thread_env": "1"}
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        info["threadpoolctl"] = True
    except ImportError:
        info["threadpoolctl"] = False
    if hasattr(os, "sched_setaffinity"):
        cpu = least_busy_cpu(sorted(os.sched_getaffinity(0)))
        os.sched_setaffinity(0, {cpu})
        info["cpu_affinity"] = [cpu]
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def least_busy_cpu(cpus: list[int]) -> int:
    """The allowed CPU with the most idle time over half a second (the box is shared)."""

    def idle_and_total() -> dict[int, tuple[int, int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                values = [int(v) for v in fields]
                out[int(name[3:])] = (values[3] + values[4], sum(values))
        return out

    try:
        before = idle_and_total()
        time.sleep(0.5)
        after = idle_and_total()
    except OSError:
        return cpus[-1]
    idle = {c: (after[c][0] - before[c][0]) / max(1, after[c][1] - before[c][1]) for c in cpus if c in after}
    return max(idle, key=idle.get) if idle else cpus[-1]


def pick_photo(data: Path, explicit: Path | None) -> Path:
    """The given photo, or the enrolment-quality photo in data/faces with the largest face."""
    if explicit is not None:
        return explicit
    analyser = Enroller().analyser
    best, best_size = None, 0
    for photo in sorted((data / "faces").glob("*/*.jpg")):
        boxes = analyser.detect(load_image(str(photo)))
        if len(boxes) == 1 and boxes[0].width > best_size:
            best, best_size = photo, boxes[0].width
    if best is None:
        raise SystemExit(f"no single-face photo found under {data / 'faces'}")
    return best


def compose_frames(photo: np.ndarray, background: np.ndarray | None, size: tuple[int, int, int]) -> list:
    """Frames of the given size with the photo's face scaled to the target size, at a few positions."""
    width, height, face_px = size
    box = FaceAnalyser(Enroller().config.detector, Enroller().config.quality).detect(photo)[0]
    scale = face_px / box.width
    scaled = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cx, cy = int((box.left + box.right) / 2 * scale), int((box.top + box.bottom) / 2 * scale)
    half = int(face_px * 1.6)
    patch = scaled[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half]
    base = np.full((height, width, 3), 128, np.uint8) if background is None else cv2.resize(background, (width, height))
    frames = []
    for dx in (-40, 0, 40):
        frame = base.copy()
        ph, pw = min(patch.shape[0], height), min(patch.shape[1], width)
        x0 = int(np.clip(width // 2 - pw // 2 + dx, 0, width - pw))
        y0 = int(np.clip(height // 2 - ph // 2, 0, height - ph))
        frame[y0 : y0 + ph, x0 : x0 + pw] = patch[:ph, :pw]
        frames.append(frame)
    return frames


def filler_templates(count: int, norm: float, seed: int = 7) -> list[Template]:
    """Random templates with the typical norm of dlib encodings, for gallery size only."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, EMBEDDING_DIM)).astype(np.float32)
    vectors *= norm / np.linalg.norm(vectors, axis=1, keepdims=True)
    return [Template(f"filler-{i}", f"filler-person-{i // 2}", v) for i, v in enumerate(vectors)]


def percentiles(samples: list[float]) -> dict:
    """p50 / p95 / max of millisecond samples, rounded."""
    values = np.array(samples)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def time_matching(template: Template, sizes: list[int], repeats: int) -> dict:
    """1:N search time for galleries of the given sizes."""
    out = {}
    query = template.vector + np.float32(0.01)
    for size in sizes:
        gallery = Gallery([template, *filler_templates(size - 1, float(np.linalg.norm(template.vector)))])
        matcher = MatcherConfig()
        for _ in range(10):
            gallery.match(query, matcher)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = gallery.match(query, matcher)
            samples.append((time.perf_counter() - start) * 1e3)
        if result.person_id != template.person_id:
            raise SystemExit(f"1:N sanity check failed at {size}: {result}")
        out[f"match_{size}"] = percentiles(samples)
    return out


def main() -> int:
    """Time the full pipeline per frame size and the 1:N search; print the summary JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SC_SHARED_DATA", "../shared/data")))
    parser.add_argument("--photo", type=Path, help="photo with one face (default: largest face in DATA/faces)")
    parser.add_argument("--frames", type=int, default=40, help="timed frames per frame size")
    parser.add_argument("--gallery-size", type=int, default=10_000)
    args = parser.parse_args()
    pinning = pin_to_one_core()
    photo_path = pick_photo(args.data, args.photo)
    photo = load_image(str(photo_path))
    backgrounds = sorted((args.data / "no_face").glob("*.jpg"))
    background = load_image(str(backgrounds[0])) if backgrounds else None
    enrolled = Enroller().enrol_image(photo, "resident-1", str(photo_path))
    if enrolled.template is None:
        raise SystemExit(f"{photo_path} was refused: {enrolled.refusal}")
    norm = float(np.linalg.norm(enrolled.template.vector))
    gallery = Gallery([enrolled.template, *filler_templates(args.gallery_size - 1, norm)])
    config = FacePipelineConfig()
    summary: dict = {"photo": str(photo_path), "gallery_size": len(gallery), "pinning": pinning}
    for name, size in FRAME_SIZES.items():
        frames = compose_frames(photo, background, size)
        recogniser = FaceRecogniser(config, gallery)
        for i in range(3):
            recogniser.process(frames[i % len(frames)], ts=i * 0.1)
        totals, cpu, analyse, recognised_frames, decisions = [], [], [], 0, 0
        for i in range(args.frames):
            start, start_cpu = time.perf_counter(), time.thread_time()
            result = recogniser.process(frames[i % len(frames)], ts=10 + i * 0.1)
            totals.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.thread_time() - start_cpu) * 1e3)
            analyse.append(result.timings_ms["analyse"])
            recognised_frames += any(f.match is not None and f.match.person_id == "resident-1" for f in result.faces)
            decisions += len(result.decisions)
        summary[name] = {
            **percentiles(totals),
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
            "analyse_p50_ms": round(float(np.median(analyse)), 2),
            "frames": args.frames,
            "frames_recognised": recognised_frames,
            "decisions": decisions,
        }
        print(f"{name}: {summary[name]}")
    summary.update(time_matching(enrolled.template, [10_000, 100_000], repeats=300))
    summary["p95_ms_720p"] = summary["1280x720"]["p95_ms"]
    summary["p95_ms_480p"] = summary["640x480"]["p95_ms"]
    summary["match_10k_p50_ms"] = summary["match_10000"]["p50_ms"]
    summary["match_100k_p50_ms"] = summary["match_100000"]["p50_ms"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
