"""A point written with the real influxdb-client lands in InfluxDB and is read back with InfluxQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from server.metrics import Metrics
from server.timeseries import InfluxTimeSeries, Point
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def test_point_round_trip_through_influxdb(influxdb):
    server, proxy = influxdb
    httpx.post(f"{server.url}/query", params={"q": "CREATE DATABASE sc_slice"}, timeout=10).raise_for_status()
    metrics = Metrics()
    store = InfluxTimeSeries(proxy.url, "", "sc", "sc_slice/autogen", "sc_slice", metrics, batch_size=10,
                             flush_interval_ms=100)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        store.write([
            Point("passages", now, {"site": "s1", "gate": "north", "method": "card", "result": "granted"},
                  {"value": 1.0}),
            Point("passages", now + timedelta(seconds=1), {"site": "s1", "gate": "north", "method": "face",
                                                            "result": "granted"}, {"value": 1.0}),
            Point("passages", now, {"site": "s1", "gate": "south", "method": "card", "result": "denied"},
                  {"value": 1.0}),
        ])
        store.flush()
        window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
        wait_until(lambda: store.count("passages", *window) == 3.0, 10, message="3 passages readable")
        assert store.count("passages", *window, tags={"gate": "north"}) == 2.0
        assert store.count("passages", *window, tags={"result": "denied"}) == 1.0
        series = store.query('SELECT "value" FROM "passages" WHERE "method" = \'face\'')
        assert len(series[0]["values"]) == 1
    finally:
        store.close()
    assert proxy.writes >= 1, "writes went through /api/v2/write"
    assert store.errors == []


def test_write_errors_reach_the_callback(influxdb):
    _server, proxy = influxdb
    metrics = Metrics()
    store = InfluxTimeSeries(proxy.url, "", "sc", "no_such_db/autogen", "no_such_db", metrics, batch_size=1,
                             flush_interval_ms=50)
    try:
        store.write([Point("passages", datetime.now(UTC), {"gate": "g"}, {"value": 1.0})])
        store.flush()
        wait_until(lambda: store.errors, 15, message="the error callback to fire")
    finally:
        store.close()
    assert "database not found" in store.errors[0] or "404" in store.errors[0]


def test_personal_identifiers_cannot_become_tags():
    with pytest.raises(ValueError, match="not allowed"):
        Point("passages", datetime.now(UTC), {"person_id": "p-1"}, {"value": 1.0})
    with pytest.raises(ValueError, match="not allowed"):
        Point("plate_reads", datetime.now(UTC), {"plate": "皖A12345"}, {"value": 1.0})
