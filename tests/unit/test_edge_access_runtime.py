"""The agent's access runtime built from configs: the examples' doors, derived methods, anti-passback across an
in/out pair, barrier tailgating from the loop, the control file, and real drivers (GPIO mock pins, a serial pty)."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from edge.app import EdgeAgent
from edge.config import ConfigError, load_config, parse_config
from edge.vision.crypto import encode_key, generate_key
from protocol.broker import BrokerSettings
from protocol.commands import AllowlistEntry, AllowlistSync
from tests.conftest import REPO_ROOT
from tests.support.services import wait_until

EXAMPLES = REPO_ROOT / "configs" / "edge"


@pytest.fixture()
def agents():
    """Agents built (never started) by a test, closed after it."""
    built: list[EdgeAgent] = []
    yield built
    for agent in built:
        agent.devices.close()
        agent.allowlist.close()
        agent.outbox.close()


def _example(name: str, tmp_path, agents, monkeypatch) -> EdgeAgent:
    """An example config with its data under tmp_path and no broker (certificates are made at deployment)."""
    monkeypatch.setenv("SC_FACE_GALLERY_KEY", encode_key(generate_key()))
    config = load_config(EXAMPLES / name)
    config = config.model_copy(update={"data_dir": tmp_path / "edge", "broker": BrokerSettings(port=1)})
    agent = EdgeAgent(config)
    agents.append(agent)
    return agent


def _sync(agent: EdgeAgent, *entries: AllowlistEntry) -> None:
    agent.allowlist.apply(
        AllowlistSync(request_id=uuid.uuid4(), mode="full", base_version=0, version=1, upserts=list(entries))
    )


def _events(agent: EdgeAgent, schema: str) -> list[dict]:
    return [json.loads(i.payload)["data"] for i in agent.outbox.pending() if json.loads(i.payload)["schema"] == schema]


def _control(agent: EdgeAgent, **line) -> None:
    assert agent.control is not None and agent.control.apply(json.dumps(line))
    agent.runner.step()


def test_example_card_gate_runs_anti_passback_across_its_in_and_out_doors(tmp_path, agents, monkeypatch):
    agent = _example("card-gate.yaml", tmp_path, agents, monkeypatch)
    assert set(agent.points) == {"door-in", "door-out"} and set(agent.devices.sensors) == {"door-in", "door-out"}
    assert [m.value for m in agent.points["door-in"].config.methods] == ["card", "pin", "qr"]
    assert agent.gates["north"].reads_passes and agent.used_passes is not None
    _sync(agent, AllowlistEntry(kind="card", value="12345678", person_id="p-1", credential_ref="c-1"))
    _control(agent, reader="reader-in", card="0012345678")
    _control(agent, reader="reader-in", card="12345678")
    _control(agent, reader="reader-out", card="12345678")
    _control(agent, reader="reader-in", card="12345678")
    decisions = [(d["gate"], d["result"], d["reason"]) for d in _events(agent, "access.decision")]
    assert decisions == [
        ("north", "granted", "allowlisted"),
        ("north", "denied", "anti-passback"),
        ("north-out", "granted", "allowlisted"),
        ("north", "granted", "allowlisted"),
    ]
    assert agent.relays["door-in"].energised and agent.relays["door-out"].energised


def test_example_door_contact_raises_forced_and_held_open_alarms(tmp_path, agents, monkeypatch):
    agent = _example("card-gate.yaml", tmp_path, agents, monkeypatch)
    _control(agent, sensor="door-out", active=True)
    _control(agent, sensor="door-out", active=False)
    alarms = _events(agent, "alarm")
    assert [(a["alarm_type"], a["door"], a["gate"]) for a in alarms] == [("door_forced_open", "door-out", "north-out")]
    door = agent.points["door-in"].controller
    agent.gates["north"].remote_open(3000, "op-1", "test")
    _control(agent, sensor="door-in", active=True)
    door.tick(time.monotonic() + 31)
    assert [a["alarm_type"] for a in _events(agent, "alarm")][1:] == ["door_held_open"]


def test_example_vehicle_barrier_alarms_a_tailgater_from_the_loop(tmp_path, agents, monkeypatch):
    agent = _example("vehicle-gate.yaml", tmp_path, agents, monkeypatch)
    point = agent.points["barrier-1"]
    assert point.config.kind.value == "barrier"
    _sync(agent, AllowlistEntry(kind="plate", value="京A12345", person_id="p-1", credential_ref="v-1"))
    assert point.plate("京A12345", 0.95).granted and agent.relays["barrier-1"].energised
    _control(agent, sensor="barrier-1", active=True)
    _control(agent, sensor="barrier-1", active=False)
    assert not agent.relays["barrier-1"].energised, "lowered once the authorised car cleared the loop"
    _control(agent, sensor="barrier-1", active=True)
    assert [a["alarm_type"] for a in _events(agent, "alarm")] == ["tailgating"]
    assert agent.relays["barrier-1"].energised, "never lowered onto the following car"


def test_example_face_gate_accepts_card_face_and_passes(tmp_path, agents, monkeypatch):
    agent = _example("face-gate.yaml", tmp_path, agents, monkeypatch)
    methods = [m.value for m in agent.points["door-1"].config.methods]
    assert methods == ["card", "face", "qr"] and agent.pipelines[0].reads_passes


def _minimal(tmp_path, **door) -> dict:
    return {
        "site": "demo",
        "device": "gate-1",
        "data_dir": str(tmp_path / "edge"),
        "doors": [{"id": "door-1", **door}],
        "gates": [{"id": "north", "door": "door-1"}],
        "cameras": [{"id": "cam-1", "source": 0, "role": "face", "gate": "north"}],
        "faces": {},
    }


def test_face_alone_is_refused_naming_the_rule(tmp_path):
    with pytest.raises(ConfigError, match=r"test: doors\.0: .*face recognition may not be the only way"):
        parse_config(_minimal(tmp_path, methods=["face"]), "test")
    with pytest.raises(ConfigError, match=r"doors\.0: a door belongs to exactly one gate"):
        parse_config({**_minimal(tmp_path), "gates": []}, "test")
    with pytest.raises(ConfigError, match=r"access\.passes\.public_keys: .*key 'k1'"):
        parse_config({**_minimal(tmp_path), "access": {"passes": {"public_keys": {"k1": "nope"}}}}, "test")


def test_real_drivers_gpio_relay_and_contact_serial_reader(tmp_path, agents, monkeypatch):
    mock_pins = pytest.importorskip("gpiozero.pins.mock", reason="gpiozero is the optional extra 'gpio'")
    pytest.importorskip("serial", reason="pyserial is the optional extra 'serial'")
    from gpiozero import Device

    monkeypatch.setattr(Device, "pin_factory", mock_pins.MockFactory())
    master, slave = os.openpty()
    try:
        document = _minimal(tmp_path, relay={"kind": "gpio", "pin": 17}, pulse_ms=200, forced_grace_s=0.1)
        document["doors"][0]["sensor"] = {"kind": "gpio", "pin": 27, "pull_up": False, "bounce_s": None}
        document["card_readers"] = [{"id": "r-1", "gate": "north", "kind": "serial", "port": os.ttyname(slave)}]
        document.pop("cameras"), document.pop("faces")
        agent = EdgeAgent(parse_config(document, "test"))
        agents.append(agent)
        _sync(agent, AllowlistEntry(kind="card", value="12345678", person_id="p-1", credential_ref="c-1"))
        os.write(master, b"0012345678\r\n")
        wait_until(lambda: agent.runner.step() and _events(agent, "access.decision"), 5, message="serial swipe")
        assert _events(agent, "access.decision")[0]["result"] == "granted"
        assert Device.pin_factory.pin(17).state, "the GPIO relay releases the lock"
        wait_until(lambda: agent.runner.step() is not None and not Device.pin_factory.pin(17).state, 2)
        time.sleep(0.2)  # past the forced-open grace after relocking
        Device.pin_factory.pin(27).drive_high()
        wait_until(lambda: agent.runner.step() is not None and _events(agent, "alarm"), 5, message="contact read")
        assert _events(agent, "alarm")[0]["alarm_type"] == "door_forced_open"
    finally:
        os.close(master)
        os.close(slave)


def test_control_file_follows_appended_lines_and_skips_bad_ones(tmp_path):
    from devices.card_reader import SimulatedCardReader
    from devices.control import ControlFile
    from devices.sensors import SimulatedSensor

    reader, sensor = SimulatedCardReader("r-1"), SimulatedSensor("door-1")
    path = tmp_path / "control.jsonl"
    control = ControlFile(path, readers={"r-1": reader}, sensors={"door-1": sensor})
    assert control.poll() == 0, "no file yet is not an error"
    path.write_text('{"reader": "r-1", "card": "42"}\nnot json\n{"reader": "r-9", "card": "1"}\n{"sensor": "door-1", ')
    assert control.poll() == 1 and control.rejected == 2
    with path.open("a") as stream:
        stream.write('"active": true}\n')
    assert control.poll() == 1 and sensor.active, "a line completed later is applied once"
    assert reader.read(0).card_number == "42" and control.poll() == 0
