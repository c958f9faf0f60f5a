"""A real video through the real face pipeline: capture -> dlib -> gallery vote -> local decision -> relay -> event."""

from __future__ import annotations

import json

import cv2
import pytest

from devices.camera import OpenCVCamera
from devices.relay import SimulatedRelay
from edge.allowlist import AllowlistSnapshot
from edge.capture import LatestFrameCapture
from edge.config import CameraSettings, DecisionPolicy, DoorSettings, GateSettings
from edge.gate import Door, GateController
from edge.outbox import Outbox
from edge.pipeline import CameraPipeline
from edge.publisher import EdgePublisher
from edge.telemetry import LatencyStats
from edge.vision.face_config import FacePipelineConfig
from edge.vision.faces import FaceAnalyser, FaceRecogniser
from edge.vision.gallery import Gallery, Template
from protocol.broker import BrokerSettings
from tests.support.services import wait_until

pytestmark = pytest.mark.data
VIDEO = "head-pose-face-female-and-male.mp4"  # 56 frames at 12.5 fps; frontal faces in the first 15 frames


def _enrol_from_video(path, config: FacePipelineConfig) -> Template:
    capture = cv2.VideoCapture(str(path))
    for _ in range(6):
        ok, frame = capture.read()
        assert ok
    capture.release()
    faces = FaceAnalyser(config.detector, config.quality).analyse(frame)
    usable = [face for face in faces if face.usable]
    assert usable, "the enrolment frame has a usable face"
    return Template("t-video", "p-video", usable[0].encoding)


def test_face_on_video_opens_the_door_and_records_the_passage(shared_data, tmp_path):
    path = shared_data / "video" / VIDEO
    config = FacePipelineConfig()
    gallery = Gallery([_enrol_from_video(path, config)], version=1)
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = EdgePublisher(BrokerSettings(port=1), outbox, site="demo", device="gate-1")
    relay = SimulatedRelay("door-1")
    gate = GateController(
        GateSettings(id="lobby", door="door-1"),
        Door(DoorSettings(id="door-1", pulse_ms=800), relay),
        publisher,
        lambda: AllowlistSnapshot(),
        DecisionPolicy(),
    )
    camera = CameraSettings(id="cam-1", source=str(path), role="face", gate="lobby", loop=True, max_recognition_fps=6)
    capture = LatestFrameCapture("cam-1", OpenCVCamera(str(path), loop=True, realtime=True))
    latency = LatencyStats()
    pipeline = CameraPipeline(camera, capture, gate, latency, faces=FaceRecogniser(config, gallery)).start()
    try:
        wait_until(lambda: relay.pulses, 40, interval=0.1, message="door opened by face")
    finally:
        pipeline.stop()
    events = [json.loads(item.payload) for item in outbox.pending()]
    granted = [e["data"] for e in events if e["schema"] == "access.decision" and e["data"]["result"] == "granted"]
    assert granted and granted[0]["method"] == "face" and granted[0]["person_id"] == "p-video"
    assert granted[0]["reason"] == "gallery-match" and 0.5 < granted[0]["score"] <= 1.0
    p50, p95 = latency.percentiles()
    assert p50 is not None and p95 >= p50 > 0
    assert pipeline.frames_recognised >= 3
    assert capture.frames_read > pipeline.frames_recognised, "capture ran ahead of recognition, never waited for it"
    assert 8 < capture.fps() < 16, "the file was read at its own rate (12.5 fps) while recognition ran"
