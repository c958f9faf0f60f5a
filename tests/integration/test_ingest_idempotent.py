"""Ingest against the real broker on SQLite and PostgreSQL: duplicates, rejects, two workers, device states."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from protocol.device import DeviceState as WireState
from server.storage.models import DeviceState, Event, RejectedMessage, TimeSeriesPoint
from tests.support.ingest import QosPublisher, access_message, sql_worker, status_message
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    return f"sqlite:///{tmp_path}/sc.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def scalar(engine, query):
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def test_duplicates_ignored_and_bad_messages_rejected(mosquitto, database_url):
    group = f"g{uuid4().hex[:8]}"
    worker = sql_worker(mosquitto.port, database_url, f"dup-{group}", group=group)
    publisher = QosPublisher(mosquitto.port)
    worker.start()
    try:
        wait_until(worker.connected.is_set, 10, message="worker connected")
        messages = [access_message(seq, site=group) for seq in range(20)]
        topic = messages[0][0]
        envelope = json.loads(messages[0][1])
        oversize = dict(envelope, event_id=str(uuid4()), data=dict(envelope["data"], reason="x" * 20_000))
        bad = [
            (topic, b"{not json"),
            (topic, json.dumps(oversize).encode()),
            (topic.replace("gate-1", "gate-2"), json.dumps(dict(envelope, event_id=str(uuid4()))).encode()),
            (topic, b"x" * (2 * 1024 * 1024)),
        ]
        publisher.publish(messages + messages + bad)
        wait_until(
            lambda: scalar(worker.engine, select(func.count()).select_from(RejectedMessage)) == 4,
            30,
            message="four rejected rows",
        )
        wait_until(lambda: worker.metrics.duplicates._value.get() == 20, 30, message="twenty duplicates counted")
        assert scalar(worker.engine, select(func.count()).select_from(Event)) == 20
        passages = select(func.count()).select_from(TimeSeriesPoint).where(TimeSeriesPoint.measurement == "passages")
        assert scalar(worker.engine, passages) == 20, "a duplicate adds no time-series point"
        with worker.engine.connect() as connection:
            reasons = dict(connection.execute(select(RejectedMessage.reason, RejectedMessage.payload_size)).all())
        assert set(reasons) == {"not_json", "too_large", "topic_mismatch"}
        rejected = {
            sample.labels["reason"]: sample.value
            for sample in worker.metrics.rejected.collect()[0].samples
            if sample.name.endswith("_total")
        }
        assert rejected == {"not_json": 1.0, "too_large": 2.0, "topic_mismatch": 1.0}
    finally:
        publisher.close()
        worker.stop()


def test_two_workers_share_the_load_and_device_states(mosquitto, database_url):
    group = f"g{uuid4().hex[:8]}"
    first = sql_worker(mosquitto.port, database_url, f"w1-{group}", group=group, batch_size=50)
    second = sql_worker(mosquitto.port, database_url, f"w2-{group}", group=group, batch_size=50)
    publisher = QosPublisher(mosquitto.port)
    for worker in (first, second):
        worker.start()
    try:
        wait_until(lambda: first.connected.is_set() and second.connected.is_set(), 10, message="both connected")
        statuses = [status_message(WireState.ONLINE, site=group, device=f"dev-{n}") for n in range(40)]
        events = [access_message(seq, site=group, device=f"dev-{seq % 40}") for seq in range(2000)]
        publisher.publish(statuses + statuses + events[:1000] + statuses + events[1000:])
        wait_until(lambda: first.stored + second.stored == 2000, 60, message="2000 events stored")
        assert first.stored > 100 and second.stored > 100, (first.stored, second.stored)
        assert scalar(first.engine, select(func.count(func.distinct(Event.event_id)))) == 2000
        wait_until(lambda: first.pending() == 0 and second.pending() == 0, 10, message="queues drained")
        online = select(func.count()).select_from(DeviceState).where(DeviceState.online.is_(True))
        wait_until(lambda: scalar(first.engine, online) == 40, 10, message="40 devices online")
        errors = first.metrics.db_errors._value.get() + second.metrics.db_errors._value.get()
        storage_errors = scalar(first.engine, select(func.count()).where(RejectedMessage.reason == "storage_error"))
        assert (errors, storage_errors) == (0, 0), "concurrent upserts of new device rows do not collide"
        wait_until(  # the gauge is recounted at most once a second, after a commit or when idle
            lambda: 40 in (first.metrics.devices_online._value.get(), second.metrics.devices_online._value.get()),
            10,
            message="the online gauge shows 40",
        )
    finally:
        publisher.close()
        first.stop()
        second.stop()
