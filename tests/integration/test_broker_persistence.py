"""The test and demo broker really persists QoS 1 messages across a kill -9."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def _client(port: int, client_id: str, clean: bool) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_queued_messages_survive_a_broker_kill(fresh_mosquitto):
    received: list[bytes] = []
    subscriber = _client(fresh_mosquitto.port, "persist-sub", clean=False)
    wait_until(subscriber.is_connected, 5, message="subscriber connected")
    _result, mid = subscriber.subscribe("persist/test", qos=1)
    time.sleep(0.3)  # let the SUBACK arrive before going offline
    subscriber.disconnect()
    subscriber.loop_stop()
    publisher = _client(fresh_mosquitto.port, "persist-pub", clean=True)
    infos = [publisher.publish("persist/test", f"m{i}".encode(), qos=1) for i in range(50)]
    for info in infos:
        info.wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()
    time.sleep(2.5)  # autosave_interval is 1 s
    fresh_mosquitto.kill()
    fresh_mosquitto.start()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="persist-sub", clean_session=False)
    subscriber.on_message = lambda _c, _u, message: received.append(message.payload)
    subscriber.connect("127.0.0.1", fresh_mosquitto.port)
    subscriber.loop_start()
    try:
        wait_until(lambda: len(set(received)) == 50, 10, message="50 queued messages after the restart")
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
    log = (fresh_mosquitto.workdir / "mosquitto.log").read_text(errors="replace")
    assert "Error saving" not in log
