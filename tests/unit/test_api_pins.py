"""PINs and cards issued by the platform arrive on the allowlist in the one format the gates check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.access.allowlist import Allowlist
from edge.access.config import AccessConfig
from edge.access.policy import AccessPolicy
from server.services.edge_lists import allowlist_entries
from tests.support.api_world import USERNAMES, api_settings, build_world

MONDAY_NOON = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("pins") / "sc.db"
    app, world = build_world(api_settings(f"sqlite:///{path}"))
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        yield app, world


def _gate_policy(app) -> AccessPolicy:
    """A gate of site north holding the site's allowlist as the platform sends it."""
    services = app.state.services
    with services.engine.connect() as connection:
        entries = allowlist_entries(connection, services.keys.cipher, "north")
    config = AccessConfig.model_validate(
        {"site": "north", "doors": [{"id": "d1", "gate": "g1", "methods": ["card", "pin"]}]}
    )
    return AccessPolicy(config, Allowlist(entries))


def _put_pin(world, role: str, person: str, **body):
    return world.client.put(f"/api/v1/persons/{person}/pin", headers=world.headers[role], json=body)


def test_resident_sets_own_pin_and_the_gate_checks_it_offline(world):
    app, world = world
    answer = _put_pin(world, "resident", "p-alice", account="101", pin="482913")
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "pin" and answer.json()["person_id"] == "p-alice"
    assert "482913" not in answer.text
    policy = _gate_policy(app)
    granted = policy.decide_pin("101", "482913", "d1", MONDAY_NOON)
    assert granted.granted and granted.person_id == "p-alice" and granted.credential_ref == answer.json()["ref"]
    assert policy.decide_pin("101", "000000", "d1", MONDAY_NOON).reason == "wrong-pin"

    again = _put_pin(world, "resident", "p-alice", account="101", pin="771100")
    assert again.status_code == 200
    policy = _gate_policy(app)
    assert not policy.decide_pin("101", "482913", "d1", MONDAY_NOON).granted, "the old PIN was revoked"
    assert policy.decide_pin("101", "771100", "d1", MONDAY_NOON).granted


def test_pin_rules_and_refusals(world):
    app, world = world
    assert _put_pin(world, "resident", "p-bob", account="102", pin="123987").status_code == 403
    assert _put_pin(world, "resident", "p-alice", account="101", pin="12ab").status_code == 422
    assert _put_pin(world, "resident", "p-alice", account="1 01", pin="123987").status_code == 422
    staff_only = _put_pin(world, "resident", "p-alice", account="101", pin="123987", access_group="staff")
    assert staff_only.status_code == 422 and "residents" in staff_only.json()["detail"]
    assert _put_pin(world, "resident", "p-alice", account="101", pin="555123").status_code == 200
    clash = _put_pin(world, "manager", "p-dave", account="101", pin="555123")
    assert clash.status_code == 409, "two people of one account with one PIN would be told apart by chance"
    assert _put_pin(world, "manager", "p-dave", account="101", pin="555124", access_group="staff").status_code == 200
    assert _put_pin(world, "police", "p-dave", account="101", pin="555125").status_code == 403
    outcome = _gate_policy(app).decide_pin("101", "555124", "d1", MONDAY_NOON)
    assert (outcome.person_id, outcome.group) == ("p-dave", "staff")


def test_card_numbers_are_stored_and_sent_in_the_canonical_form(world):
    app, world = world
    issued = world.client.post(
        "/api/v1/credentials",
        headers=world.headers["manager"],
        json={"person_id": "p-bob", "kind": "card", "value": "0012-3456-78"},
    )
    assert issued.status_code == 201, issued.text
    duplicate = world.client.post(
        "/api/v1/credentials",
        headers=world.headers["manager"],
        json={"person_id": "p-dave", "kind": "card", "value": "12345678"},
    )
    assert duplicate.status_code == 409, "the same card with and without leading zeros is one card"
    services = app.state.services
    with services.engine.connect() as connection:
        [entry] = allowlist_entries(connection, services.keys.cipher, "north", {issued.json()["ref"]})
    assert entry.value == "12345678"
    assert _gate_policy(app).decide_card("0000012345678", "d1", MONDAY_NOON).person_id == "p-bob"
