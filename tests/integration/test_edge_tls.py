"""Secure MQTT: the agent connects over TLS with its own user name and password (from the environment)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import subprocess
import threading
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.app import EdgeAgent
from edge.config import parse_config
from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.commands import OpenDoor
from protocol.topics import command_topic
from tests.support.services import Mosquitto, find_binary, wait_until

pytestmark = pytest.mark.integration


def _certificate(subject: str, key, issuer_key=None, issuer=None, ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write_pki(folder) -> None:
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("sc-test-ca", ca_key, ca=True)
    server = _certificate("localhost", server_key, issuer_key=ca_key, issuer=ca.subject)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture()
def tls_broker(tmp_path):
    """A mosquitto with a TLS listener, no anonymous access and one user per device."""
    broker = Mosquitto(tmp_path / "mq")
    broker.workdir.mkdir(parents=True)
    _write_pki(broker.workdir)
    passwords = broker.workdir / "passwd"
    passwords.touch()
    for user, secret in (("gate-1", "gate-1-secret"), ("platform", "platform-secret")):
        subprocess.run([find_binary("mosquitto_passwd", "/usr/bin"), "-b", str(passwords), user, secret], check=True)
    work = broker.workdir
    broker.config_path.write_text(
        ("user root\n" if os.geteuid() == 0 else "")  # keep the user so it can read the keys in tmp_path
        + f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        f"cafile {work}/ca.crt\ncertfile {work}/server.crt\nkeyfile {work}/server.key\n"
        f"persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
    )
    broker.start()
    yield broker
    broker.stop()


def test_agent_talks_tls_with_its_own_credentials(tls_broker, tmp_path, monkeypatch):
    monkeypatch.setenv("SC_TEST_GATE_PASSWORD", "gate-1-secret")
    monkeypatch.setenv("SC_TEST_PLATFORM_PASSWORD", "platform-secret")
    ca = tls_broker.workdir / "ca.crt"
    platform = BrokerSettings(
        port=tls_broker.port, tls=True, ca_file=ca, username="platform", password_env="SC_TEST_PLATFORM_PASSWORD"
    )
    received: list[tuple[str, dict]] = []
    lock = threading.Lock()
    client = make_client(platform, "platform-test")

    def on_message(_client, _userdata, message) -> None:
        with lock:
            received.append((message.topic, json.loads(message.payload)))

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("sc/v1/#", qos=1)
    client.connect("127.0.0.1", tls_broker.port)
    client.loop_start()
    broker = {
        "port": tls_broker.port,
        "tls": True,
        "ca_file": str(ca),
        "username": "gate-1",
        "password_env": "SC_TEST_GATE_PASSWORD",
    }
    config = parse_config(
        {
            "site": "demo",
            "device": "gate-1",
            "data_dir": str(tmp_path / "edge"),
            "broker": broker,
            "doors": [{"id": "door-1"}],
            "gates": [{"id": "north", "door": "door-1"}],
        },
        "test",
    )
    agent = EdgeAgent(config).start()
    try:
        wait_until(agent.publisher.connected.is_set, 10, message="agent connected over TLS")
        wait_until(lambda: any(b["schema"] == "device.status" for _, b in received), 10, message="online status")
        command = OpenDoor(request_id=uuid.uuid4(), door="door-1", operator="op-1", reason="tls test")
        client.publish(
            command_topic("demo", "gate-1", "open-door"),
            encode(build(command, site="demo", device="gate-1", seq=1)),
            qos=1,
        )
        wait_until(lambda: any(t.endswith("open-door/result") for t, _ in received), 10, message="result over TLS")
        wait_until(lambda: any(b["schema"] == "access.decision" for _, b in received), 10, message="audit event")
    finally:
        agent.stop()
        client.loop_stop()
    monkeypatch.setenv("SC_TEST_GATE_PASSWORD", "wrong")
    intruder = EdgeAgent(config.model_copy(update={"data_dir": tmp_path / "other"})).start()
    try:
        assert not intruder.publisher.connected.wait(2), "a wrong password is refused by the broker"
    finally:
        intruder.stop()
