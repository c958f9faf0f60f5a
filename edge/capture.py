"""Frame capture: a reader thread keeps only the newest frame, reconnects with backoff; motion gating."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from devices.camera import CameraError, FrameSource
from edge.config import MotionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured frame: its number since the capture started and when it was read (monotonic seconds)."""

    camera: str
    number: int
    ts: float
    image: np.ndarray


class LatestFrameCapture:
    """Reads a source on its own thread into a one-frame slot: consumers always get the newest frame.

    Older unconsumed frames are overwritten (counted in `overwritten`), so a slow consumer never builds a
    backlog. A failed or ended source is reopened with exponential backoff.
    """

    def __init__(
        self,
        camera: str,
        source: FrameSource,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.source = source
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self._clock = clock
        self._slot: Frame | None = None
        self._consumed = -1
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera}", daemon=True)
        self._read_times: deque[float] = deque(maxlen=120)
        self.connected = False
        self.frames_read = 0
        self.overwritten = 0
        self.reconnects = 0

    def start(self) -> LatestFrameCapture:
        """Start the reader thread."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and release the source."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)

    def latest(self, after: int = -1, timeout: float = 1.0) -> Frame | None:
        """The newest frame numbered above `after`, waiting up to `timeout` for one; None if none came."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._slot is None or self._slot.number <= after:
                remaining = deadline - self._clock()
                if remaining <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(remaining)
            frame = self._slot
            self._consumed = max(self._consumed, frame.number)
            return frame

    def fps(self, window_s: float = 5.0) -> float:
        """Frames read per second over the last `window_s` seconds."""
        now = self._clock()
        recent = [t for t in list(self._read_times) if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def _run(self) -> None:
        """Open, read until failure, back off, reopen; until stopped."""
        delay = self.backoff_min_s
        while not self._stop.is_set():
            try:
                self.source.open()
            except (CameraError, cv2.error, OSError) as err:
                log.warning("camera %s: %s; retrying in %.1f s", self.camera, err, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            self.connected = True
            log.info("camera %s: connected", self.camera)
            got_frame = self._read_until_failure()
            self.connected = False
            self._safe_close()
            if self._stop.is_set():
                break
            self.reconnects += 1
            delay = self.backoff_min_s if got_frame else min(delay * 2, self.backoff_max_s)
            log.warning("camera %s: source failed; reopening in %.1f s", self.camera, delay)
            self._stop.wait(delay)
        self._safe_close()

    def _read_until_failure(self) -> bool:
        """Read frames into the slot until the source fails or we are stopped; True if any frame came."""
        got_frame = False
        while not self._stop.is_set():
            try:
                image = self.source.read()
            except (cv2.error, OSError) as err:
                log.warning("camera %s: read failed: %s", self.camera, err)
                image = None
            if image is None:
                return got_frame
            got_frame = True
            now = self._clock()
            self._read_times.append(now)
            with self._cond:
                if self._slot is not None and self._slot.number > self._consumed:
                    self.overwritten += 1
                self._slot = Frame(self.camera, self.frames_read, now, image)
                self.frames_read += 1
                self._cond.notify_all()
        return got_frame

    def _safe_close(self) -> None:
        """Close the source, logging instead of raising."""
        try:
            self.source.close()
        except (cv2.error, OSError) as err:
            log.debug("camera %s: close failed: %s", self.camera, err)


class MotionGate:
    """Says whether the scene moved recently: thumbnail difference against a running background average."""

    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self._background: np.ndarray | None = None
        self._last_motion = float("-inf")
        self.last_changed_fraction = 0.0

    def active(self, image: np.ndarray, ts: float) -> bool:
        """True when the frame moved, or moved within the last hold_s seconds (always true when disabled)."""
        cfg = self.settings
        if not cfg.enabled:
            return True
        height, width = image.shape[:2]
        thumb_height = max(1, round(height * cfg.width / max(width, 1)))
        grey = (
            cv2.cvtColor(cv2.resize(image, (cfg.width, thumb_height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            if image.ndim == 3
            else cv2.resize(image, (cfg.width, thumb_height))
        )
        grey = cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey
            self._last_motion = ts
            return True
        changed = np.abs(grey - self._background) > cfg.pixel_threshold
        self.last_changed_fraction = float(changed.mean())
        cv2.accumulateWeighted(grey, self._background, cfg.background_alpha)
        if self.last_changed_fraction >= cfg.min_changed_fraction:
            self._last_motion = ts
        return ts - self._last_motion <= cfg.hold_s
