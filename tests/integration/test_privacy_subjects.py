"""Data-subject requests: a full copy (PIPL Art. 45) and erasure down to rows and files (Art. 47)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
from sqlalchemy import func, or_, select

from server.privacy.certificates import certificate_hash, check_certificate
from server.privacy.subjects import SubjectNotFound, erase_person, erasure_certificate, export_person
from server.storage.audit import AuditEntry
from server.storage.enrolment import ConsentDetail, EraseRequest, FaceTemplate
from server.storage.media import Snapshot
from server.storage.models import Event
from server.storage.people import Consent, Credential, Occupancy, Person, Vehicle
from server.storage.sync import CredentialValue, SyncChange
from server.storage.visitors import VisitorPass
from tests.support.privacy_world import ALICE, ALICE_ID, ALICE_PLATE, BOB, new_cipher, seed

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
def cipher():
    return new_cipher()


@pytest.fixture()
def world(engine, cipher, tmp_path):
    with engine.begin() as connection:
        return seed(connection, cipher, tmp_path / "snapshots")


def test_pipl_art45_the_copy_holds_every_record_and_the_snapshot_files(engine, cipher, world):
    with engine.begin() as connection:
        request_id, data = export_person(connection, cipher, world.snapshot_root, ALICE, "user:alice")
    archive = zipfile.ZipFile(io.BytesIO(data))
    document = json.loads(archive.read("person.json"))
    assert document["person"]["id_number"] == ALICE_ID and document["person"]["phone"] == "13800138000"
    assert [v["plate"] for v in document["vehicles"]] == [ALICE_PLATE]
    assert [c["ref"] for c in document["credentials"]] == ["c-alice-card"]
    assert [t["template_id"] for t in document["face_templates"]] == ["t-0"]
    assert {p["id"] for p in document["visitor_passes"]} == {"vp-old", "vp-new"}
    assert {e["event_id"] for e in document["events"]} == {
        str(world.event_ids[name]) for name in ("alice-old", "alice-new", "alice-car-old", "alice-car-new")
    }
    (snapshot,) = document["snapshots"]
    assert archive.read(snapshot["file"]) == world.files["snap-alice"].read_bytes()
    assert "embedding" not in json.dumps(document) and "vector" not in json.dumps(document)
    with engine.connect() as connection:
        entry = connection.execute(select(AuditEntry.__table__).where(AuditEntry.action == "privacy.export")).one()
    assert entry.actor == "user:alice" and entry.detail["events"] == 4 and entry.detail["files"] == 1
    assert ALICE_ID not in json.dumps(entry.detail) and ALICE_PLATE not in json.dumps(entry.detail)
    assert entry.detail["request"] == str(request_id)


@pytest.mark.parametrize("policy", ["pseudonymise", "delete"])
def test_pipl_art47_erasure_reaches_every_row_and_file(engine, world, policy):
    with engine.begin() as connection:
        request_id, outgoing = erase_person(connection, world.snapshot_root, ALICE, "user:admin", policy)
    assert sorted(device for _, device, _ in outgoing) == ["cam-street", "gate-1"]
    assert all(command.person_id == ALICE and command.scope.value == "all" for _, _, command in outgoing)
    assert not world.files["snap-alice"].exists() and world.files["snap-new"].exists()
    with engine.connect() as connection:
        person = connection.execute(select(Person.__table__).where(Person.id == ALICE)).one()
        assert (person.name, person.phone, person.id_number_enc, person.id_number_hash) == (
            "[erased]",
            None,
            None,
            None,
        )
        assert person.erased_at is not None
        for model, column in (
            (FaceTemplate, FaceTemplate.person_id),
            (Credential, Credential.person_id),
            (Consent, Consent.person_id),
            (Occupancy, Occupancy.person_id),
            (Vehicle, Vehicle.owner_id),
            (VisitorPass, VisitorPass.host_person_id),
        ):
            assert connection.execute(select(func.count()).select_from(model).where(column == ALICE)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(CredentialValue)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(ConsentDetail)).scalar() == 1  # Bob's
        naming = connection.execute(
            select(Event.__table__).where(or_(Event.person_id == ALICE, Event.plate == ALICE_PLATE))
        ).all()
        assert naming == []
        dumped = json.dumps([dict(row.data) for row in connection.execute(select(Event.data))], ensure_ascii=False)
        assert ALICE not in dumped and ALICE_PLATE not in dumped
        kept = set(connection.execute(select(Event.event_id)).scalars())
        alice_events = {world.event_ids[name] for name in ("alice-old", "alice-new", "alice-car-old", "alice-car-new")}
        assert (alice_events <= kept) == (policy == "pseudonymise") and not (alice_events & kept and policy == "delete")
        assert connection.execute(select(func.count()).select_from(Snapshot)).scalar() == 2
        assert {key for key in connection.execute(select(SyncChange.key)).scalars()} == {ALICE, "c-alice-card"}
        assert connection.execute(select(func.count()).select_from(EraseRequest)).scalar() == 2
        assert connection.execute(select(FaceTemplate.person_id)).scalars().all() == [BOB]


def test_pipl_art47_the_certificate_waits_for_every_edge_and_cannot_be_altered(engine, world):
    with engine.begin() as connection:
        request_id, _ = erase_person(connection, world.snapshot_root, ALICE, "user:admin", "pseudonymise")
        issued = erasure_certificate(connection, request_id)
    assert issued["status"] == "waiting for edges" and issued["sha256"] is None
    document = issued["certificate"]
    assert document["platform"]["face_templates"] == 1 and document["platform"]["credentials"] == 1
    assert [edge["confirmed"] for edge in document["edges"]] == [False, False]
    assert {item["what"] for item in document["retained"]} >= {"audit_entries"}
    with engine.connect() as connection:
        assert not check_certificate(connection, document, certificate_hash(document))  # never bound: not valid
    with engine.begin() as connection, pytest.raises(SubjectNotFound):
        erase_person(connection, world.snapshot_root, ALICE, "user:admin", "pseudonymise")
    with engine.begin() as connection, pytest.raises(SubjectNotFound):
        erasure_certificate(connection, uuid.uuid4())
