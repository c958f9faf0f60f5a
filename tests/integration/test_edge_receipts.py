"""Storage receipts through mosquitto: the edge keeps each event until the platform's receipt names it."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest

from edge.outbox import Outbox
from edge.publisher import Confirm, EdgePublisher
from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.events import DoorState, DoorStateName
from protocol.receipts import EventsStored
from protocol.topics import command_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration
EVENTS = 20


class Platform:
    """Stands in for ingest: records every delivery and sends receipts when told to."""

    def __init__(self, port: int) -> None:
        self.deliveries: list[str] = []
        self._lock = threading.Lock()
        self.client = make_client(BrokerSettings(port=port), "receipts-platform")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("sc/v1/+/+/event/+", qos=1)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.deliveries.append(json.loads(message.payload)["event_id"])

    def copies(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for event_id in self.deliveries:
                counts[event_id] = counts.get(event_id, 0) + 1
            return counts

    def receipt(self, event_ids: list[str], device: str = "gate-1") -> None:
        message = build(EventsStored(event_ids=event_ids), site="demo", device=device, seq=0)
        self.client.publish(message.topic(), encode(message), qos=1).wait_for_publish(5)

    def raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture()
def platform(mosquitto):
    stand_in = Platform(mosquitto.port)
    wait_until(stand_in.client.is_connected, 10, message="platform stand-in connected")
    yield stand_in
    stand_in.stop()


def test_events_wait_for_their_receipt_and_are_published_again_without_one(mosquitto, platform, tmp_path):
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = EdgePublisher(
        BrokerSettings(port=mosquitto.port), outbox, site="demo", device="gate-1", receipt_timeout_s=1.5
    )
    publisher.start()
    try:
        wait_until(publisher.connected.is_set, 10, message="publisher connected")
        states = [DoorStateName.OPEN, DoorStateName.CLOSED] * (EVENTS // 2)
        sent = [str(publisher.send(DoorState(door="door-1", state=state)).envelope.event_id) for state in states]
        wait_until(lambda: len(platform.copies()) == EVENTS, 10, message="every event delivered")
        assert outbox.depth() == EVENTS, "acknowledged by the broker, but not receipted: still held"

        # Junk on the receipt topic, and a receipt addressed to another device, change nothing.
        platform.raw(command_topic("demo", "gate-1", "events-stored"), b"\x00not json")
        platform.receipt(sent[:5], device="gate-2")
        half = sent[: EVENTS // 2]
        platform.receipt(half)
        wait_until(lambda: outbox.depth() == EVENTS - len(half), 10, message="receipted half forgotten")

        # No receipt for the rest: published again once the wait ran out; the receipted half never again.
        wait_until(lambda: publisher.republished >= EVENTS - len(half), 15, message="unreceipted published again")
        wait_until(lambda: all(platform.copies()[e] >= 2 for e in sent[len(half) :]), 10, message="second copies")
        assert all(platform.copies()[e] == 1 for e in half)
        platform.receipt(sent[len(half) :])
        wait_until(lambda: outbox.depth() == 0, 10, message="everything receipted")
        assert publisher.connected.is_set(), "bad receipts did not disturb the session"
    finally:
        publisher.stop()


def test_confirming_on_the_broker_forgets_events_on_puback(mosquitto, platform, tmp_path):
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = EdgePublisher(
        BrokerSettings(port=mosquitto.port), outbox, site="demo", device="gate-3", confirm=Confirm.BROKER
    )
    publisher.start()
    try:
        for _ in range(EVENTS):
            publisher.send(DoorState(door="door-1", state=DoorStateName.OPEN))
        wait_until(lambda: outbox.depth() == 0, 10, message="emptied on PUBACK")
        assert publisher.republished == 0 and len(platform.copies()) >= EVENTS
    finally:
        publisher.stop()
