"""The police link through the API on PostgreSQL: workflow, scoped queries, signed export, push worker, off = 404."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from server.police.signing import SignatureError, verify_export
from server.storage.audit import AuditEntry, verify_chain
from server.storage.models import Event
from server.storage.police import PoliceAuthorisation
from server.storage.watchlists import WatchlistEntry
from tests.integration.test_police_push import CAMERA_ID, PLATFORM_ID, ViidEndpoint, pki  # noqa: F401 - fixture
from tests.support.api_world import api_settings, build_world
from tests.support.ports import free_port
from tests.support.services import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
NOW = datetime.now(UTC).replace(microsecond=0)
P = "/api/v1/police"


def add_event(engine, kind: str, ts: datetime, **columns) -> dict:
    row = {
        "event_id": uuid.uuid4(),
        "schema_name": kind,
        "kind": kind,
        "site": "north",
        "device": "cam-1",
        "seq": 1,
        "ts": ts,
        "received_at": datetime.now(UTC),
        "gate": "g1",
        "method": None,
        "result": None,
        "person_id": None,
        "plate": None,
        "data": {},
    } | columns
    with engine.begin() as connection:
        connection.execute(insert(Event).values(**row))
    return row


def police_section(paths, port: int) -> dict:
    return {
        "enabled": True,
        "platform_id": PLATFORM_ID,
        "endpoint_url": f"https://127.0.0.1:{port}",
        "client_cert": str(paths["ca-client"]),
        "client_key": str(paths["ca-client-key"]),
        "ca_file": str(paths["ca"]),
        "device_ids": {"north/cam-1": CAMERA_ID},
        "push": {"enabled": True, "interval_s": 0.1, "subscriptions": [{"name": "hits", "kind": "watchlist_hit"}]},
    }


def test_police_link_through_the_api(postgres_url, pki):  # noqa: F811
    endpoint = ViidEndpoint(pki, free_port()).start()
    app, world = build_world(api_settings(postgres_url, police=police_section(pki, endpoint.port)))
    engine = app.state.services.engine
    try:
        with world.client as client:
            police, manager, admin = (world.login(name) for name in ("police", "manager", "admin"))
            wanted = add_event(engine, "plate", NOW - timedelta(hours=2), plate="京A12345", data={"colour": "blue"})
            add_event(engine, "plate", NOW - timedelta(hours=1), plate="京B54321", data={"colour": "blue"})
            body = {
                "case_number": "A2026-042",
                "legal_basis": "Criminal Procedure Law art. 54",
                "purpose": "locate a vehicle",
                "scope": {"plates": ["京A12345"], "kinds": ["plates"]},
                "window_start": (NOW - timedelta(days=1)).isoformat(),
                "window_end": NOW.isoformat(),
                "expires_at": (NOW + timedelta(days=3)).isoformat(),
            }
            assert client.post(f"{P}/authorisations", json=body, headers=manager).status_code == 403
            filed = client.post(f"{P}/authorisations", json=body, headers=police)
            assert filed.status_code == 201, filed.text
            auth_id = filed.json()["id"]
            plates_url = f"{P}/authorisations/{auth_id}/plates"
            assert client.get(plates_url, headers=police).status_code == 403, "not approved yet"
            assert client.post(f"{P}/authorisations/{auth_id}/approve", json={}, headers=manager).status_code == 403
            police_id = world.ids["user_ids"]["police"]
            manager_id = world.ids["user_ids"]["manager"]
            for user_id in (police_id, manager_id):
                assert client.post(f"{P}/approvers", json={"user_id": user_id}, headers=admin).status_code == 201
            own = client.post(f"{P}/authorisations/{auth_id}/approve", json={"note": "mine"}, headers=police)
            assert own.status_code == 403 and "author" in own.json()["detail"]
            ok = client.post(f"{P}/authorisations/{auth_id}/approve", json={"note": "proportionate"}, headers=manager)
            assert ok.status_code == 200 and ok.json()["status"] == "approved"

            page = client.get(plates_url, headers=police)
            assert page.status_code == 200, page.text
            assert [item["event_id"] for item in page.json()["items"]] == [str(wanted["event_id"])]
            assert client.get(plates_url, params={"plate": "京B54321"}, headers=police).status_code == 403
            assert client.get(f"{P}/authorisations/{auth_id}/passages", headers=police).status_code == 403
            assert client.get(plates_url, headers=manager).status_code == 403, "only police query"

            exported = client.post(f"{P}/authorisations/{auth_id}/export", json={}, headers=police)
            assert exported.status_code == 200, exported.text
            key = client.get(f"{P}/export-key", headers=police).json()
            document, signature = exported.json()["document"], exported.json()["signature"]
            verify_export(document.encode(), signature["value"], key["public_key_pem"])
            vehicle = json.loads(document)["MotorVehicleListObject"]["MotorVehicleObject"][0]
            assert vehicle["PlateNo"] == "京A12345" and vehicle["DeviceID"] == CAMERA_ID
            with pytest.raises(SignatureError):
                verify_export(
                    document.replace("京A12345", "京A12346").encode(), signature["value"], key["public_key_pem"]
                )

            with engine.begin() as connection:
                connection.execute(
                    update(PoliceAuthorisation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            assert client.get(plates_url, headers=police).status_code == 403, "expired"

            # The push worker started with the app: a hit on a police watchlist entry reaches the endpoint.
            with engine.begin() as connection:
                connection.execute(
                    insert(WatchlistEntry).values(
                        site_id="north",
                        kind="plate",
                        value="京A12345",
                        level="critical",
                        reason="case",
                        created_by="police:D-9",
                    )
                )
            wait_until(lambda: app.state.police.link.stats.rounds >= 2, 10, message="push worker running")
            hit = add_event(engine, "plate", datetime.now(UTC), plate="京A12345", data={"colour": "blue"})
            app.state.services.watchlist.invalidate()
            app.state.services.watchlist(hit)
            wait_until(lambda: endpoint.posts(), 15, message="hit pushed to the police endpoint")
            pushed = endpoint.posts()[0]["body"]["MotorVehicleListObject"]["MotorVehicleObject"][0]
            assert pushed["SCEventID"] == str(hit["event_id"]) and pushed["DeviceID"] == CAMERA_ID

        with engine.connect() as connection:
            actions = [row.action for row in connection.execute(select(AuditEntry).order_by(AuditEntry.id))]
            assert verify_chain(connection) is None
        police_actions = [a for a in actions if a.startswith("police.")]
        assert police_actions.count("police.query") == 2  # one plate query, one export query
        # pending, out-of-scope plate, kind not in scope, expired (the manager was stopped by the route rule)
        assert police_actions.count("police.query.refused") == 4
        assert {"police.request.filed", "police.request.approved", "police.export", "police.push"} <= set(actions)
    finally:
        endpoint.stop()


def test_police_routes_answer_404_while_the_link_is_off(tmp_path):
    app, world = build_world(api_settings(f"sqlite:///{tmp_path}/off.db"))
    with world.client as client:
        assert app.state.police.link is None and app.state.police.signer is None
        callers = {"anonymous": {}, "admin": world.login("admin"), "police": world.login("police")}
        paths = [
            ("GET", f"{P}/authorisations"),
            ("POST", f"{P}/authorisations"),
            ("GET", f"{P}/export-key"),
            ("GET", f"{P}/authorisations/1/plates"),
            ("POST", f"{P}/approvers"),
            ("GET", f"{P}/push"),
        ]
        for name, headers in callers.items():
            for method, path in paths:
                response = client.request(method, path, headers=headers, json={})
                assert response.status_code == 404, f"{name} {method} {path}: {response.status_code}"
