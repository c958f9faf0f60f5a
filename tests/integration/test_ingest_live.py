"""Live fan-out through the app: new events and alerts reach WebSocket subscribers; health and metrics."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.live import Principal, live_item, live_view
from tests.support.ingest import QosPublisher, access_message, alarm_message
from tests.support.platform import admin_headers, server_settings
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def test_view_depends_on_role_and_site():
    item = live_item(
        {
            "event_id": uuid4(),
            "kind": "access",
            "site": "a",
            "person_id": "p-1",
            "plate": None,
            "data": {"person_id": "p-1", "credential_ref": "c-1", "gate": "north"},
        }
    )
    assert live_view(Principal("m", "manager", frozenset({"a"})), item) == item
    assert live_view(Principal("m", "manager", frozenset({"b"})), item) is None
    guard = live_view(Principal("g", "guard", frozenset({"a"})), item)
    assert guard["event"]["person_id"] is None and guard["event"]["data"] == {"gate": "north"}
    assert live_view(Principal("r", "resident", None), item) is None
    assert live_item({"kind": "alarm", "site": "a"})["type"] == "alert"


def test_events_and_alerts_reach_websocket_subscribers(mosquitto, tmp_path):
    group = f"g{uuid4().hex[:8]}"
    app = create_app(server_settings(mosquitto.port, f"sqlite:///{tmp_path}/sc.db", group=group, client_id=group))
    publisher = QosPublisher(mosquitto.port)
    try:
        with TestClient(app) as client:
            wait_until(app.state.platform.ingest.connected.is_set, 10, message="ingest connected")
            token = admin_headers(client)["Authorization"].removeprefix("Bearer ")
            token = admin_headers(client)["Authorization"].removeprefix("Bearer ")
            with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/v1/live?token=wrong") as ws:
                ws.receive_json()
            with client.websocket_connect(f"/api/v1/live?token={token}&site={group}") as ws:
                assert ws.receive_json() == {"type": "hello", "role": "admin"}
                wait_until(lambda: app.state.live.subscribers == 1, 5, message="subscribed")
                publisher.publish(
                    [access_message(1, site="elsewhere"), access_message(2, site=group), alarm_message(3, site=group)]
                )
                first, second = ws.receive_json(), ws.receive_json()
            assert (first["type"], first["event"]["seq"], first["event"]["site"]) == ("event", 2, group)
            assert (second["type"], second["event"]["kind"]) == ("alert", "alarm")
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": True, "timeseries": True, "broker": True}
            metrics = client.get("/metrics").text
            assert 'sc_ingest_messages_total{kind="access"} 2.0' in metrics
            assert "sc_ingest_commit_seconds_count" in metrics
    finally:
        publisher.close()


def test_readyz_reports_an_unreachable_timeseries_store(mosquitto, tmp_path):
    settings = server_settings(mosquitto.port, f"sqlite:///{tmp_path}/sc.db", enabled=False)
    settings = settings.model_copy(update={"timeseries": settings.timeseries.model_copy(update={"backend": "influx"})})
    settings.timeseries.influx.url = "http://127.0.0.1:9"
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"database": True, "timeseries": False, "broker": True}
