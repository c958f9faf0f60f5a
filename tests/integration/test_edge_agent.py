"""The gate agent against a real broker: crash-safe outbox, offline doors, commands, telemetry, last will."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from edge.app import EdgeAgent
from edge.config import parse_config
from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.commands import AllowlistEntry, AllowlistSync, OpenDoor
from protocol.topics import command_topic
from tests.conftest import REPO_ROOT
from tests.support.services import wait_until

pytestmark = pytest.mark.integration
SITE, DEVICE = "demo", "gate-1"


class Listener:
    """Records every message under sc/v1/ (persistent session, QoS 1)."""

    def __init__(self, port: int, client_id: str = "edge-agent-listener") -> None:
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.client = make_client(BrokerSettings(port=port), client_id, clean_session=False)
        self.client.on_connect = lambda client, *_: client.subscribe("sc/v1/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, message="listener connected")

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def of(self, schema: str) -> list[dict]:
        with self._lock:
            return [body for _, body in self.messages if body["schema"] == schema]

    def event_ids(self) -> set[str]:
        return {body["event_id"] for body in self.of("access.decision")}

    def send(self, body, name: str | None = None, payload: bytes | None = None) -> None:
        payload = payload or encode(build(body, site=SITE, device=DEVICE, seq=1))
        self.client.publish(command_topic(SITE, DEVICE, name or body.TOPIC_NAME), payload, qos=1)

    def result(self, request_id: uuid.UUID, timeout: float = 10) -> dict:
        def found() -> list[dict]:
            with self._lock:
                return [
                    body
                    for topic, body in self.messages
                    if topic.endswith("/result") and body["data"].get("request_id") == str(request_id)
                ]

        wait_until(found, timeout, message=f"result {request_id}")
        return found()[0]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _config(port: int, data_dir: Path, **extra) -> dict:
    return {
        "site": SITE,
        "device": DEVICE,
        "data_dir": str(data_dir),
        "broker": {"port": port, "keepalive_s": 5},
        "doors": [{"id": "door-1", "pulse_ms": 500}],
        "gates": [{"id": "north", "door": "door-1"}],
        "card_readers": [{"id": "reader-1", "gate": "north", **extra.pop("reader", {})}],
        "telemetry": {"interval_s": 0.3},
        "outbox": {"confirm": "broker"},  # no platform here to send storage receipts: PUBACK is the confirmation
        **extra,
    }


def _releases(relay) -> int:
    """How many times a simulated relay was energised (a fail-secure lock released)."""
    return sum(1 for _, energised in relay.changes if energised)


def _pending_event_ids(path: Path) -> list[str]:
    """Event ids still in the agent's outbox (none while the agent has not created its table yet)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("SELECT event_id FROM outbox ORDER BY id")]
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise


def _run_agent(config_path: Path, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "--config", str(config_path)], cwd=REPO_ROOT, stdout=log, stderr=log
    )


def test_events_in_outbox_survive_agent_kill_9(fresh_mosquitto, tmp_path):
    """Broker down, 40 swipes stored, agent killed -9; after restart the same events reach the broker."""
    fresh_mosquitto.kill()
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(
        yaml.safe_dump(
            _config(fresh_mosquitto.port, tmp_path / "edge", reader={"script": [f"{i:08d}" for i in range(40)]})
        )
    )
    outbox_path = tmp_path / "edge" / "outbox.db"
    agent = _run_agent(config_path, tmp_path / "agent.log")
    try:
        wait_until(
            lambda: outbox_path.exists() and len(_pending_event_ids(outbox_path)) == 40,
            30,
            interval=0.2,
            message="40 events stored while the broker is down",
        )
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        stored = _pending_event_ids(outbox_path)
        assert len(stored) == 40
        fresh_mosquitto.start()
        listener = Listener(fresh_mosquitto.port)
        agent = _run_agent(config_path, tmp_path / "agent.log")
        wait_until(lambda: set(stored) <= listener.event_ids(), 30, interval=0.2, message="stored events delivered")
        arrived = [b for b in listener.of("access.decision") if b["event_id"] in set(stored)]
        assert [b["seq"] for b in arrived] == sorted(b["seq"] for b in arrived)
        assert all(b["data"]["reason"] == "unknown-card" for b in arrived)
        wait_until(lambda: not _pending_event_ids(outbox_path), 20, interval=0.2, message="outbox drained")
        wait_until(lambda: any(b["data"]["state"] == "online" for b in listener.of("device.status")), 10)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        wait_until(
            lambda: listener.of("device.status")[-1]["data"]["state"] == "offline",
            15,
            message="last will: offline status after a crash",
        )
        agent = _run_agent(config_path, tmp_path / "agent.log")
        wait_until(lambda: listener.of("device.status")[-1]["data"]["state"] == "online", 15, message="online again")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0, "clean shutdown on SIGTERM"
        wait_until(lambda: listener.of("device.status")[-1]["data"]["state"] == "offline", 10)
        listener.stop()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)


