"""The time-series tag allowlist and the embedded SQL backend's aggregates and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.metrics import Metrics
from server.storage.db import make_engine, migrate
from server.timeseries import Point, SqlTimeSeries
from server.timeseries_retention import RetentionError, parse_duration

NOW = datetime.now(UTC)


def test_tags_outside_the_allowlist_are_refused():
    Point("passages", NOW, {"site": "demo", "gate": "north"}, {"value": 1.0})
    for tag in ("person_id", "plate", "name"):
        with pytest.raises(ValueError, match="not allowed"):
            Point("passages", NOW, {tag: "x"}, {"value": 1.0})
    with pytest.raises(ValueError, match="timezone"):
        Point("passages", datetime(2026, 1, 1), {}, {"value": 1.0})


def test_sql_backend_groups_and_prunes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/ts.db")
    migrate(engine)
    store = SqlTimeSeries(engine, Metrics())
    tags = {"site": "demo", "gate": "north", "result": "granted"}
    store.write(
        [
            Point("passages", NOW, tags | {"method": "card"}, {"value": 1.0}),
            Point("passages", NOW, tags | {"method": "card"}, {"value": 1.0}),
            Point("passages", NOW, tags | {"method": "face"}, {"value": 1.0}),
            Point("passages", NOW - timedelta(days=40), tags | {"method": "card"}, {"value": 1.0}),
        ]
    )
    window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert store.aggregate("passages", *window, group_by=("gate", "method")) == {
        ("north", "card"): 2.0,
        ("north", "face"): 1.0,
    }
    with pytest.raises(ValueError, match="not allowed"):
        store.aggregate("passages", *window, group_by=("person_id",))
    assert store.ensure_retention("30d") == "pruned 1"
    assert store.count("passages", NOW - timedelta(days=90), NOW + timedelta(hours=1)) == 3.0


def test_retention_durations():
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("48h") == timedelta(hours=48)
    for bad in ("0d", "5m", "forever"):
        with pytest.raises(RetentionError):
            parse_duration(bad)
