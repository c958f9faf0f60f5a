"""Retention enforcement on SQLite and PostgreSQL: every class at its own limit, files, templates, edges, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from protocol.commands import ApplyRetention, ErasePerson, EraseScope
from server.privacy.report import build_report
from server.privacy.retention import RetentionEnforcer
from server.privacy.settings import PrivacySettings
from server.storage.audit import AuditEntry
from server.storage.enrolment import EraseRequest, FaceTemplate
from server.storage.media import Snapshot
from server.storage.models import Event, RejectedMessage
from server.storage.visitors import VisitorPass
from tests.support.privacy_world import ALICE, ALICE_PLATE, BOB, new_cipher, seed

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    from server.storage.db import make_engine, migrate

    url = f"sqlite:///{tmp_path}/sc.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def world(engine, tmp_path):
    with engine.begin() as connection:
        return seed(connection, new_cipher(), tmp_path / "snapshots")


def _settings(tmp_path, **retention) -> PrivacySettings:
    return PrivacySettings(
        snapshot_root=tmp_path / "snapshots",
        audit_anchor_file=tmp_path / "anchor.json",
        batch_size=100,
        batch_pause_ms=0,
        retention=retention,
    )


def _remaining_events(engine, world) -> set[str]:
    with engine.connect() as connection:
        ids = set(connection.execute(select(Event.event_id)).scalars())
    return {name for name, event_id in world.event_ids.items() if event_id in ids}


def test_pipl_art19_every_class_is_purged_at_its_own_limit_and_no_earlier(engine, world, tmp_path):
    sent = []
    result = RetentionEnforcer(
        engine, _settings(tmp_path), send=lambda *args: sent.append(args), clock=lambda: world.now
    ).run("test")
    assert _remaining_events(engine, world) == {
        "alice-new",
        "alice-car-new",
        "visitor-new",
        "stranger-new",
        "alarm-new",
        "door-new",
        "unknown-face-old",
        "unknown-face-new",
    }
    assert result.deleted["events:access"] == 2  # card passage 120 d and registered car 100 d, limit 90 d
    assert result.deleted["events:qr-passage"] == 1 and result.deleted["visitor_passes"] == 1
    assert result.deleted["events:plate"] == 1 and result.deleted["events:alarm"] == 1
    assert result.deleted["events:door"] == 1 and result.deleted["rejected_messages"] == 1
    with engine.connect() as connection:
        assert set(connection.execute(select(VisitorPass.id)).scalars()) == {"vp-new"}
        assert connection.execute(select(func.count()).select_from(RejectedMessage)).scalar() == 1
    assert result.errors == [] and result.audit_chain_ok


def test_pipl_art19_expired_snapshots_lose_their_files_too(engine, world, tmp_path):
    result = RetentionEnforcer(engine, _settings(tmp_path), clock=lambda: world.now).run("test")
    assert not world.files["snap-old"].exists()
    assert world.files["snap-new"].exists() and world.files["snap-alice"].exists()
    assert result.files_removed == 1 and result.deleted["snapshots"] == 1
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Snapshot)).scalar() == 2


def test_pipl_art47_templates_of_a_person_who_left_are_erased_here_and_on_the_gallery_edges(engine, world, tmp_path):
    sent = []
    RetentionEnforcer(
        engine, _settings(tmp_path, face_templates=30), send=lambda *args: sent.append(args), clock=lambda: world.now
    ).run("test")
    with engine.connect() as connection:
        assert set(connection.execute(select(FaceTemplate.person_id)).scalars()) == {ALICE}
        requests = connection.execute(select(EraseRequest.person_id, EraseRequest.device)).all()
    assert requests == [(BOB, "gate-1")]  # the only device holding a gallery
    erases = [(device, command) for command, _site, device in sent if isinstance(command, ErasePerson)]
    assert [(device, command.person_id, command.scope) for device, command in erases] == [
        ("gate-1", BOB, EraseScope.TEMPLATES)
    ]


def test_pipl_art19_edges_are_told_the_retention_of_their_local_records(engine, world, tmp_path):
    sent = []
    RetentionEnforcer(engine, _settings(tmp_path), send=lambda *args: sent.append(args), clock=lambda: world.now).run(
        "test"
    )
    retention = {device: command for command, _site, device in sent if isinstance(command, ApplyRetention)}
    assert set(retention) == {"gate-1", "cam-street"}
    assert retention["gate-1"].events_max_age_s == 30 * 86400  # the shortest event class (visitors, 30 d)
    assert retention["gate-1"].snapshots_max_age_s == 7 * 86400


def test_every_run_is_audited_with_counts_never_contents(engine, world, tmp_path):
    RetentionEnforcer(engine, _settings(tmp_path), clock=lambda: world.now).run("test")
    with engine.connect() as connection:
        entry = connection.execute(
            select(AuditEntry.__table__).where(AuditEntry.action == "privacy.retention.run")
        ).one()
    assert entry.detail["deleted"]["events:access"] == 2
    text = str(entry.detail)
    assert ALICE not in text and ALICE_PLATE not in text and "Alice" not in text


def test_report_shows_classes_over_their_limit_until_a_run_fixes_them(engine, world, tmp_path):
    settings = _settings(tmp_path)
    before = build_report(engine, settings, clock=lambda: world.now)
    over = {line["class"] for line in before["classes"] if not line["within_limit"]}
    assert over == {
        "resident_access_events",
        "visitor_records",
        "unregistered_plate_reads",
        "unknown_face_snapshots",
        "alarms",
        "security_logs",
        "face_templates",
    }
    assert before["last_run"] is None and not before["compliant"]
    RetentionEnforcer(engine, settings, clock=lambda: world.now).run("test")
    after = build_report(engine, settings, clock=lambda: world.now)
    assert all(line["within_limit"] for line in after["classes"]), after["classes"]
    assert after["last_run"]["deleted"]["events:access"] == 2
    assert after["edges"]["north/gate-1"]["retention_outstanding"] == 1
    oldest = {line["class"]: line.get("oldest_age_days") for line in after["classes"]}
    assert oldest["resident_access_events"] == pytest.approx(8, abs=0.01)


def test_pipl_art28_29_withdrawn_face_consent_takes_the_templates_here_and_on_the_edges(engine, world, tmp_path):
    from sqlalchemy import update

    from server.storage.people import Consent

    with engine.begin() as connection:
        connection.execute(update(Consent).where(Consent.person_id == ALICE).values(withdrawn_at=world.now))
    sent = []
    result = RetentionEnforcer(
        engine, _settings(tmp_path, face_templates=30), send=lambda *args: sent.append(args), clock=lambda: world.now
    ).run("test")
    assert result.deleted["face_templates"] == 2  # Alice withdrew, Bob left 40 days ago
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(FaceTemplate)).scalar() == 0
    assert sorted(command.person_id for command, _, _ in sent if isinstance(command, ErasePerson)) == [ALICE, BOB]


def test_csl_art21_security_logs_stay_for_180_days_and_go_after(engine, world, tmp_path):
    result = RetentionEnforcer(engine, _settings(tmp_path), clock=lambda: world.now).run("test")
    remaining = _remaining_events(engine, world)
    assert "door-new" in remaining and "door-old" not in remaining  # 100 days kept, 200 days purged
    assert result.deleted["rejected_messages"] == 1  # the 190-day one; the 20-day one stays


def test_face_measures_2025_filing_counts_a_person_once_across_sites(engine, world, tmp_path):
    from sqlalchemy import insert

    from server.privacy.filing import face_subjects
    from server.services.edge_lists import encrypt_vector
    from server.storage.people import Consent, Person, person_values
    from server.storage.registry import Site
    from tests.support.privacy_world import ALICE_ID, new_cipher

    cipher = new_cipher()
    with engine.begin() as connection:
        assert face_subjects(connection) == 2
        connection.execute(insert(Site).values(id="south", name="South"))
        for person_id, id_number in (("p-alice-south", ALICE_ID), ("p-eve", None)):
            connection.execute(
                insert(Person).values(
                    person_values(
                        cipher, person_id=person_id, site_id="south", kind="resident", name="x", id_number=id_number
                    )
                )
            )
            consent = connection.execute(
                insert(Consent).values(person_id=person_id, purpose="face", evidence="{}").returning(Consent.id)
            ).scalar_one()
            connection.execute(
                insert(FaceTemplate).values(
                    template_id=f"t-{person_id}",
                    person_id=person_id,
                    consent_id=consent,
                    vector_enc=encrypt_vector(cipher, [0.1] * 128),
                )
            )
        # Alice's ID number hashes differently under another lookup key: register her with the world's key.
        alice_hash = connection.execute(select(Person.id_number_hash).where(Person.id == ALICE)).scalar_one()
        connection.execute(
            Person.__table__.update().where(Person.id == "p-alice-south").values(id_number_hash=alice_hash)
        )
        assert face_subjects(connection) == 3, "Alice at two sites counts once; Eve is new"
