"""Malformed payloads on event topics are counted and stored as rejected; ingest keeps running."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from protocol import build, encode
from protocol.events import DoorState, DoorStateName
from server.platform import build_platform
from server.storage.models import Event, RejectedMessage
from tests.support.platform import server_settings
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def _publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bad-input-sender")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_malformed_payloads_are_rejected_and_counted(mosquitto, tmp_path):
    platform = build_platform(server_settings(mosquitto.port, f"sqlite:///{tmp_path}/sc.db", client_id="ingest-bad"))
    platform.start()
    try:
        wait_until(platform.ingest.connected.is_set, 10, message="ingest connected")
        good = build(DoorState(door="door-1", state=DoorStateName.OPEN), site="s1", device="d1", seq=1)
        wrong_type = json.loads(encode(good))
        wrong_type["data"]["state"] = 3
        spoofed = encode(good)
        _publish_all(
            mosquitto.port,
            [
                ("sc/v1/s1/d1/event/door", b"\x00\x01 not json"),
                ("sc/v1/s1/d1/event/door", json.dumps(wrong_type).encode()),
                ("sc/v1/s1/d2/event/door", spoofed),
                ("sc/v1/s1/d1/event/door", b"{" + b" " * 2_000_000 + b"}"),
                (good.topic(), encode(good)),
            ],
        )
        with platform.engine.connect() as connection:

            def counts():
                rejected = connection.execute(select(func.count()).select_from(RejectedMessage)).scalar_one()
                stored = connection.execute(select(func.count()).select_from(Event)).scalar_one()
                return rejected, stored

            wait_until(lambda: counts() == (4, 1), 15, message="4 rejected and 1 stored")
            reasons = sorted(connection.execute(select(RejectedMessage.reason)).scalars())
    finally:
        platform.stop()
    assert reasons == ["invalid_data", "not_json", "too_large", "topic_mismatch"]
    metric = {
        sample.labels["reason"]: sample.value
        for family in platform.metrics.registry.collect()
        if family.name == "sc_ingest_rejected"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert metric == {"not_json": 1, "invalid_data": 1, "topic_mismatch": 1, "too_large": 1}
