"""API routes the web interface added: device health, hourly traffic, one's own audit trail, live subprotocol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from starlette.websockets import WebSocketDisconnect

from server.storage.audit import append_audit
from server.storage.models import DeviceState
from server.storage.registry import Device
from server.timeseries import Point
from tests.support.api_world import api_settings, build_world

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("webapi") / "sc.db"
    app, world = build_world(api_settings(f"sqlite:///{path}"))
    engine = app.state.services.engine
    with engine.begin() as connection:
        connection.execute(insert(Device), [{"site_id": "north", "code": "gate-1", "kind": "edge", "name": "北门"}])
        telemetry = {
            "outbox_depth": 4,
            "cpu_percent": 20.0,
            "cameras": [{"camera": "a", "fps": 10.0}, {"camera": "b", "fps": 5.5}],
        }
        connection.execute(
            insert(DeviceState),
            [
                {"site": "north", "device": "gate-1", "online": True, "last_seen": NOW, "telemetry": telemetry},
                {
                    "site": "north",
                    "device": "stray",
                    "online": False,
                    "last_seen": NOW - timedelta(hours=2),
                    "telemetry": {},
                },
                {"site": "south", "device": "gate-9", "online": True, "last_seen": NOW, "telemetry": {}},
            ],
        )
        append_audit(connection, "user:police", "police.query", "police_authorisation:1", {"returned": 3})
        append_audit(connection, "user:manager", "alert.acknowledge", "alert:1")
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    points = []
    for ts, site, gate, method, result in (
        (hour + timedelta(minutes=1), "north", "g1", "card", "granted"),
        (hour + timedelta(minutes=2), "north", "g1", "card", "granted"),
        (hour - timedelta(minutes=30), "north", "g1", "face", "denied"),
        (hour - timedelta(hours=30), "north", "g1", "face", "granted"),
        (hour + timedelta(minutes=3), "south", "g2", "qr", "granted"),
    ):
        tags = {"site": site, "gate": gate, "device": "d", "method": method, "result": result, "direction": "in"}
        points.append(Point("passages", ts, tags, {"value": 1.0}))
    app.state.platform.timeseries.write(points)
    with world.client:
        world.headers = {name: world.login(name) for name in ("admin", "manager", "police", "alice")}
        yield world


def test_device_health_joins_registry_and_state_within_scope(world):
    response = world.client.get("/api/v1/dashboard/devices", headers=world.headers["manager"])
    assert response.status_code == 200
    lines = {line["device"]: line for line in response.json()}
    assert set(lines) == {"gate-1", "stray"}, "south is outside the manager's sites"
    gate = lines["gate-1"]
    assert gate["registered"] and gate["online"] and gate["name"] == "北门"
    assert gate["fps"] == 15.5 and gate["outbox_depth"] == 4 and gate["cpu_percent"] == 20.0
    assert not lines["stray"]["registered"] and not lines["stray"]["online"] and lines["stray"]["fps"] is None
    admin = world.client.get("/api/v1/dashboard/devices", headers=world.headers["admin"]).json()
    assert {line["device"] for line in admin} == {"gate-1", "stray", "gate-9"}
    refused = world.client.get("/api/v1/dashboard/devices?site=south", headers=world.headers["manager"])
    assert refused.status_code == 403


def test_traffic_is_hourly_and_scoped(world):
    response = world.client.get("/api/v1/dashboard/traffic?hours=24", headers=world.headers["manager"])
    assert response.status_code == 200
    body = response.json()
    assert len(body["hours"]) == 24
    counts = {(row["hour"][:13], row["method"], row["result"]): row["count"] for row in body["rows"]}
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    this_hour, last_hour = hour.isoformat()[:13], (hour - timedelta(hours=1)).isoformat()[:13]
    assert counts == {(this_hour, "card", "granted"): 2, (last_hour, "face", "denied"): 1}
    assert all(row["site"] == "north" for row in body["rows"])
    wide = world.client.get("/api/v1/dashboard/traffic?hours=48", headers=world.headers["admin"]).json()
    assert sum(row["count"] for row in wide["rows"]) == 5
    assert world.client.get("/api/v1/dashboard/traffic?hours=0", headers=world.headers["admin"]).status_code == 422


def test_audit_mine_shows_only_the_callers_entries(world):
    entries = world.client.get("/api/v1/audit/mine", headers=world.headers["police"]).json()
    assert [e["action"] for e in entries if e["action"] == "police.query"] == ["police.query"]
    assert all("alert" not in e["action"] for e in entries)
    assert world.client.get("/api/v1/audit/mine", headers=world.headers["manager"]).status_code == 403


def test_live_feed_takes_the_token_as_a_subprotocol(world):
    token = world.headers["manager"]["Authorization"].split(" ", 1)[1]
    with world.client.websocket_connect("/api/v1/live", subprotocols=["sc.bearer", token]) as socket:
        assert socket.accepted_subprotocol == "sc.bearer"
        assert socket.receive_json() == {"type": "hello", "role": "manager"}
    with (
        pytest.raises(WebSocketDisconnect),
        world.client.websocket_connect("/api/v1/live", subprotocols=["sc.bearer", "not-a-token"]) as socket,
    ):
        socket.receive_json()
