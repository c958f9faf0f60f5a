"""The SQL model on SQLite and PostgreSQL: migrations both ways, people with encrypted ID numbers, audit chain."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.orm import Session

from server.storage.audit import AuditEntry, append_audit, verify_chain
from server.storage.crypto import FieldCipher
from server.storage.db import make_engine, migrate
from server.storage.identity import IdentifierError
from server.storage.people import Occupancy, Person, find_person_ids_by_id_number, masked_person, person_values
from server.storage.registry import Building, Device, Room, Site, Unit

pytestmark = pytest.mark.integration
ID_NUMBER = "11010519491231002X"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path}/sc.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_migrations_go_down_and_up_again(engine):
    tables = set(inspect(engine).get_table_names())
    assert {"persons", "rooms", "audit_entries", "snapshots", "events", "device_states"} <= tables
    migrate_down(engine, "0001")
    assert "persons" not in set(inspect(engine).get_table_names())
    assert "events" in set(inspect(engine).get_table_names())
    migrate(engine)
    assert {"persons", "audit_entries"} <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision(engine)


def head_revision(engine) -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    from server.storage.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def migrate_down(engine, revision: str) -> None:
    """Downgrade through Alembic."""
    from alembic import command

    from server.storage.db import alembic_config

    command.downgrade(alembic_config(engine), revision)


def test_address_people_and_encrypted_id_numbers(engine):
    cipher = FieldCipher(os.urandom(32), os.urandom(32))
    with Session(engine) as session, session.begin():
        session.add(Site(id="demo", name="Demo community"))
        session.flush()
        building = Building(site_id="demo", code="3")
        session.add(building)
        session.flush()
        unit = Unit(building_id=building.id, code="2")
        session.add(unit)
        session.flush()
        room = Room(unit_id=unit.id, code="1502", floor=15, address="Demo community 3-2-1502")
        session.add(room)
        session.add(
            Person(
                **person_values(
                    cipher,
                    person_id="p-1",
                    site_id="demo",
                    kind="resident",
                    name="Li Lei",
                    phone="+86 13800138000",
                    id_number=ID_NUMBER.lower(),
                )
            )
        )
        session.flush()
        session.add(Occupancy(person_id="p-1", room_id=room.id, relation="owner"))
    with engine.connect() as connection:
        stored = connection.execute(select(Person.id_number_enc, Person.id_number_hash)).one()
        assert ID_NUMBER.encode() not in stored.id_number_enc
        assert ID_NUMBER not in stored.id_number_hash
        assert find_person_ids_by_id_number(connection, cipher, ID_NUMBER) == ["p-1"]
        assert find_person_ids_by_id_number(connection, cipher, "110101199003074514") == []
    with Session(engine) as session:
        shown = masked_person(session.get(Person, "p-1"), cipher)
    assert shown["id_number"] == "110***********002X"
    assert shown["phone"] == "138****8000"
    with pytest.raises(IdentifierError):
        person_values(
            cipher, person_id="p-2", site_id="demo", kind="resident", name="x", id_number="110105194912310021"
        )


def test_device_ids_and_constraints(engine):
    with Session(engine) as session, session.begin():
        session.add(Site(id="demo", name="Demo"))
        session.flush()
        session.add(Device(site_id="demo", code="cam-1", kind="camera", gb28181_id="34020000001320000001"))
    with pytest.raises(IdentifierError):
        Device(site_id="demo", code="cam-2", kind="camera", gb28181_id="34020000001000000001")
    with pytest.raises(Exception, match="(?i)check|constraint"), engine.begin() as connection:
        connection.execute(insert(Person).values(id="p-9", site_id="demo", kind="alien", name="x"))


def test_concurrent_audit_appends_keep_one_chain(postgres_url):
    """Four writers in concurrent PostgreSQL transactions (SQLite serialises writers, so no race there)."""
    engine = make_engine(postgres_url)
    migrate(engine)
    errors: list[BaseException] = []

    def appender(worker: int) -> None:
        try:
            for index in range(15):
                with engine.begin() as connection:
                    append_audit(connection, f"worker-{worker}", "read", f"person:{index}")
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with engine.connect() as connection:
        assert len(connection.execute(select(AuditEntry.id)).all()) == 60
        assert verify_chain(connection) is None
    engine.dispose()
