"""Helpers for ingest tests and benches: build device messages, publish them at QoS 1, run workers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import paho.mqtt.client as mqtt

from protocol import build, encode
from protocol.device import DeviceState, Status
from protocol.events import AccessDecision, Alarm, AlarmType, Direction, Method, Result, Severity
from server.config import IngestSettings
from server.ingest import IngestWorker
from server.metrics import Metrics
from server.storage.db import make_engine, migrate
from server.timeseries import SqlTimeSeries

BASE_TS = datetime(2026, 1, 1, tzinfo=UTC)


def access_message(
    seq: int,
    site: str = "demo",
    device: str = "gate-1",
    gate: str = "north",
    event_id: UUID | None = None,
    base: datetime = BASE_TS,
) -> tuple[str, bytes]:
    """Topic and payload of a granted card passage, `seq` milliseconds after `base`."""
    body = AccessDecision(
        gate=gate,
        direction=Direction.IN,
        method=Method.CARD,
        result=Result.GRANTED,
        reason="allowlisted",
        person_id=f"p-{seq % 100}",
        credential_ref=f"c-{seq % 100}",
        latency_ms=12.5,
    )
    message = build(
        body, site=site, device=device, seq=seq, event_id=event_id or uuid4(), ts=base + timedelta(milliseconds=seq)
    )
    return message.topic(), encode(message)


def alarm_message(seq: int, site: str = "demo", device: str = "gate-1") -> tuple[str, bytes]:
    """Topic and payload of a door-forced alarm."""
    body = Alarm(alarm_type=AlarmType.DOOR_FORCED_OPEN, severity=Severity.CRITICAL, gate="north", detail="forced")
    message = build(body, site=site, device=device, seq=seq, ts=datetime.now(UTC))
    return message.topic(), encode(message)


def status_message(state: DeviceState, site: str = "demo", device: str = "gate-1") -> tuple[str, bytes]:
    """Topic and payload of a device status."""
    message = build(Status(state=state, software="test"), site=site, device=device, seq=0)
    return message.topic(), encode(message)


class QosPublisher:
    """A plain paho client publishing at QoS 1 and counting the broker's acknowledgements."""

    def __init__(self, port: int, client_id: str | None = None, inflight: int = 1000) -> None:
        self.acked = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *_args: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not connected.wait(10):
            raise TimeoutError("publisher did not connect")

    def _on_publish(self, *_args) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, messages: list[tuple[str, bytes]], timeout: float = 120.0) -> None:
        """Publish every message at QoS 1 and wait until the broker acknowledged them all."""
        start = self.acked
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + timeout
        while self.acked - start < len(messages):
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker acknowledged {self.acked - start} of {len(messages)}")
            time.sleep(0.01)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def sql_worker(port: int, url: str, client_id: str, **ingest) -> IngestWorker:
    """An in-process ingest worker on a migrated database with the SQL time series."""
    engine = make_engine(url)
    migrate(engine)
    metrics = Metrics()
    settings = IngestSettings(client_id=client_id, batch_linger_ms=5, **ingest)
    from protocol.broker import BrokerSettings

    return IngestWorker(settings, BrokerSettings(port=port), engine, SqlTimeSeries(engine, metrics), metrics)
