"""python -m edge as a process against a real mosquitto, with simulated devices driven from outside: a card and a
PIN open the door (the relay's journal shows the release and the relock), a door forced or held open raises
alarms a plain subscriber receives, and a QR pass shown to the camera (a rendered video file) is granted once
and refused, with an alarm, every time it is shown again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from devices.scene import SceneCamera
from protocol import build, encode
from protocol.commands import AllowlistEntry, AllowlistSync
from protocol.passes import PassClaims, generate_private_key, public_key_text, sign_token
from protocol.pins import hash_pin
from protocol.topics import command_topic
from tests.conftest import REPO_ROOT
from tests.support.services import wait_until

pytestmark = pytest.mark.integration
SITE, DEVICE = "demo", "access-gate-1"
ALWAYS = {"windows": [{"start": "00:00", "end": "00:00"}]}


class Subscriber:
    """A plain paho client recording everything the device publishes."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(f"sc/v1/{SITE}/{DEVICE}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def data(self, schema: str) -> list[dict]:
        with self._lock:
            return [body["data"] for _, body in self.messages if body["schema"] == schema]

    def decisions(self, method: str) -> list[dict]:
        return [d for d in self.data("access.decision") if d["method"] == method]

    def alarms(self, alarm_type: str) -> list[dict]:
        return [d for d in self.data("alarm") if d["alarm_type"] == alarm_type]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _pass_video(path: Path, token: str) -> None:
    """A camera recording: a phone with the pass held up at 0.5 s and again at 5 s (8 s at 10 fps)."""
    camera = SceneCamera(width=640, height=360, fps=10, noise=0)
    camera.show_qr(token, duration=2.0, start=0.5)
    camera.show_qr(token, duration=2.0, start=5.0)
    camera.write_mp4(path, 8.0)


def _config(port: int, tmp_path: Path, public_key: str) -> dict:
    return {
        "site": SITE,
        "device": DEVICE,
        "data_dir": str(tmp_path / "edge"),
        "broker": {"port": port, "keepalive_s": 5},
        "doors": [
            {
                "id": "door-1",
                "pulse_ms": 600,
                "held_open_s": 1.0,
                "forced_grace_s": 0.2,
                "relay": {"kind": "simulated", "journal": "relay.jsonl"},
                "sensor": {"kind": "simulated"},
            }
        ],
        "gates": [{"id": "north", "door": "door-1"}],
        "card_readers": [{"id": "reader-1", "gate": "north"}],
        "keypads": [{"id": "keypad-1", "gate": "north"}],
        "cameras": [
            {
                "id": "cam-1",
                "source": str(tmp_path / "pass.mp4"),
                "role": "qr",
                "gate": "north",
                "max_recognition_fps": 10,
                "reconnect_min_s": 0.3,
                "reconnect_max_s": 0.5,
                "motion": {"hold_s": 1.0},
            }
        ],
        "access": {
            "schedules": {"residents": ALWAYS, "visitors": ALWAYS},
            "passes": {"public_keys": {"k1": public_key}, "repeat_s": 1.0},
        },
        "simulation": {"control_file": "control.jsonl"},
        "telemetry": {"interval_s": 5},
    }


class Agent:
    """The agent process, its control file and its relay journal."""

    def __init__(self, config_path: Path, data_dir: Path, log_path: Path) -> None:
        self.control = data_dir / "control.jsonl"
        self.journal = data_dir / "relay.jsonl"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", "--config", str(config_path)],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=self._log,
        )

    def send(self, **line) -> None:
        with self.control.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line) + "\n")

    def relay_levels(self) -> list[tuple[float, bool]]:
        if not self.journal.exists():
            return []
        lines = [json.loads(line) for line in self.journal.read_text().splitlines() if line]
        return [(entry["at"], entry["energised"]) for entry in lines if "energised" in entry]

    def locked(self) -> bool:
        levels = self.relay_levels()
        return bool(levels) and not levels[-1][1]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
            self._log.close()


