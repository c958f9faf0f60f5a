"""Face consent rules: a record per person (notice, channel, who), a guardian under 14, withdrawal."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from server.storage.audit import AuditEntry
from server.storage.enrolment import ConsentDetail
from tests.support.api_world import USERNAMES, api_settings, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("consent") / "sc.db"
    app, world = build_world(api_settings(f"sqlite:///{path}"))
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        yield app, world


def consent(world, role: str, person: str, **fields):
    body = {"given_by": "someone", "notice_version": "2026-01", "channel": "paper", **fields}
    return world.client.post(f"/api/v1/persons/{person}/consents/face", headers=world.headers[role], json=body)


def test_a_child_under_14_needs_a_guardian(world):
    app, world = world
    child_birth = date(date.today().year - 9, 1, 1).isoformat()
    refused = consent(world, "manager", "p-bob", subject_birth_date=child_birth)
    assert refused.status_code == 422 and "guardian" in refused.text
    granted = consent(
        world,
        "manager",
        "p-bob",
        subject_birth_date=child_birth,
        given_by="Bob's mother",
        guardian_name="Mother",
        guardian_relation="parent",
    )
    assert granted.status_code == 201
    with app.state.services.engine.connect() as connection:
        detail = connection.execute(
            select(ConsentDetail).where(ConsentDetail.consent_id == granted.json()["consent_id"])
        ).one()
    assert (detail.guardian_name, detail.notice_version, detail.channel, detail.recorded_by) == (
        "Mother",
        "2026-01",
        "paper",
        "user:manager",
    )
    assert (
        consent(
            world, "manager", "p-bob", subject_birth_date=child_birth, guardian_name="M", guardian_relation="parent"
        ).status_code
        == 409
    ), "one standing consent at a time"


def test_age_comes_from_the_id_number_when_registered(world):
    _, world = world
    assert consent(world, "resident", "p-alice", given_by="Alice", channel="app").status_code == 201
    no_birth_date = consent(world, "manager", "p-dave")
    assert no_birth_date.status_code == 422 and "subject_birth_date" in no_birth_date.text
    assert consent(world, "manager", "p-dave", channel="fax", subject_birth_date="1980-01-01").status_code == 422


def test_only_the_person_or_staff_of_the_site_decide(world):
    _, world = world
    assert consent(world, "resident", "p-dave", subject_birth_date="1980-01-01").status_code == 403
    assert consent(world, "manager", "p-carol", subject_birth_date="1980-01-01").status_code == 403
    assert (
        world.client.delete("/api/v1/persons/p-bob/consents/face", headers=world.headers["resident"]).status_code == 403
    )


def test_withdrawal_is_recorded_and_leaves_nothing_to_erase_without_edges(world):
    app, world = world
    # Alice's own consent (given by an earlier test of this module, or here when this test runs alone)
    assert consent(world, "resident", "p-alice", given_by="Alice", channel="app").status_code in (201, 409)
    response = world.client.delete("/api/v1/persons/p-alice/consents/face", headers=world.headers["resident"])
    assert response.status_code == 202 and response.json()["erase_sent_to"] == []
    status = world.client.get("/api/v1/persons/p-alice/face", headers=world.headers["resident"]).json()
    assert status["consent"] is None and status["templates"] == 0 and status["erasure_complete"] is True
    assert (
        world.client.delete("/api/v1/persons/p-alice/consents/face", headers=world.headers["resident"]).status_code
        == 409
    )
    with app.state.services.engine.connect() as connection:
        actions = connection.execute(select(AuditEntry.action).where(AuditEntry.subject == "person:p-alice"))
        assert list(actions.scalars()) == ["consent.face.grant", "consent.face.withdraw"]
