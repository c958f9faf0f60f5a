"""The scene and community simulators: rendered plates the real plate recogniser reads, QR passes the edge
decodes from frames, real face photos the face detector finds, MP4 output, and deterministic traffic."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import cv2
import pytest

from devices.clock import ManualClock
from devices.community import Community, SimulatedGate
from devices.errors import DeviceError
from devices.scene import SceneCamera, face_photos, plate_colour_for, render_plate
from edge.access.qr_code import QrReader


@pytest.fixture(scope="module")
def plate_recogniser():
    from edge.vision.plates import PlateRecogniser

    return PlateRecogniser()


@pytest.mark.parametrize("plate", ["沪A12345", "粤BD12345", "苏E7Q21学"])
def test_rendered_plate_on_a_car_is_read_by_the_plate_recogniser(plate_recogniser, plate):
    """A car stopping at the barrier shows a plate the real recogniser reads back, with its colour."""
    camera = SceneCamera(640, 480, fps=10, seed=1)
    camera.drive_car(plate, duration=4.0)
    frames = [camera.read() for _ in range(25)]  # 2.5 s: the car has stopped
    reads = plate_recogniser.read(frames[-1])
    assert [read.text for read in reads] == [plate]
    assert reads[0].colour.value == plate_colour_for(plate)
    assert plate_recogniser.read(frames[0]) == []  # before the plate is in view


def test_render_plate_sizes():
    """Ordinary plates are 440:140, new-energy 480:140."""
    assert render_plate("沪A12345", height=140).shape == (140, 440, 3)
    assert render_plate("粤BD12345", height=140).shape == (140, 480, 3)


def test_qr_in_scene_is_decoded_only_while_shown():
    """A pass held up for 2 s decodes from the frames of those 2 s only."""
    camera = SceneCamera(640, 480, fps=5)
    token = "SCP1." + "t" * 180 + ".sig"
    camera.read()
    camera.show_qr(token, duration=2.0)
    reader = QrReader()
    decoded = [reader.decode(camera.read()) for _ in range(15)]
    assert decoded[:10] == [[token]] * 10 and decoded[10:] == [[]] * 5


def test_motion_gated_scene_gives_no_frame_when_empty():
    """With idle frames off, read() is None until something is in view."""
    camera = SceneCamera(320, 240, fps=5, idle_frames=False)
    assert camera.read() is None
    camera.show_qr("hello", duration=1.0)
    assert camera.read() is not None


def test_scene_writes_an_mp4_opencv_reads_back(tmp_path):
    """The scene records to MP4 with the requested frame count and size."""
    camera = SceneCamera(320, 240, fps=10)
    camera.drive_car("沪A12345", duration=2.0)
    path = tmp_path / "scene.mp4"
    assert camera.write_mp4(path, 2.0) == 20
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 20 and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320
    capture.release()


def test_face_walk_with_real_photos_is_detected(shared_data):
    """A real photo walking up to the door becomes a face the face detector finds in the final frames."""
    from edge.vision.face_config import FacePipelineConfig
    from edge.vision.faces import FaceAnalyser

    photos = face_photos(shared_data / "faces")
    assert len(photos) >= 5
    config = FacePipelineConfig()
    analyser = FaceAnalyser(config.detector, config.quality)
    camera = SceneCamera(1280, 720, fps=10)
    camera.walk_face(photos["obama"][0], duration=3.0)
    frames = [camera.read() for _ in range(30)]
    assert analyser.detect(frames[-1]), "no face found on the scene frame"
    with pytest.raises(DeviceError):
        face_photos(shared_data / "does-not-exist")


def test_community_traffic_is_deterministic_and_lawful():
    """Same seed, same traffic; doors never accept face alone; every presentation names a configured door."""
    day = date(2025, 6, 2)

    def issue(pass_id, gate, not_before, expires):
        return f"{pass_id}|{gate}|{not_before.isoformat()}|{expires.isoformat()}"

    first = list(Community(seed=3).day(day, issue))
    second = list(Community(seed=3).day(day, issue))
    other = list(Community(seed=4).day(day, issue))
    assert first == second and first != other
    community = Community(seed=3)
    doors = {door["id"]: door for door in community.door_configs()}
    assert all({"card", "pin", "qr"} & set(door["methods"]) or "plate" in door["methods"] for door in doors.values())
    assert {item.door for item in first} <= set(doors)
    assert [item.at for item in first] == sorted(item.at for item in first)
    methods = {item.method for item in first}
    assert {"card", "pin", "qr", "face", "plate", "force"} <= methods


def test_simulated_gate_opens_the_door_only_after_release():
    """A waiting person opens the door once its relay releases, and closes it again."""
    community = Community(gates=1, residents=2)
    tz = ZoneInfo("Asia/Shanghai")
    clock = ManualClock(datetime.combine(date(2025, 6, 2), time(9), tz))
    hardware = SimulatedGate(community, clock)
    door = hardware.doors["gate-1-in"]
    from devices.community import Presentation

    hardware.deliver(Presentation(clock.now(), "gate-1", "gate-1-in", "card", "p", "1"))
    assert door.reader.read(0).card_number == "1"
    hardware.physics()
    assert hardware.next_action_at() is None, "locked: nobody opens the door"
    door.relay.set(True)
    hardware.physics()
    clock.advance(1.0)
    hardware.physics()
    assert door.sensor.active
    clock.advance(3.0)
    hardware.physics()
    assert not door.sensor.active


def test_every_signed_pass_on_a_scene_frame_decodes():
    """Forty real pass tokens held up in the scene all decode on the first frame (no retry needed)."""
    from datetime import UTC, timedelta

    from edge.access.qr_pass import PassSigner, VisitorPass, generate_private_key

    signer, reader = PassSigner(generate_private_key(), "k1"), QrReader()
    start = datetime(2025, 6, 2, tzinfo=UTC)
    misses = []
    for n in range(40):
        token = signer.issue(VisitorPass(f"visit-{n}", "demo", ("gate-2",), start, start + timedelta(hours=3)))
        camera = SceneCamera(640, 480, seed=n)
        camera.show_qr(token, 1.0)
        if reader.decode(camera.read()) != [token]:
            misses.append(n)
    assert misses == []
