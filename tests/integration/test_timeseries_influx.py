"""InfluxDB 1.6.7 (real engine): influxdb-client writes, InfluxQL reads, retention policies, error callback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from protocol.broker import BrokerSettings
from server.config import IngestSettings
from server.ingest import IngestWorker
from server.metrics import Metrics
from server.storage.db import make_engine, migrate
from server.timeseries import InfluxTimeSeries, Point
from server.timeseries_retention import influxql, read_retention_v1
from tests.support.ingest import QosPublisher, access_message
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def influx_store(proxy, database: str, metrics: Metrics, policy: str = "autogen") -> InfluxTimeSeries:
    return InfluxTimeSeries(proxy.url, "", "sc", f"{database}/{policy}", database, metrics, 500, 100)


def test_point_written_with_influxdb_client_is_read_back_with_influxql(influxdb):
    server, proxy = influxdb
    database = f"t{uuid4().hex[:8]}"
    store = influx_store(proxy, database, Metrics(), policy="week")
    assert store.ensure_retention("7d") == "create"
    now = datetime.now(UTC)
    tags = {"site": "demo", "gate": "north", "result": "granted"}
    store.write([Point("passages", now, tags | {"method": "card"}, {"value": 1.0})] * 3)
    store.write([Point("passages", now + timedelta(milliseconds=1), tags | {"method": "face"}, {"value": 1.0})])
    store.write([Point("recognition_latency", now, tags | {"method": "face"}, {"value": 80.0})])
    store.flush()
    window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    wait_until(lambda: store.count("passages", *window) == 2.0, 10, message="points readable")
    assert store.aggregate("passages", *window, group_by=("method",)) == {("card",): 1.0, ("face",): 1.0}
    assert store.aggregate("recognition_latency", *window, fn="mean") == {(): 80.0}
    raw = influxql(server.url, {}, 'SELECT "value" FROM "passages"', database)
    assert raw[0]["columns"] == ["time", "value"] and len(raw[0]["values"]) == 2
    assert store.metrics.ts_points._value.get() == 5
    store.close()


def test_retention_policy_created_and_altered_on_1x(influxdb):
    server, proxy = influxdb
    database = f"t{uuid4().hex[:8]}"
    store = influx_store(proxy, database, Metrics(), policy="events")
    assert store.ensure_retention("90d") == "create"
    assert read_retention_v1(server.url, {}, database, "events") == timedelta(days=90)
    assert store.ensure_retention("30d") == "alter"
    assert read_retention_v1(server.url, {}, database, "events") == timedelta(days=30)
    defaults = influxql(server.url, {}, f'SHOW RETENTION POLICIES ON "{database}"')[0]
    default_names = [row[0] for row in defaults["values"] if row[defaults["columns"].index("default")]]
    assert default_names == ["events"]
    store.close()


def test_failed_batch_reaches_the_error_callback_and_metrics(influxdb):
    _server, proxy = influxdb
    metrics = Metrics()
    store = influx_store(proxy, f"missing{uuid4().hex[:8]}", metrics)
    store.write([Point("passages", datetime.now(UTC), {"gate": "north"}, {"value": 1.0})])
    store.flush()
    wait_until(lambda: metrics.ts_write_errors._value.get() == 1, 10, message="error callback")
    assert "database not found" in store.errors[-1]
    store.close()


def test_ingest_writes_passages_into_influxdb(influxdb, mosquitto, tmp_path):
    _server, proxy = influxdb
    database = f"t{uuid4().hex[:8]}"
    metrics = Metrics()
    store = influx_store(proxy, database, metrics)
    store.ensure_retention("30d")
    engine = make_engine(f"sqlite:///{tmp_path}/sc.db")
    migrate(engine)
    group = f"g{uuid4().hex[:8]}"
    worker = IngestWorker(
        IngestSettings(client_id=group, group=group, batch_linger_ms=5),
        BrokerSettings(port=mosquitto.port),
        engine,
        store,
        metrics,
    )
    publisher = QosPublisher(mosquitto.port)
    worker.start()
    try:
        wait_until(worker.connected.is_set, 10, message="worker connected")
        start = datetime.now(UTC).replace(microsecond=0)
        messages = [access_message(seq, site=group, base=start) for seq in range(25)]
        publisher.publish(messages + messages[:5])
        wait_until(lambda: worker.stored == 25 and metrics.duplicates._value.get() == 5, 20, message="stored")
        store.flush()
        wait_until(
            lambda: store.count("passages", start, start + timedelta(hours=1), {"site": group}) == 25,
            10,
            message="25 passages in InfluxDB",
        )
        latency = store.aggregate("recognition_latency", start, start + timedelta(hours=1), fn="count")
        assert latency == {(): 25.0}
    finally:
        publisher.close()
        worker.stop()
        store.close()
        engine.dispose()