def test_door_opens_from_cached_allowlist_while_broker_is_down(fresh_mosquitto, tmp_path):
    """The allowlist synced earlier survives a restart; with the broker down a swipe opens the door."""
    listener = Listener(fresh_mosquitto.port)
    config = parse_config(_config(fresh_mosquitto.port, tmp_path / "edge"), "test")
    agent = EdgeAgent(config).start()
    sync = AllowlistSync(
        request_id=uuid.uuid4(),
        mode="full",
        base_version=0,
        version=4,
        upserts=[AllowlistEntry(kind="card", value="00112233", person_id="p-1", credential_ref="c-1")],
    )
    wait_until(agent.publisher.connected.is_set, 10)
    time.sleep(0.3)  # the agent subscribes to its commands on connect
    listener.send(sync)
    assert listener.result(sync.request_id)["data"]["ok"] is True
    wait_until(lambda: listener.of("device.telemetry"), 5, message="telemetry")
    time.sleep(0.4)
    data = listener.of("device.telemetry")[-1]["data"]
    assert data["allowlist_version"] == 4 and data["outbox_depth"] >= 0 and data["memory_bytes"] > 10_000_000
    assert data["uptime_s"] >= 0 and data["cpu_percent"] >= 0
    agent.stop()

    fresh_mosquitto.kill()
    agent = EdgeAgent(config).start()
    try:
        assert agent.allowlist.version == 4
        agent.devices.readers["reader-1"].present("00112233")
        agent.devices.readers["reader-1"].present("99999999")
        relay = agent.relays["door-1"]
        wait_until(lambda: _releases(relay) == 1 and agent.outbox.depth() == 2, 5, message="door opened offline")
        assert not agent.publisher.connected.is_set()
        fresh_mosquitto.start()
        wait_until(lambda: len(listener.of("access.decision")) == 2, 30, interval=0.2, message="events arrive later")
        results = {b["data"]["result"]: b["data"] for b in listener.of("access.decision")}
        assert results["granted"]["person_id"] == "p-1" and results["granted"]["credential_ref"] == "c-1"
        assert results["denied"]["reason"] == "unknown-card"
        assert _releases(relay) == 1 and not relay.energised, "released once for the 500 ms pulse, then locked"
    finally:
        agent.stop()
        listener.stop()


def test_bad_commands_over_mqtt_get_error_results(fresh_mosquitto, tmp_path):
    listener = Listener(fresh_mosquitto.port)
    agent = EdgeAgent(parse_config(_config(fresh_mosquitto.port, tmp_path / "edge"), "test")).start()
    try:
        wait_until(agent.publisher.connected.is_set, 10)
        time.sleep(0.3)
        unknown_door = OpenDoor(request_id=uuid.uuid4(), door="vault", operator="op-1", reason="test")
        listener.send(unknown_door)
        typed = OpenDoor(request_id=uuid.uuid4(), door="door-1", operator="op-1", reason="test")
        bad_payload = encode(build(typed, site=SITE, device=DEVICE, seq=1)).replace(
            b'"pulse_ms":3000', b'"pulse_ms":-1'
        )
        listener.send(typed, payload=bad_payload)
        misrouted = AllowlistSync(request_id=uuid.uuid4(), mode="full", base_version=0, version=9)
        listener.send(misrouted, name="open-door")
        for request_id, needle in [
            (unknown_door.request_id, "unknown_door"),
            (typed.request_id, "invalid_data"),
            (misrouted.request_id, "topic_mismatch"),
        ]:
            answer = listener.result(request_id)
            assert answer["data"]["ok"] is False and needle in answer["data"]["error"], answer
        topics = {topic for topic, body in listener.messages if body["data"].get("request_id")}
        assert f"sc/v1/{SITE}/{DEVICE}/cmd/open-door/result" in topics
        assert _releases(agent.relays["door-1"]) == 0 and agent.allowlist.version == 0, "nothing changed"
    finally:
        agent.stop()
        listener.stop()
