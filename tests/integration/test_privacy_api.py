"""The privacy API: subject export and erasure by role, certificates, report, audit verify, cameras, PIA, gauge."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from server.storage.audit import AuditEntry
from server.storage.models import Event
from tests.support.api_world import ALICE_ID_NUMBER, api_settings, build_world

pytestmark = pytest.mark.integration


@pytest.fixture()
def world(tmp_path):
    settings = api_settings(
        f"sqlite:///{tmp_path}/sc.db",
        privacy={
            "snapshot_root": str(tmp_path / "snapshots"),
            "audit_anchor_file": str(tmp_path / "anchor.json"),
            "controller": "North Property Co.",
        },
    )
    app, world = build_world(settings)
    with world.client:
        world.headers = {name: world.login(name) for name in ("admin", "manager", "alice")}
        yield app, world


def test_pipl_art45_a_resident_downloads_their_own_copy_and_no_one_elses(world):
    _, world = world
    own = world.client.get("/api/v1/privacy/persons/p-alice/export", headers=world.headers["alice"])
    assert own.status_code == 200 and own.headers["content-type"] == "application/zip"
    document = json.loads(zipfile.ZipFile(io.BytesIO(own.content)).read("person.json"))
    assert document["person"]["id_number"] == ALICE_ID_NUMBER
    assert [v["plate"] for v in document["vehicles"]] == ["京A12345"]
    assert world.client.get("/api/v1/privacy/persons/p-bob/export", headers=world.headers["alice"]).status_code == 403
    assert (
        world.client.get("/api/v1/privacy/persons/p-carol/export", headers=world.headers["manager"]).status_code == 403
    )


def test_pipl_art47_erasure_needs_confirmation_and_ends_in_a_certificate(world):
    app, world = world
    url = "/api/v1/privacy/persons/p-bob/erase"
    assert world.client.post(url, json={"confirm": "p-alice"}, headers=world.headers["manager"]).status_code == 422
    assert (
        world.client.post(
            "/api/v1/privacy/persons/p-carol/erase", json={"confirm": "p-carol"}, headers=world.headers["manager"]
        ).status_code
        == 403
    )
    response = world.client.post(url, json={"confirm": "p-bob"}, headers=world.headers["manager"])
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    issued = world.client.get(f"/api/v1/privacy/erasures/{request_id}/certificate", headers=world.headers["admin"])
    assert issued.status_code == 200
    body = issued.json()
    assert body["status"] == "certified" and body["certificate"]["platform"]["vehicles"] == 1
    assert world.client.get("/api/v1/persons/p-bob", headers=world.headers["admin"]).status_code == 404
    assert (
        world.client.get(
            f"/api/v1/privacy/erasures/{uuid.uuid4()}/certificate", headers=world.headers["admin"]
        ).status_code
        == 404
    )
    assert world.client.post(url, json={"confirm": "p-bob"}, headers=world.headers["manager"]).status_code == 404


def test_pipl_art26_public_security_camera_data_is_withheld_from_access_control_search(world):
    app, world = world
    now = datetime.now(UTC)
    rows = [
        {
            "event_id": uuid.uuid4(),
            "schema_name": "access.decision",
            "kind": "access",
            "site": "north",
            "device": device,
            "seq": seq,
            "ts": now - timedelta(minutes=seq),
            "received_at": now,
            "gate": "main",
            "method": "face",
            "result": "unknown",
            "person_id": None,
            "plate": None,
            "data": {},
        }
        for seq, device in enumerate(("gate-1", "cam-street", "cam-street"))
    ]
    with app.state.services.engine.begin() as connection:
        connection.execute(insert(Event), rows)
    camera = {"site_id": "north", "device": "cam-street", "purpose": "public_security", "signage_posted": False}
    assert (
        world.client.post("/api/v1/privacy/cameras", json=camera, headers=world.headers["manager"]).status_code == 403
    )
    assert world.client.post("/api/v1/privacy/cameras", json=camera, headers=world.headers["admin"]).status_code == 201
    window = {
        "site_id": "north",
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(minutes=1)).isoformat(),
    }
    found = world.client.get("/api/v1/privacy/events", params=window, headers=world.headers["manager"])
    assert found.status_code == 200 and [e["device"] for e in found.json()] == ["gate-1"]
    for role in ("manager", "admin"):
        listed = world.client.get("/api/v1/events", params={"site": "north"}, headers=world.headers[role])
        assert listed.status_code == 200 and {e["device"] for e in listed.json()["items"]} == {"gate-1"}, role
        exported = world.client.get("/api/v1/events/export.csv", params={"site": "north"}, headers=world.headers[role])
        assert exported.status_code == 200 and "cam-street" not in exported.text, role
    report = world.client.get("/api/v1/privacy/report", headers=world.headers["manager"]).json()
    assert report["cameras"][0]["compliant"] is False and report["compliant"] is False
    assert (
        "cam-street | - | public_security | NO"
        in world.client.get("/api/v1/privacy/pia", headers=world.headers["admin"]).text
    )


def test_pipl_art55_audit_verify_reports_tampering_and_the_filing_gauge_is_exported(world):
    app, world = world
    intact = world.client.get("/api/v1/privacy/audit/verify", headers=world.headers["admin"])
    assert intact.status_code == 200 and intact.json()["ok"], intact.text
    with app.state.services.engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == 1).values(actor="someone-else"))
    broken = world.client.get("/api/v1/privacy/audit/verify", headers=world.headers["admin"])
    assert broken.status_code == 409 and broken.json()["detail"]["bad_id"] == 1
    assert world.client.get("/api/v1/privacy/audit/verify", headers=world.headers["manager"]).status_code == 403
    metrics = world.client.get("/metrics").text
    assert "sc_privacy_face_subjects 0.0" in metrics and "sc_privacy_filing_level 0.0" in metrics
    pia = world.client.get("/api/v1/privacy/pia", headers=world.headers["admin"])
    assert pia.status_code == 200 and "North Property Co." in pia.text and "{{" not in pia.text
