"""A police officer in a browser: requests and their state, a search inside an approved one, the own audit trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, select

from server.storage.audit import AuditEntry
from server.storage.models import Event
from tests.browser.helpers import LiveServer
from tests.support.api_world import PASSWORD, api_settings, build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
NOW = datetime.now(UTC).replace(microsecond=0)
P = "/api/v1/police/authorisations"


def add_passage(engine, person_id: str, hours_ago: float, gate: str = "g1") -> str:
    """A stored passage at north/<gate>; returns its event id."""
    event_id = uuid.uuid4()
    row = {
        "event_id": event_id,
        "schema_name": "access.decision",
        "kind": "access",
        "site": "north",
        "device": "gate-1",
        "seq": 1,
        "ts": NOW - timedelta(hours=hours_ago),
        "received_at": NOW,
        "gate": gate,
        "method": "face",
        "result": "granted",
        "person_id": person_id,
        "plate": None,
        "data": {"direction": "in"},
    }
    with engine.begin() as connection:
        connection.execute(insert(Event).values(**row))
    return str(event_id)


def request_body(case: str, persons: list[str]) -> dict:
    """An authorisation request for passages of some persons over the last two days."""
    return {
        "case_number": case,
        "legal_basis": "刑事诉讼法第五十四条",
        "purpose": "核实行踪",
        "scope": {"persons": persons, "kinds": ["passages"]},
        "window_start": (NOW - timedelta(days=2)).isoformat(),
        "window_end": (NOW + timedelta(hours=1)).isoformat(),
        "expires_at": (NOW + timedelta(days=3)).isoformat(),
    }


@pytest.fixture()
def police_site(tmp_path):
    """The world with the police link on: one approved request (Alice) and one pending (Bob), served on a port."""
    app, world = build_world(api_settings(f"sqlite:///{tmp_path}/sc.db", police={"enabled": True}))
    engine = app.state.services.engine
    wanted = {add_passage(engine, "p-alice", 3), add_passage(engine, "p-alice", 1)}
    add_passage(engine, "p-bob", 2)
    add_passage(engine, "p-dave", 2)
    with LiveServer(app) as server:

        def login(name: str) -> dict[str, str]:
            response = httpx.post(f"{server.url}/api/v1/auth/token", data={"username": name, "password": PASSWORD})
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        police, manager, admin = login("police"), login("manager"), login("admin")
        grant = {"user_id": world.ids["user_ids"]["manager"]}
        assert httpx.post(f"{server.url}/api/v1/police/approvers", json=grant, headers=admin).status_code == 201
        approved = httpx.post(server.url + P, json=request_body("A2026-001", ["p-alice"]), headers=police).json()
        decided = httpx.post(f"{server.url}{P}/{approved['id']}/approve", json={"note": "相称"}, headers=manager)
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
        pending = httpx.post(server.url + P, json=request_body("A2026-002", ["p-bob"]), headers=police).json()
        yield app, server, approved, pending, wanted


def test_police_pages(chromium, police_site, screenshot_dir):
    app, server, approved, pending, wanted = police_site
    browser = chromium
    browser.base = server.url
    browser.login("police", PASSWORD)

    # Requests and their state; only police pages in the navigation.
    assert browser.driver.current_url.endswith("/ui/police/authorisations")
    assert set(browser.nav()) == {"/ui/police/authorisations", "/ui/police/search", "/ui/police/audit"}
    states = {
        row.get_attribute("data-case"): row.find_element("css selector", ".auth-state").text
        for row in browser.all("#auth-list tbody tr")
    }
    assert states == {"A2026-001": "已批准", "A2026-002": "待审批"}
    browser.shot(screenshot_dir, "police-authorisations")

    # File a new request from the form: it waits for a second person's approval.
    browser.css("details summary").click()
    for name, value in (
        ("case_number", "A2026-003"),
        ("legal_basis", "刑诉法"),
        ("purpose", "核实"),
        ("plates", "京A12345"),
    ):
        browser.fill(f"#auth-form input[name={name}]", value)
    browser.css("#auth-form button[type=submit]").click()
    browser.wait(lambda: browser.all("tr[data-case='A2026-003'] .auth-state"), message="new request listed")
    assert browser.css("tr[data-case='A2026-003'] .auth-state").text == "待审批"

    # Search inside the approved authorisation: Alice's two passages, nobody else's.
    browser.css("tr[data-case='A2026-001'] a").click()
    browser.wait_ready()
    options = [o.text for o in browser.all("#search-authorisation option")]
    assert options == ["A2026-001"], "a pending request cannot be searched"
    browser.css("#search-run").click()
    rows = browser.wait(lambda: browser.all("#search-results tr.search-row"), message="search results")
    assert len(rows) == 2
    shown = browser.text("#search-results")
    assert shown.count("p-alice") == 2 and "p-bob" not in shown and "p-dave" not in shown
    assert "审计" in browser.text("#sc-flash")
    browser.shot(screenshot_dir, "police-search")

    # The same query through the API returns exactly the in-scope events (the page showed what the server allowed).
    with app.state.services.engine.connect() as connection:
        audit = connection.execute(
            select(AuditEntry.detail).where(AuditEntry.actor == "user:police", AuditEntry.action == "police.query")
        ).all()
    assert [entry.detail["returned"] for entry in audit] == [2]
    assert len(wanted) == 2

    # The own audit trail lists that query with what it returned.
    browser.open("/ui/police/audit")
    query_rows = browser.all("#audit-list tbody tr[data-action='police.query']")
    assert len(query_rows) == 1 and "A2026-001" in query_rows[0].text and "2" in query_rows[0].text
    assert browser.all("#audit-list tbody tr[data-action='police.request.filed']")
    browser.shot(screenshot_dir, "police-audit")

    # Managers' and residents' pages are not for police.
    for path in ("/ui/live", "/ui/my/face", "/ui/people/p-alice"):
        browser.open(path)
        assert browser.wait_ready() == "forbidden", path
    problems = [m for m in browser.console_errors() if "Content Security Policy" in m or "Uncaught" in m]
    assert problems == []
