"""A real video through the real face pipeline: capture -> dlib -> gallery vote -> local decision -> relay -> event."""

from __future__ import annotations

import json

import cv2
import pytest

from devices.camera import OpenCVCamera
from devices.relay import SimulatedRelay
from edge.access.allowlist import Allowlist
from edge.access.gate import AccessPoint
from edge.access.policy import AccessPolicy
from edge.capture import LatestFrameCapture
from edge.config import CameraSettings, parse_config
from edge.gate import GateController
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


def _gate(
    tmp_path, door: str, gate: str, role: str, entries=(), decision: dict | None = None
) -> tuple[GateController, SimulatedRelay, Outbox]:
    """A gate of the agent as python -m edge builds it: config -> AccessPolicy -> AccessPoint -> GateController."""
    config = parse_config(
        {
            "site": "demo",
            "device": "gate-1",
            "data_dir": str(tmp_path / "edge"),
            "doors": [{"id": door, "pulse_ms": 800}],
            "gates": [{"id": gate, "door": door}],
            "cameras": [{"id": "cam-1", "source": "unused", "role": role, "gate": gate}],
            "faces" if role == "face" else "plates": {},
            "decision": decision or {},
        },
        "test",
    )
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = EdgePublisher(BrokerSettings(port=1), outbox, site="demo", device="gate-1")
    allowlist = Allowlist(entries, version=1)
    relay = SimulatedRelay(door)
    point = AccessPoint(door, AccessPolicy(config.access_config(), allowlist), relay, publisher.send)
    return GateController(config.gates[0], point, publisher.send, config.decision, allowlist), relay, outbox


def _opened(relay: SimulatedRelay) -> int:
    """How many times the lock was released (or the arm raised)."""
    return sum(1 for _, energised in relay.changes if energised)


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
    gate, relay, outbox = _gate(tmp_path, "door-1", "lobby", "face")
    camera = CameraSettings(id="cam-1", source=str(path), role="face", gate="lobby", loop=True, max_recognition_fps=6)
    capture = LatestFrameCapture("cam-1", OpenCVCamera(str(path), loop=True, realtime=True))
    latency = LatencyStats()
    pipeline = CameraPipeline(camera, capture, gate, latency, faces=FaceRecogniser(config, gallery)).start()
    try:
        wait_until(lambda: _opened(relay), 40, interval=0.1, message="door opened by face")
    finally:
        pipeline.stop()
    events = [json.loads(item.payload) for item in outbox.pending()]
    granted = [e["data"] for e in events if e["schema"] == "access.decision" and e["data"]["result"] == "granted"]
    assert granted and granted[0]["method"] == "face" and granted[0]["person_id"] == "p-video"
    assert granted[0]["reason"] == "face-match" and 0.5 < granted[0]["score"] <= 1.0
    p50, p95 = latency.percentiles()
    assert p50 is not None and p95 >= p50 > 0
    assert pipeline.frames_recognised >= 3
    assert capture.frames_read > pipeline.frames_recognised, "capture ran ahead of recognition, never waited for it"
    assert 8 < capture.fps() < 16, "the file was read at its own rate (12.5 fps) while recognition ran"


def _plate_pipeline(tmp_path, entries):
    from edge.config import PlateSettings
    from edge.vision.plates import PlateRecogniser

    gate, relay, outbox = _gate(tmp_path, "barrier-1", "car-in", "plate", entries)
    settings = PlateSettings(passage_gap_s=1.0, vote={"min_reads": 2})
    camera = CameraSettings(id="cam-lpr", source="unused", role="plate", gate="car-in")
    capture = LatestFrameCapture("cam-lpr", OpenCVCamera("unused"))
    pipeline = CameraPipeline(camera, capture, gate, LatencyStats(), plates=PlateRecogniser(), plate_settings=settings)
    return pipeline, relay, outbox


@pytest.mark.parametrize("registered", [True, False])
def test_plate_passage_decides_once_and_records_the_voted_plate(shared_data, tmp_path, registered):
    from edge.capture import Frame
    from protocol.commands import AllowlistEntry

    entry = AllowlistEntry(kind="plate", value="京FK5358", person_id="p-car", credential_ref="v-1")
    pipeline, relay, outbox = _plate_pipeline(tmp_path, [entry] if registered else [])
    image = cv2.imread(str(shared_data / "plates" / "京FK5358_1.jpg"))
    for number in range(4):
        pipeline.recognise(Frame("cam-lpr", number, float(number) * 0.2, image))
    decisions = [json.loads(i.payload)["data"] for i in outbox.pending() if b"access.decision" in i.payload]
    assert len(decisions) == 1, "one decision per passage, taken once the vote is strong enough"
    assert decisions[0]["method"] == "plate"
    if registered:
        assert decisions[0]["result"] == "granted" and decisions[0]["credential_ref"] == "v-1"
        assert _opened(relay) == 1, "the barrier arm went up once"
    else:
        assert decisions[0]["result"] == "denied" and decisions[0]["reason"] == "unknown-plate"
        assert _opened(relay) == 0
    pipeline.passage.tick(0.6 + 0.5)
    assert not [i for i in outbox.pending() if b"plate.read" in i.payload], "the passage is still going on"
    pipeline.passage.tick(0.6 + 1.1)
    reads = [json.loads(i.payload)["data"] for i in outbox.pending() if b"plate.read" in i.payload]
    assert len(reads) == 1 and reads[0]["plate"] == "京FK5358" and reads[0]["frames"] == 4
    assert reads[0]["colour"] == pipeline.plates.read(image)[0].colour.value and reads[0]["validated"] is True
    assert reads[0]["vehicle_id"] == ("v-1" if registered else None)
