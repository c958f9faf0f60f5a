"""Police authorisations on SQLite: the two-person rule, expiry, scope refusals, minimisation, audit of every query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from server.police.authorisations import AuthorisationDesk, RequestIn
from server.police.queries import PoliceQueries, digest_ids
from server.police.scope import GateRef, QueryFilter, Scope
from server.police.settings import PoliceSettings
from server.security.policy import Principal, Role
from server.services.accounts import create_user, load_principal
from server.services.errors import Conflict, Forbidden, InvalidInput
from server.storage.audit import AuditEntry, verify_chain
from server.storage.db import make_engine, migrate
from server.storage.models import Event
from server.storage.registry import Site

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = (NOW - timedelta(days=2), NOW)
PASSWORD = "correct horse battery"


@pytest.fixture()
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/police.db")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def people(engine) -> dict[str, Principal]:
    """Two officers, a manager, an admin, each a real user row."""
    with engine.begin() as connection:
        connection.execute(insert(Site).values(id="north", name="North"))
        ids = {
            "officer": create_user(connection, "test", username="officer", password=PASSWORD, role=Role.POLICE),
            "other_officer": create_user(connection, "test", username="officer2", password=PASSWORD, role=Role.POLICE),
            "manager": create_user(
                connection, "test", username="manager", password=PASSWORD, role=Role.MANAGER, site_ids=["north"]
            ),
            "admin": create_user(connection, "test", username="admin", password=PASSWORD, role=Role.ADMIN),
        }
        return {name: load_principal(connection, user_id) for name, user_id in ids.items()}


def add_event(engine, kind: str, ts: datetime, gate: str = "g1", **columns) -> str:
    """Insert one stored event; returns its event id."""
    event_id = uuid.uuid4()
    values = {
        "event_id": event_id,
        "schema_name": {"plate": "plate.read", "access": "access.decision", "alarm": "alarm"}[kind],
        "kind": kind,
        "site": "north",
        "device": "cam-1",
        "seq": 1,
        "ts": ts,
        "received_at": ts,
        "gate": gate,
        "method": None,
        "result": None,
        "person_id": None,
        "plate": None,
        "data": {},
    } | columns
    with engine.begin() as connection:
        connection.execute(insert(Event).values(**values))
    return str(event_id)


def request(scope: Scope, expires_in: timedelta = timedelta(days=7)) -> RequestIn:
    return RequestIn(
        case_number="A2026-001",
        legal_basis="Criminal Procedure Law art. 54",
        purpose="trace a stolen car",
        scope=scope,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        expires_at=datetime.now(UTC) + expires_in,
    )


def audit_actions(engine) -> list[tuple[str, str, dict]]:
    with engine.connect() as connection:
        return [(r.actor, r.action, r.detail) for r in connection.execute(select(AuditEntry).order_by(AuditEntry.id))]


def approved(engine, people, scope: Scope) -> int:
    """An authorisation filed by the officer and approved by the manager holding the right."""
    desk = AuthorisationDesk(engine, PoliceSettings(enabled=True))
    filed = desk.file(people["officer"], request(scope))
    if not any(a["user_id"] == people["manager"].user_id for a in desk.approvers()):
        desk.grant_approver(people["admin"], people["manager"].user_id)
    return desk.decide(people["manager"], filed.id, True, "proportionate").id


def test_two_person_rule(engine, people):
    desk = AuthorisationDesk(engine, PoliceSettings(enabled=True))
    filed = desk.file(people["officer"], request(Scope(plates=["京A12345"])))
    assert filed.state() == "pending"
    with pytest.raises(Forbidden, match="no approver right"):
        desk.decide(people["manager"], filed.id, True, "")
    desk.grant_approver(people["admin"], people["officer"].user_id)
    with pytest.raises(Forbidden, match="its author"):
        desk.decide(people["officer"], filed.id, True, "self approval")
    desk.grant_approver(people["admin"], people["manager"].user_id)
    decided = desk.decide(people["manager"], filed.id, True, "ok")
    assert decided.state() == "approved" and decided.decided_by == "user:manager"
    with pytest.raises(Conflict):
        desk.decide(people["manager"], filed.id, False, "twice")
    actions = [(actor, action) for actor, action, _ in audit_actions(engine) if action.startswith("police.")]
    assert actions == [
        ("user:officer", "police.request.filed"),
        ("user:manager", "police.decision.refused"),
        ("user:admin", "police.approver.granted"),
        ("user:officer", "police.decision.refused"),
        ("user:admin", "police.approver.granted"),
        ("user:manager", "police.request.approved"),
        ("user:manager", "police.decision.refused"),
    ]
    with engine.connect() as connection:
        assert verify_chain(connection) is None


def test_only_police_file_and_limits_apply(engine, people):
    desk = AuthorisationDesk(engine, PoliceSettings(enabled=True, max_validity_days=30))
    with pytest.raises(Forbidden):
        desk.file(people["manager"], request(Scope(plates=["京A12345"])))
    with pytest.raises(InvalidInput, match="expires_at"):
        desk.file(people["officer"], request(Scope(plates=["京A12345"]), expires_in=timedelta(days=31)))
    with pytest.raises(InvalidInput, match="expires_at"):
        desk.file(people["officer"], request(Scope(plates=["京A12345"]), expires_in=timedelta(seconds=-1)))


def test_expiry_ends_use_and_approval(engine, people):
    desk = AuthorisationDesk(engine, PoliceSettings(enabled=True))
    queries = PoliceQueries(engine, PoliceSettings(enabled=True))
    authorisation_id = approved(engine, people, Scope(plates=["京A12345"]))
    add_event(engine, "plate", NOW - timedelta(hours=1), plate="京A12345", data={"colour": "blue"})
    assert len(queries.run(people["officer"], authorisation_id, "plates", QueryFilter()).records) == 1
    later = datetime.now(UTC) + timedelta(days=8)
    assert desk.visible(people["officer"], authorisation_id).state(later) == "expired"
    pending = desk.file(people["officer"], request(Scope(plates=["京B1"]), expires_in=timedelta(seconds=1)))
    with engine.begin() as connection:  # time passes: make both lapse without sleeping
        from sqlalchemy import update

        from server.storage.police import PoliceAuthorisation

        connection.execute(update(PoliceAuthorisation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Forbidden, match="expired"):
        queries.run(people["officer"], authorisation_id, "plates", QueryFilter())
    with pytest.raises(Conflict, match="expired"):
        desk.decide(people["manager"], pending.id, True, "too late")


def test_out_of_scope_is_refused_and_audited(engine, people):
    queries = PoliceQueries(engine, PoliceSettings(enabled=True))
    scope = Scope(plates=["京A12345"], gates=[GateRef(site="north", gate="g1")], kinds=["plates"])
    authorisation_id = approved(engine, people, scope)
    officer = people["officer"]
    cases = [
        ("plates", QueryFilter(plates=["京B99999"]), "not in the authorisation's scope"),
        ("plates", QueryFilter(since=WINDOW[0] - timedelta(seconds=1)), "outside the authorised window"),
        ("plates", QueryFilter(gates=[GateRef(site="north", gate="g2")]), "not in scope"),
        ("passages", QueryFilter(), "record kind passages"),
    ]
    for kind, query, message in cases:
        with pytest.raises(Forbidden, match=message):
            queries.run(officer, authorisation_id, kind, query)
    with pytest.raises(Forbidden, match="another officer"):
        queries.run(people["other_officer"], authorisation_id, "plates", QueryFilter())
    refused = [d for _, action, d in audit_actions(engine) if action == "police.query.refused"]
    assert len(refused) == len(cases) + 1
    assert all(entry["refused"] for entry in refused)


def test_results_are_minimised_and_every_query_audited(engine, people):
    queries = PoliceQueries(engine, PoliceSettings(enabled=True))
    wanted = add_event(engine, "plate", NOW - timedelta(hours=3), plate="京A12345", data={"colour": "blue"})
    other = add_event(engine, "plate", NOW - timedelta(hours=2), plate="京C77777", data={"colour": "yellow"})
    add_event(engine, "plate", NOW - timedelta(hours=2), gate="g9", plate="京A12345", data={"colour": "blue"})
    add_event(engine, "plate", NOW - timedelta(days=3), plate="京A12345", data={"colour": "blue"})  # before window
    alice = add_event(engine, "access", NOW - timedelta(hours=1), person_id="p-alice", method="face", result="granted")
    add_event(engine, "access", NOW - timedelta(hours=1), person_id="p-bob", method="card", result="granted")
    alarm = add_event(
        engine,
        "alarm",
        NOW - timedelta(minutes=50),
        data={"alarm_type": "tailgating", "severity": "warning", "related_event_id": alice, "detail": "two people"},
    )
    add_event(engine, "alarm", NOW - timedelta(minutes=40), data={"alarm_type": "tamper", "severity": "critical"})

    by_plate = approved(engine, people, Scope(plates=["京A 12345"], gates=[GateRef(site="north", gate="g1")]))
    records = queries.run(people["officer"], by_plate, "plates", QueryFilter()).records
    assert [r["event_id"] for r in records] == [wanted]
    assert records[0]["plate"] == "京A12345" and records[0]["colour"] == "blue"

    at_gate = approved(engine, people, Scope(gates=[GateRef(site="north", gate="g1")]))
    records = queries.run(people["officer"], at_gate, "plates", QueryFilter()).records
    assert {r["event_id"] for r in records} == {wanted, other}
    assert all("plate" not in r and "colour" not in r for r in records), "gate-only scope reveals no plates"

    by_person = approved(engine, people, Scope(persons=["p-alice"]))
    passages = queries.run(people["officer"], by_person, "passages", QueryFilter()).records
    assert [(r["event_id"], r["person_id"], r["method"]) for r in passages] == [(alice, "p-alice", "face")]
    alarms = queries.run(people["officer"], by_person, "alarms", QueryFilter()).records
    assert [(r["event_id"], r["related_event_id"]) for r in alarms] == [(alarm, alice)]
    assert "detail" not in alarms[0]

    audited = [d for _, action, d in audit_actions(engine) if action == "police.query"]
    assert [d["kind"] for d in audited] == ["plates", "plates", "passages", "alarms"]
    assert audited[-1]["returned"] == 1 and audited[-1]["event_ids_sha256"] == digest_ids(alarms)
    with engine.connect() as connection:
        assert verify_chain(connection) is None


def test_paging_stays_inside_the_scope(engine, people):
    queries = PoliceQueries(engine, PoliceSettings(enabled=True, max_results=2))
    for hours in range(1, 6):
        add_event(engine, "plate", NOW - timedelta(hours=hours), plate="京A12345", data={"colour": "blue"})
    authorisation_id = approved(engine, people, Scope(plates=["京A12345"]))
    first = queries.run(people["officer"], authorisation_id, "plates", QueryFilter(limit=100))
    assert len(first.records) == 2 and first.next_before_id is not None
    second = queries.run(people["officer"], authorisation_id, "plates", QueryFilter(before_id=first.next_before_id))
    assert len(second.records) == 2
    assert not {r["event_id"] for r in first.records} & {r["event_id"] for r in second.records}
