"""Capture: the consumer always gets the newest frame, no backlog grows, failed sources reconnect."""

from __future__ import annotations

import time

import numpy as np

from devices.camera import OpenCVCamera, SimulatedCamera, frame_number
from edge.capture import LatestFrameCapture, MotionGate
from edge.config import MotionSettings
from tests.support.services import wait_until


def test_slow_consumer_gets_latest_frame_without_backlog():
    camera = SimulatedCamera(fps=200)
    capture = LatestFrameCapture("cam-1", camera).start()
    try:
        first = capture.latest(timeout=2)
        assert first is not None
        numbers = [first.number]
        for _ in range(5):
            time.sleep(0.1)  # a recogniser slower than the camera
            frame = capture.latest(after=numbers[-1], timeout=2)
            assert frame is not None
            numbers.append(frame.number)
            newest = camera.produced - 1
            assert frame_number(frame.image) == frame.number
            assert newest - frame.number <= 2, "the frame handed out is the newest one read"
        assert all(b - a >= 5 for a, b in zip(numbers, numbers[1:], strict=False)), f"frames skipped: {numbers}"
        assert capture.overwritten > 20, "unconsumed frames were overwritten, not queued"
    finally:
        capture.stop()


def test_latest_waits_for_a_newer_frame_and_times_out():
    capture = LatestFrameCapture("cam-1", SimulatedCamera(fps=20)).start()
    try:
        frame = capture.latest(timeout=2)
        assert frame is not None
        started = time.monotonic()
        newer = capture.latest(after=frame.number, timeout=2)
        assert newer is not None and newer.number > frame.number
        assert time.monotonic() - started < 0.5
    finally:
        capture.stop()
    stopped = LatestFrameCapture("cam-2", SimulatedCamera(fps=20))
    assert stopped.latest(timeout=0.2) is None, "nothing read yet: None after the timeout"


def test_failed_source_reconnects_with_backoff():
    camera = SimulatedCamera(fps=100, fail_after=10, fail_opens=2)
    capture = LatestFrameCapture("cam-1", camera, backoff_min_s=0.05, backoff_max_s=0.2).start()
    try:
        wait_until(lambda: capture.reconnects >= 2 and capture.frames_read > 25, 10, message="reconnects")
        assert camera.opens >= 4, "two failed opens were retried"
        frame = capture.latest(timeout=2)
        assert frame is not None and frame.number >= 20
    finally:
        capture.stop()


def test_capture_reports_frame_rate():
    capture = LatestFrameCapture("cam-1", SimulatedCamera(fps=50)).start()
    try:
        wait_until(lambda: capture.frames_read > 40, 5)
        assert 35 < capture.fps() < 65
        assert capture.connected
    finally:
        capture.stop()


def test_motion_gate_runs_only_while_something_moves():
    gate = MotionGate(MotionSettings(hold_s=0.5))
    still = np.full((240, 320, 3), 96, dtype=np.uint8)
    assert gate.active(still, 0.0), "first frame primes the background"
    assert not gate.active(still, 1.0), "a still scene after hold_s is not recognised"
    moved = still.copy()
    moved[100:160, 100:180] = 250
    assert gate.active(moved, 2.0)
    assert gate.active(still, 2.3), "held for hold_s after motion"
    assert not gate.active(still, 3.0)
    assert MotionGate(MotionSettings(enabled=False)).active(still, 0.0)


def test_video_file_loops_and_is_paced(shared_data):
    path = shared_data / "video" / "face-demographics-walking.mp4"  # 35 frames at 12.5 fps
    camera = OpenCVCamera(str(path), loop=True, realtime=False)
    capture = LatestFrameCapture("cam-file", camera).start()
    try:
        wait_until(lambda: capture.frames_read > 80, 20, message="more frames than the file holds")
        assert capture.reconnects == 0, "looping restarts the file without reconnecting"
        frame = capture.latest(timeout=2)
        assert frame is not None and frame.image.shape == (270, 480, 3)
    finally:
        capture.stop()
    paced = OpenCVCamera(str(path), realtime=True)
    paced.open()
    started = time.monotonic()
    for _ in range(10):
        assert paced.read() is not None
    paced.close()
    assert time.monotonic() - started > 0.6, "a file is read at its own frame rate (10 frames at 12.5 fps)"


def test_missing_file_keeps_retrying(tmp_path):
    capture = LatestFrameCapture("cam-x", OpenCVCamera(str(tmp_path / "none.mp4")), backoff_min_s=0.05).start()
    try:
        time.sleep(0.4)
        assert not capture.connected and capture.frames_read == 0
        assert capture.latest(timeout=0.1) is None
    finally:
        capture.stop()
