"""Cameras: the frame-source interface, an OpenCV driver (RTSP, USB, file) and a synthetic simulator."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """A camera source cannot be opened."""


class FrameSource(Protocol):
    """Something frames are read from, one at a time; `read` blocks until the next frame is due."""

    def open(self) -> None:
        """Open the source or raise CameraError."""

    def read(self) -> np.ndarray | None:
        """The next frame, or None when the source failed or ended (the caller reopens it)."""

    def close(self) -> None:
        """Release the source."""


def _is_stream(source: str) -> bool:
    """True for network streams (RTSP, HTTP)."""
    return "://" in source


class OpenCVCamera:
    """An OpenCV capture of an RTSP/HTTP stream, a USB camera (integer index) or a video file."""

    def __init__(self, source: str | int, *, loop: bool = False, realtime: bool = True) -> None:
        self.source = source
        self.loop = loop
        self.realtime = realtime
        self.is_file = isinstance(source, str) and not _is_stream(source)
        self._capture: cv2.VideoCapture | None = None
        self._frame_interval = 0.0
        self._next_due = 0.0

    def open(self) -> None:
        """Open the source; streams use FFmpeg over TCP so lost packets do not tear frames."""
        if isinstance(self.source, str) and _is_stream(self.source):
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG)
        elif self.is_file:
            if not os.path.isfile(self.source):
                raise CameraError(f"video file {self.source} does not exist")
            capture = cv2.VideoCapture(self.source)
        else:
            capture = cv2.VideoCapture(int(self.source))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"cannot open camera source {self.source!r}")
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        self._frame_interval = 1.0 / fps if self.is_file and self.realtime and 0 < fps <= 240 else 0.0
        self._next_due = time.monotonic()
        self._capture = capture

    def read(self) -> np.ndarray | None:
        """The next frame (a file is paced at its own frame rate and restarted when it loops)."""
        if self._capture is None:
            return None
        ok, frame = self._capture.read()
        if not ok and self.is_file and self.loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok:
            return None
        if self._frame_interval:
            self._next_due += self._frame_interval
            delay = self._next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                self._next_due = time.monotonic()
        return frame

    def close(self) -> None:
        """Release the capture."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class SimulatedCamera:
    """Synthetic frames at a fixed rate: a grey field with the frame number stamped in its first pixels.

    `fail_after` frames the source "breaks" (read returns None) and `fail_opens` further opens fail, to
    exercise reconnects; `moving` draws a square that moves, for motion gating.
    """

    def __init__(
        self,
        fps: float = 25.0,
        size: tuple[int, int] = (320, 240),
        *,
        fail_after: int | None = None,
        fail_opens: int = 0,
        moving: bool = False,
    ) -> None:
        self.fps = fps
        self.width, self.height = size
        self.fail_after = fail_after
        self.fail_opens = fail_opens
        self.moving = moving
        self.opens = 0
        self.produced = 0
        self._open = False
        self._since_open = 0
        self._next_due = 0.0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open, or fail while `fail_opens` failures remain."""
        with self._lock:
            self.opens += 1
            if self.opens > 1 and self.fail_opens > 0:
                self.fail_opens -= 1
                raise CameraError("simulated camera: open failed")
            self._open, self._since_open = True, 0
            self._next_due = time.monotonic()

    def set_moving(self, moving: bool) -> None:
        """Start or stop the moving square."""
        self.moving = moving

    def read(self) -> np.ndarray | None:
        """The next frame at the configured rate, or None when the simulated link breaks."""
        if not self._open:
            return None
        if self.fail_after is not None and self._since_open >= self.fail_after:
            self._open = False
            return None
        self._next_due += 1.0 / self.fps
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        frame = np.full((self.height, self.width, 3), 96, dtype=np.uint8)
        number = self.produced
        frame[0, 0:4, 0] = np.frombuffer(number.to_bytes(4, "big"), dtype=np.uint8)
        if self.moving:
            x = (number * 7) % max(1, self.width - 40)
            frame[100:140, x : x + 40] = 250
        self.produced += 1
        self._since_open += 1
        return frame

    def close(self) -> None:
        """Close the simulated link."""
        self._open = False


def frame_number(frame: np.ndarray) -> int:
    """The frame number a SimulatedCamera stamped into a frame."""
    return int.from_bytes(frame[0, 0:4, 0].tobytes(), "big")
