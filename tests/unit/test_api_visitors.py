"""Visitor passes: issued by residents and managers, verified offline by the edge's own verifier from the PNG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from edge.access.errors import PassError
from edge.access.qr_code import QrReader
from edge.access.qr_pass import PassVerifier, load_public_key
from server.services.edge_lists import allowlist_entries
from tests.support.api_world import USERNAMES, api_settings, build_world, pass_window


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("visitors") / "sc.db"
    app, world = build_world(api_settings(f"sqlite:///{path}"))
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        yield app, world


def edge_verifier(app, site: str) -> PassVerifier:
    """What a gate holds: the platform's public key from a device bundle, nothing else."""
    signer = app.state.services.keys.pass_signer
    return PassVerifier({signer.key_id: load_public_key(signer.public_key)}, site=site)


def decode_png(data: bytes) -> list[str]:
    """The QR texts of a PNG, read by the gate's own reader (edge QrReader)."""
    return QrReader().decode(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE))


def test_resident_pass_png_verifies_at_the_gate_offline(world):
    app, world = world
    window = pass_window(hours=2)
    issued = world.client.post(
        "/api/v1/visitor-passes",
        headers=world.headers["resident"],
        json={**window, "gates": ["g1"], "visitor_name": "Uncle Li", "single_use": True},
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["host_person_id"] == "p-alice" and body["site_id"] == "north"
    png = world.client.get(f"/api/v1/visitor-passes/{body['id']}/qr.png", headers=world.headers["resident"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    [text] = decode_png(png.content)
    assert text == body["token"]
    now = datetime.now(UTC)
    verified = edge_verifier(app, "north").verify(text, gate="g1", now=now)
    assert (verified.pass_id, verified.host_person_id, verified.single_use) == (body["id"], "p-alice", True)
    assert "Uncle" not in text, "no names in the token"
    for gate, when, reason in (("g9", now, "wrong-gate"), ("g1", now + timedelta(hours=3), "expired")):
        with pytest.raises(PassError) as refused:
            edge_verifier(app, "north").verify(text, gate=gate, now=when)
        assert refused.value.reason == reason
    with pytest.raises(PassError):
        edge_verifier(app, "south").verify(text, gate="g1", now=now)
    tampered = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    with pytest.raises(PassError):
        edge_verifier(app, "north").verify(tampered, gate="g1", now=now)


def test_pass_link_serves_the_qr_without_login_only_for_genuine_tokens(world):
    app, world = world
    issued = world.client.post("/api/v1/visitor-passes", headers=world.headers["resident"], json=pass_window()).json()
    link = issued["link"].split("8080", 1)[1]
    shared = world.client.get(link)
    assert shared.status_code == 200 and decode_png(shared.content) == [issued["token"]]
    forged = issued["token"][:-3] + "abc"
    assert world.client.get("/api/v1/passes/qr.png", params={"token": forged}).status_code == 422
    assert (
        world.client.delete(f"/api/v1/visitor-passes/{issued['id']}", headers=world.headers["resident"]).status_code
        == 204
    )
    assert world.client.get(link).status_code == 404, "a revoked pass's link stops working"


def test_manager_pre_registers_a_visitor_car_on_the_allowlist(world):
    app, world = world
    issued = world.client.post(
        "/api/v1/visitor-passes",
        headers=world.headers["manager"],
        json={**pass_window(), "site_id": "north", "plate": "京N 88888", "gates": ["g1"], "single_use": False},
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["plate"] == "京N88888"
    services = app.state.services
    with services.engine.connect() as connection:
        entries = allowlist_entries(connection, services.keys.cipher, "north", {f"pass-{issued.json()['id']}"})
    [entry] = entries
    assert (entry.value, entry.group, entry.gates, entry.person_id) == ("京N88888", "visitors", ["g1"], None)
    assert entry.valid_until is not None


def test_pass_scope_and_validation(world):
    _, world = world
    resident, manager = world.headers["resident"], world.headers["manager"]
    as_bob = world.client.post(
        "/api/v1/visitor-passes", headers=resident, json={**pass_window(), "host_person_id": "p-bob"}
    )
    assert as_bob.status_code == 403
    south = world.client.post("/api/v1/visitor-passes", headers=manager, json={**pass_window(), "site_id": "south"})
    assert south.status_code == 403
    unknown_gate = world.client.post(
        "/api/v1/visitor-passes", headers=resident, json={**pass_window(), "gates": ["g2"]}
    )
    assert unknown_gate.status_code == 422
    too_long = world.client.post("/api/v1/visitor-passes", headers=resident, json=pass_window(hours=24 * 40))
    assert too_long.status_code == 422
    backwards = pass_window()
    backwards["valid_until"], backwards["valid_from"] = backwards["valid_from"], backwards["valid_until"]
    assert world.client.post("/api/v1/visitor-passes", headers=resident, json=backwards).status_code == 422
    mine = world.client.get("/api/v1/visitor-passes", headers=resident).json()["items"]
    assert mine and all(p["host_person_id"] == "p-alice" for p in mine)
    issued_by_manager = [
        p
        for p in world.client.get("/api/v1/visitor-passes", headers=manager).json()["items"]
        if p["host_person_id"] is None
    ]
    assert issued_by_manager, "the manager sees passes without a host at their site"
    other = issued_by_manager[0]["id"]
    assert world.client.get(f"/api/v1/visitor-passes/{other}/qr.png", headers=resident).status_code == 404


def test_watchlist_hit_becomes_an_alert_for_the_site_managers(world):
    app, world = world
    added = world.client.post(
        "/api/v1/watchlist",
        headers=world.headers["manager"],
        json={"site_id": "north", "kind": "plate", "value": "京W 12345", "level": "critical", "reason": "stolen"},
    )
    assert added.status_code == 201 and added.json()["value"] == "京W12345"
    person = world.client.post(
        "/api/v1/watchlist",
        headers=world.headers["manager"],
        json={"site_id": "north", "kind": "person", "value": "p-carol"},
    )
    assert person.status_code == 422, "a person of another site cannot be watched here"
    services = app.state.services
    received = []
    services.alerts.subscribe(received.append)
    import uuid

    event = {
        "event_id": uuid.uuid4(),
        "site": "north",
        "gate": "g1",
        "device": "edge-1",
        "plate": "京W12345",
        "person_id": None,
        "ts": datetime.now(UTC),
    }
    services.watchlist(event)
    services.watchlist(event)  # redelivered: one alert only
    services.watchlist({**event, "event_id": uuid.uuid4(), "site": "south"})
    assert [(a["level"], a["gate"], a["site_id"]) for a in received] == [("critical", "g1", "north")]
    alerts = world.client.get("/api/v1/alerts", headers=world.headers["manager"]).json()["items"]
    assert len(alerts) == 1 and alerts[0]["event_id"] == str(event["event_id"])
    assert (
        world.client.post(f"/api/v1/alerts/{alerts[0]['id']}/acknowledge", headers=world.headers["manager"]).status_code
        == 204
    )
    with services.engine.connect() as connection:
        entries = allowlist_entries(connection, services.keys.cipher, "north", None)
    assert any(e.watchlist and e.value == "京W12345" for e in entries), "watched plates reach the edges"
    assert (
        world.client.delete(f"/api/v1/watchlist/{added.json()['id']}", headers=world.headers["manager"]).status_code
        == 204
    )
