"""Per-camera recognition loop: newest frame -> motion gate -> faces / plates / QR passes -> gate decision.

Recognition runs on its own thread and takes the newest frame from the capture's one-frame slot, so a slow
recogniser skips frames instead of slowing the capture or building a backlog.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from edge.capture import Frame, LatestFrameCapture, MotionGate
from edge.config import CameraSettings, PlateSettings
from edge.gate import GateController
from edge.telemetry import LatencyStats
from edge.vision.face_errors import FaceError
from edge.vision.faces import FaceRecogniser
from edge.vision.plate_ocr import PlateOcrError
from edge.vision.plate_voting import PlateVoter
from edge.vision.plates import PlateRecogniser

log = logging.getLogger(__name__)


class PlatePassage:
    """Reads of the vehicle in front of one camera, voted; decides once, records the plate when it leaves."""

    def __init__(self, settings: PlateSettings, gate: GateController) -> None:
        self.settings = settings
        self.gate = gate
        self.voter = PlateVoter(settings.vote)
        self._ids = itertools.count(1)
        self._current: str | None = None
        self._last_read = 0.0
        self._frames = 0
        self._decided = False

    def add(self, reads: list, ts: float, latency_ms: float) -> None:
        """Add one frame's reads; decide as soon as the vote is strong enough."""
        if not reads:
            return
        if self._current is None:
            self._current, self._frames, self._decided = f"v{next(self._ids)}", 0, False
        self.voter.add(self._current, reads)
        self._frames += 1
        self._last_read = ts
        voted = self.voter.result(self._current)
        policy = self.gate.policy
        strong = voted is not None and policy.plate_decidable(voted)
        if strong and not self._decided and (voted.validated or not policy.plate_requires_validated):
            self.gate.plate(voted, self._frames, latency_ms)
            self._decided = True

    def tick(self, ts: float) -> None:
        """End the passage after passage_gap_s without reads: record the plate (and refuse an unread one)."""
        if self._current is None or ts - self._last_read < self.settings.passage_gap_s:
            return
        voted = self.voter.finish(self._current)
        self._current = None
        if voted is None:
            return
        if not self._decided:
            self.gate.plate(voted, self._frames)
        self.gate.plate_read(voted, self._frames)


class CameraPipeline:
    """Runs recognition for one camera on its own thread."""

    def __init__(
        self,
        settings: CameraSettings,
        capture: LatestFrameCapture,
        gate: GateController,
        latency: LatencyStats,
        faces: FaceRecogniser | None = None,
        plates: PlateRecogniser | None = None,
        plate_settings: PlateSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.capture = capture
        self.gate = gate
        self.latency = latency
        self.faces = faces
        self.plates = plates
        self.passage = PlatePassage(plate_settings, gate) if plates is not None and plate_settings else None
        self.reads_passes = gate.reads_passes
        self.motion = MotionGate(settings.motion)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recognise-{settings.id}", daemon=True)
        self.frames_recognised = 0
        self.frames_skipped_still = 0

    def start(self) -> CameraPipeline:
        """Start capture and recognition."""
        self.capture.start()
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop recognition, then capture."""
        self._stop.set()
        self._thread.join(timeout)
        self.capture.stop(timeout)

    def _run(self) -> None:
        """Take the newest frame, gate on motion and rate, recognise; until stopped."""
        last_number = -1
        last_run = float("-inf")
        min_interval = 1.0 / self.settings.max_recognition_fps
        while not self._stop.is_set():
            frame = self.capture.latest(after=last_number, timeout=0.5)
            now = self._clock()
            if self.passage is not None:
                self.passage.tick(now)
            if frame is None:
                continue
            last_number = frame.number
            if not self.motion.active(frame.image, frame.ts):
                self.frames_skipped_still += 1
                continue
            wait = last_run + min_interval - now
            if wait > 0 and self._stop.wait(wait):
                break
            last_run = self._clock()
            try:
                self.recognise(frame)
            except (FaceError, PlateOcrError, ValueError) as err:
                log.warning("camera %s: recognition failed on frame %d: %s", self.settings.id, frame.number, err)
            except Exception:  # noqa: BLE001 - one bad frame must not stop the gate
                log.exception("camera %s: recognition crashed on frame %d", self.settings.id, frame.number)

    def recognise(self, frame: Frame) -> None:
        """Run the configured recognisers on one frame and hand their results to the gate."""
        started = time.perf_counter()
        face_decisions = self.faces.process(frame.image, ts=frame.ts).decisions if self.faces else []
        reads = self.plates.read(frame.image) if self.plates else []
        latency_ms = (time.perf_counter() - started) * 1000
        self.frames_recognised += 1
        for decision in face_decisions:
            self.gate.face(decision, latency_ms)
        if self.passage is not None:
            self.passage.add(reads, frame.ts, latency_ms)
        if self.reads_passes:
            self.gate.frame(frame.image)  # QR passes: 5-30 ms a frame, only on frames the motion gate let through
        self.latency.record((time.perf_counter() - started) * 1000)
