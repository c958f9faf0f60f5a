"""Device provisioning against a real mosquitto: own credentials and ACL, own topics only, revocation refuses it."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.events import AccessDecision
from server.app import create_app
from server.security.mosquitto_auth import check_password, hash_password
from server.services.provisioning import BrokerFiles, ensure_platform_account
from tests.support.api_world import USERNAMES, api_settings, populate
from tests.support.services import Mosquitto, find_binary, wait_until

pytestmark = pytest.mark.integration
PLATFORM_PASSWORD = "platform-broker-secret"


def test_our_hash_is_the_one_mosquitto_passwd_makes(tmp_path):
    import subprocess

    passwords = tmp_path / "passwd"
    passwords.touch()
    subprocess.run([find_binary("mosquitto_passwd", "/usr/bin"), "-b", str(passwords), "u", "s3cret"], check=True)
    stored = passwords.read_text().strip().split(":", 1)[1]
    assert stored.startswith("$7$") and check_password(stored, "s3cret") and not check_password(stored, "other")
    salt = __import__("base64").b64decode(stored.split("$")[3])
    assert hash_password("s3cret", salt=salt, iterations=int(stored.split("$")[2])) == stored


@pytest.fixture()
def secured(tmp_path, monkeypatch):
    """A broker with no anonymous access whose password and ACL files the platform writes, and the platform."""
    monkeypatch.setenv("SC_TEST_PLATFORM_MQTT", PLATFORM_PASSWORD)
    work = tmp_path / "mq"
    work.mkdir()
    broker = Mosquitto(work)
    files = {"password_file": work / "passwd", "acl_file": work / "acl", "pid_file": work / "mosquitto.pid"}
    settings = api_settings(
        f"sqlite:///{tmp_path}/sc.db",
        broker_port=broker.port,
        broker={"username": "platform", "password_env": "SC_TEST_PLATFORM_MQTT"},
        provisioning={
            **{k: str(v) for k, v in files.items()},
            "reload": "pid_file",
            "broker_port": broker.port,
            "platform_users": ["platform"],
        },
    )
    app = create_app(settings)
    populate(app)
    engine = app.state.services.engine
    with engine.begin() as connection:
        ensure_platform_account(connection, "platform", PLATFORM_PASSWORD)
    BrokerFiles(settings.provisioning, engine).apply()  # no pid file yet: files only
    broker.config_path.write_text(
        ("user root\n" if os.geteuid() == 0 else "")  # keep the user so it can re-read files in tmp_path on SIGHUP
        + f"per_listener_settings false\nlistener {broker.port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {files['password_file']}\nacl_file {files['acl_file']}\npid_file {files['pid_file']}\n"
        "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
    )
    broker.start()
    wait_until(files["pid_file"].exists, 5, message="broker pid file")
    yield app, broker
    broker.stop()


class Observer:
    """The platform's own view of the broker: everything under sc/v1/."""

    def __init__(self, port: int) -> None:
        self.topics: list[str] = []
        self.lock = threading.Lock()
        settings = BrokerSettings(port=port, username="platform", password_env="SC_TEST_PLATFORM_MQTT")
        self.client = make_client(settings, f"observer-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda client, *_: client.subscribe("sc/v1/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message) -> None:
        with self.lock:
            self.topics.append(message.topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect_device(port: int, username: str, password: str) -> tuple[mqtt.Client, mqtt.ReasonCode | None]:
    """A device client; returns it and the CONNACK reason (None if none came)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-{uuid.uuid4().hex[:4]}")
    client.username_pw_set(username, password)
    answer: list = []
    connected = threading.Event()

    def on_connect(_client, _userdata, _flags, reason, _props) -> None:
        answer.append(reason)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(5)
    return client, (answer[0] if answer else None)


def decision(site: str, device: str) -> bytes:
    body = AccessDecision(gate="g1", door="d1", direction="in", method="card", result="granted", reason="allowlisted")
    return encode(build(body, site=site, device=device, seq=int(time.time())))


def test_provisioned_device_publishes_only_its_own_topics_and_revocation_locks_it_out(secured):
    app, broker = secured
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        wait_until(app.state.platform.ingest.connected.is_set, 10, message="ingest connected as platform")
        manager = client.post(
            "/api/v1/auth/token", data={"username": USERNAMES["manager"], "password": "correct horse battery"}
        )
        headers = {"Authorization": f"Bearer {manager.json()['access_token']}"}
        made = client.post(
            "/api/v1/devices", headers=headers, json={"site_id": "north", "code": "edge-1", "gate": "g1"}
        )
        assert made.status_code == 201, made.text
        bundle = made.json()
        assert bundle["topics"] == {"publish": "sc/v1/north/edge-1/#", "commands": "sc/v1/north/edge-1/cmd/+"}
        creds = bundle["broker"]
        assert creds["port"] == broker.port and creds["username"] == "dev.north.edge-1"
        passwd = (broker.workdir / "passwd").read_text()
        assert creds["password"] not in passwd and "dev.north.edge-1:$7$" in passwd

        observer = Observer(broker.port)
        wait_until(observer.client.is_connected, 5, message="observer connected")
        device, reason = connect_device(broker.port, creds["username"], creds["password"])
        try:
            assert reason is not None and not reason.is_failure, reason
            device.publish("sc/v1/north/edge-1/event/access", decision("north", "edge-1"), qos=1).wait_for_publish(5)
            device.publish("sc/v1/north/edge-2/event/access", decision("north", "edge-2"), qos=1).wait_for_publish(5)
            device.publish("sc/v1/south/edge-1/event/access", decision("south", "edge-1"), qos=1).wait_for_publish(5)
            wait_until(lambda: "sc/v1/north/edge-1/event/access" in observer.topics, 10, message="own topic")
            time.sleep(0.5)
            assert observer.topics.count("sc/v1/north/edge-1/event/access") == 1
            assert not any("edge-2" in t or "/south/" in t for t in observer.topics), observer.topics
            events = client.get("/api/v1/events", headers=headers).json()["items"]
            assert [(e["site"], e["device"]) for e in events] == [("north", "edge-1")]
        finally:
            device.disconnect()
            device.loop_stop()

        _, wrong = connect_device(broker.port, creds["username"], "not-the-password")
        assert wrong is not None and wrong.is_failure
        assert client.delete(f"/api/v1/devices/{bundle['device_id']}", headers=headers).status_code == 204
        assert "dev.north.edge-1" not in (broker.workdir / "passwd").read_text()

        def refused() -> bool:
            probe, answer = connect_device(broker.port, creds["username"], creds["password"])
            probe.disconnect()
            probe.loop_stop()
            return answer is not None and answer.is_failure

        wait_until(refused, 10, interval=0.3, message="revoked device refused by the broker")
        listed = client.get("/api/v1/devices", headers=headers).json()["items"]
        assert [(d["code"], d["credentials_active"]) for d in listed] == [("edge-1", False)]
        assert client.delete(f"/api/v1/devices/{bundle['device_id']}", headers=headers).status_code == 409
        observer.close()
    acl = json.dumps((broker.workdir / "acl").read_text())
    assert "dev.north.edge-1" not in acl
