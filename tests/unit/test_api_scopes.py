"""Row-level scope: managers see their sites, residents their own records and events; masking by role."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from server.storage.audit import AuditEntry
from server.storage.models import Event
from tests.support.api_world import ALICE_ID_NUMBER, USERNAMES, api_settings, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("scopes") / "sc.db"
    app, world = build_world(api_settings(f"sqlite:///{path}"))
    now = datetime.now(UTC)
    rows = []
    for seq, (site, gate, person, plate, result) in enumerate(
        [
            ("north", "g1", "p-alice", None, "granted"),
            ("north", "g1", None, "京A12345", "granted"),
            ("north", "g1", "p-bob", None, "granted"),
            ("north", "g1", None, None, "denied"),
            ("south", "g2", "p-carol", None, "granted"),
        ]
    ):
        rows.append(
            {
                "event_id": uuid.uuid4(),
                "schema_name": "access.decision",
                "kind": "access",
                "site": site,
                "device": f"{gate}-dev",
                "seq": seq,
                "ts": now - timedelta(minutes=10 - seq),
                "received_at": now,
                "gate": gate,
                "method": "plate" if plate else "card",
                "result": result,
                "person_id": person,
                "plate": plate,
                "data": {},
            }
        )
    with app.state.services.engine.begin() as connection:
        connection.execute(insert(Event), rows)
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        yield app, world


def get(world, role, path, **params):
    return world.client.get(path, headers=world.headers[role], params=params)


def test_manager_is_held_to_their_sites(world):
    _, world = world
    assert get(world, "manager", "/api/v1/sites/south").status_code == 403
    assert {p["site_id"] for p in get(world, "manager", "/api/v1/persons").json()["items"]} == {"north"}
    assert get(world, "manager", "/api/v1/persons/p-carol").status_code == 403
    body = {"site_id": "south", "code": "x"}
    assert world.client.post("/api/v1/buildings", headers=world.headers["manager"], json=body).status_code == 403
    assert (
        world.client.post(
            "/api/v1/gates", headers=world.headers["manager"], json={"site_id": "south", "code": "g9"}
        ).status_code
        == 403
    )
    assert get(world, "manager", "/api/v1/gates", site_id="south").json()["items"] == []
    assert get(world, "admin", "/api/v1/gates", site_id="south").json()["total"] == 1


def test_resident_sees_own_household_vehicles_and_nothing_else(world):
    _, world = world
    assert get(world, "resident", "/api/v1/persons/p-alice").status_code == 200
    assert get(world, "resident", "/api/v1/persons/p-dave").status_code == 200, "same room: household"
    assert get(world, "resident", "/api/v1/persons/p-bob").status_code == 403
    assert [v["plate"] for v in get(world, "resident", "/api/v1/vehicles").json()["items"]] == ["京A12345"]
    bob_vehicle = world.ids["bob_vehicle_id"]
    assert world.client.delete(f"/api/v1/vehicles/{bob_vehicle}", headers=world.headers["resident"]).status_code == 404
    created = world.client.post(
        "/api/v1/vehicles", headers=world.headers["resident"], json={"plate": "京Q77777", "owner_id": "p-bob"}
    )
    assert created.status_code == 201 and created.json()["owner_id"] == "p-alice", "residents register for themselves"


def test_phone_and_id_number_are_masked_by_role(world):
    app, world = world
    alice_by_admin = get(world, "admin", "/api/v1/persons/p-alice").json()
    assert alice_by_admin["id_number"] == ALICE_ID_NUMBER[:3] + "*" * 11 + ALICE_ID_NUMBER[-4:]
    assert alice_by_admin["phone"] == "13800138000"
    revealed = get(world, "admin", "/api/v1/persons/p-alice", reveal="true").json()
    assert revealed["id_number"] == ALICE_ID_NUMBER
    assert get(world, "manager", "/api/v1/persons/p-alice", reveal="true").json()["id_number"] != ALICE_ID_NUMBER
    assert get(world, "resident", "/api/v1/persons/p-alice").json()["phone"] == "13800138000"
    assert get(world, "resident", "/api/v1/persons/p-dave").json()["phone"] == "139****9000"
    with app.state.services.engine.connect() as connection:
        reveals = connection.execute(select(AuditEntry.actor).where(AuditEntry.action == "person.reveal_id_number"))
        assert reveals.scalars().all() == ["user:admin"]


def test_events_are_scoped_and_filtered(world):
    _, world = world
    assert len(get(world, "admin", "/api/v1/events").json()["items"]) == 5
    assert {e["site"] for e in get(world, "manager", "/api/v1/events").json()["items"]} == {"north"}
    own = get(world, "resident", "/api/v1/events").json()["items"]
    assert sorted((e["person_id"] or "", e["plate"] or "") for e in own) == [("", "京A12345"), ("p-alice", "")]
    assert get(world, "resident", "/api/v1/events", person_id="p-bob").json()["items"] == []
    assert len(get(world, "admin", "/api/v1/events", result="denied").json()["items"]) == 1
    assert len(get(world, "admin", "/api/v1/events", method="plate", gate="g1").json()["items"]) == 1
    page = get(world, "admin", "/api/v1/events", limit=2).json()
    rest = get(world, "admin", "/api/v1/events", limit=10, before_id=page["next_before_id"]).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 3


def test_csv_export_is_scoped_and_audited(world):
    app, world = world
    response = get(world, "manager", "/api/v1/events/export.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 4 and {row["site"] for row in rows} == {"north"}
    assert get(world, "resident", "/api/v1/events/export.csv").status_code == 403
    with app.state.services.engine.connect() as connection:
        exports = connection.execute(select(AuditEntry.actor).where(AuditEntry.action == "events.export"))
        assert "user:manager" in exports.scalars().all()


def test_registry_create_and_paginate(world):
    _, world = world
    admin = world.headers["admin"]
    assert world.client.post("/api/v1/sites", headers=admin, json={"id": "east", "name": "East"}).status_code == 201
    assert world.client.post("/api/v1/sites", headers=admin, json={"id": "east", "name": "Again"}).status_code == 409
    assert world.client.post("/api/v1/sites", headers=admin, json={"id": "Bad Id", "name": "x"}).status_code == 422
    person = world.client.post(
        "/api/v1/persons",
        headers=world.headers["manager"],
        json={"site_id": "north", "name": "Erin", "phone": "+86 139-0000-1111", "id_number": "110105194912310021"},
    )
    assert person.status_code == 422 and "check digit" in person.text
    person = world.client.post(
        "/api/v1/persons",
        headers=world.headers["manager"],
        json={"site_id": "north", "name": "Erin", "phone": "+86 139-0000-1111"},
    )
    assert person.status_code == 201 and person.json()["phone"] == "13900001111"
    first = get(world, "manager", "/api/v1/persons", limit=2, offset=0).json()
    second = get(world, "manager", "/api/v1/persons", limit=2, offset=2).json()
    assert first["total"] == second["total"] >= 4
    assert not {p["id"] for p in first["items"]} & {p["id"] for p in second["items"]}
    assert get(world, "manager", "/api/v1/persons", name="Eri").json()["items"][0]["name"] == "Erin"