def test_agent_process_runs_doors_passes_and_alarms(mosquitto, tmp_path):
    key = generate_private_key()
    now = datetime.now(UTC)
    claims = PassClaims("vp-test-0001", SITE, ("north",), now - timedelta(hours=1), now + timedelta(hours=1))
    token = sign_token(key, "k1", claims)
    _pass_video(tmp_path / "render.mp4", token)  # the camera finds its file only once the doors are tested
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump(_config(mosquitto.port, tmp_path, public_key_text(key))))
    subscriber = Subscriber(mosquitto.port)
    agent = Agent(config_path, tmp_path / "edge", tmp_path / "agent.log")
    try:
        online = lambda: any(d["state"] == "online" for d in subscriber.data("device.status"))  # noqa: E731
        wait_until(online, 30, interval=0.1, message="agent online")
        time.sleep(0.3)  # the agent subscribes to its commands on connect
        sync = AllowlistSync(
            request_id=uuid.uuid4(),
            mode="full",
            base_version=0,
            version=1,
            upserts=[
                AllowlistEntry(kind="card", value="12345678", person_id="p-1", credential_ref="c-1"),
                AllowlistEntry(
                    kind="pin", value=hash_pin("1201", "482913", log2_n=10), person_id="p-2", credential_ref="pin-2"
                ),
            ],
        )
        payload = encode(build(sync, site=SITE, device=DEVICE, seq=1))
        subscriber.client.publish(command_topic(SITE, DEVICE, "allowlist-sync"), payload, qos=1)
        wait_until(lambda: subscriber.data("cmd.allowlist-sync.result"), 10, message="allowlist applied")
        assert subscriber.data("cmd.allowlist-sync.result")[0]["ok"] is True

        # A card (leading zeros as a reader prints them) releases the lock for pulse_ms, then it relocks.
        agent.send(reader="reader-1", card="0012345678")
        wait_until(lambda: subscriber.decisions("card"), 10, message="card decision")
        card = subscriber.decisions("card")[0]
        assert (card["result"], card["reason"], card["person_id"]) == ("granted", "allowlisted", "p-1")
        wait_until(lambda: [e for _, e in agent.relay_levels()].count(True) == 1 and agent.locked(), 5)
        levels = agent.relay_levels()
        released = next(at for at, energised in levels if energised)
        relocked = next(at for at, energised in levels if not energised and at > released)
        assert 0.55 <= relocked - released < 1.5, "released for the 600 ms pulse (ticked at 20 Hz)"

        # A PIN typed at the keypad; a wrong one is refused.
        agent.send(keypad="keypad-1", account="1201", pin="000000")
        agent.send(keypad="keypad-1", account="1201", pin="482913")
        wait_until(lambda: len(subscriber.decisions("pin")) == 2, 10, message="PIN decisions")
        assert [(d["result"], d["reason"]) for d in subscriber.decisions("pin")] == [
            ("denied", "wrong-pin"),
            ("granted", "allowlisted"),
        ]
        wait_until(agent.locked, 5, message="relocked after the PIN")
        time.sleep(0.3)  # past the forced-open grace after relocking

        # Opened while locked: forced. Then a granted card, and the door left open: held open.
        agent.send(sensor="door-1", active=True)
        wait_until(lambda: subscriber.alarms("door_forced_open"), 10, message="forced-open alarm")
        assert subscriber.alarms("door_forced_open")[0]["door"] == "door-1"
        assert subscriber.alarms("door_forced_open")[0]["severity"] == "critical"
        agent.send(sensor="door-1", active=False)
        agent.send(reader="reader-1", card="12345678")
        wait_until(lambda: len(subscriber.decisions("card")) == 2, 10, message="second card")
        agent.send(sensor="door-1", active=True)
        wait_until(lambda: subscriber.alarms("door_held_open"), 10, message="held-open alarm")
        agent.send(sensor="door-1", active=False)
        assert len(subscriber.alarms("door_forced_open")) == 1, "an opening after a grant is not forced"
        states = [d["state"] for d in subscriber.data("door.state")]
        assert {"forced_open", "open", "held_open", "closed"} <= set(states)

        # The pass in the video: granted the first time, then refused (with an alarm) each time it is shown again.
        assert not subscriber.decisions("qr")
        os.replace(tmp_path / "render.mp4", tmp_path / "pass.mp4")

        def qr_decisions() -> list[dict]:
            return subscriber.decisions("qr")

        wait_until(lambda: len(qr_decisions()) >= 2, 30, interval=0.2, message="the pass shown twice")
        first, *again = qr_decisions()
        assert (first["result"], first["reason"], first["pass_id"]) == ("granted", "visitor-pass", "vp-test-0001")
        assert first["latency_ms"] > 0
        assert again and all((d["result"], d["reason"]) == ("denied", "pass-replayed") for d in again)
        wait_until(lambda: len(subscriber.alarms("pass_replayed")) >= len(again), 10, message="replay alarms")
        assert (tmp_path / "edge" / "used-passes.db").exists()
    finally:
        code = agent.stop()
        subscriber.stop()
    assert code == 0, (tmp_path / "agent.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "agent.log").read_text()
