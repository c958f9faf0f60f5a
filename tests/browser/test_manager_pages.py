"""A property manager in a real browser: a gate swipe through mosquitto and ingest appears live, then every page."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from devices.card_reader import SimulatedCardReader
from devices.relay import SimulatedRelay
from edge.card_gate import CardGate
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.device import CameraStats, DeviceState, Telemetry
from protocol.events import Alarm, AlarmType, Severity
from server.storage.people import Person
from server.storage.watchlists import Alert
from tests.browser.helpers import LiveServer
from tests.support.api_world import PASSWORD, api_settings, build_world
from tests.support.platform import edge_publisher
from tests.support.services import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300)]
CARDS = {"12345678": "p-alice", "55555555": "p-dave"}
RESIDENTS_CSV = "name,phone,id_number,building,unit,room\n张三,13800000001,,1,1,101\n李四,12345,,1,1,999\n"


@pytest.fixture()
def community(mosquitto, tmp_path):
    """The API world with ingest on the test broker, served on a real port, and a card gate at north/g1."""
    group = f"ui-{uuid.uuid4().hex[:8]}"
    settings = api_settings(
        f"sqlite:///{tmp_path}/sc.db",
        mosquitto.port,
        ingest={"client_id": group, "group": group},
        privacy={"audit_anchor_file": str(tmp_path / "audit-anchor.json")},
    )
    app, world = build_world(settings)
    publisher = edge_publisher(mosquitto.port, tmp_path, site="north", device="gate-1")
    allowlist = {
        ("card", card): AllowlistEntry(kind=CredentialKind.CARD, value=card, person_id=who, credential_ref=f"c-{card}")
        for card, who in CARDS.items()
    }
    reader = SimulatedCardReader("reader-1")
    relay = SimulatedRelay("door-1")
    gate = CardGate("g1", "door-1", reader, relay, publisher, allowlist)
    with LiveServer(app) as server:
        wait_until(app.state.platform.ingest.connected.is_set, 15, message="ingest connected")
        publisher.start()
        gate.start()
        try:
            yield app, server, publisher, reader, relay
        finally:
            gate.stop()
            publisher.stop()


def _manager_token(server) -> dict[str, str]:
    import httpx

    response = httpx.post(f"{server.url}/api/v1/auth/token", data={"username": "manager", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_manager_sees_a_passage_live_and_every_page(chromium, community, screenshot_dir, tmp_path):
    app, server, publisher, reader, relay = community
    engine = app.state.services.engine
    browser = chromium
    browser.base = server.url
    import httpx

    headers = _manager_token(server)
    watch = {"site_id": "north", "kind": "person", "value": "p-dave", "level": "critical", "reason": "test"}
    assert httpx.post(f"{server.url}/api/v1/watchlist", json=watch, headers=headers).status_code == 201
    publisher.publish_status(DeviceState.ONLINE)
    publisher.send(
        Telemetry(
            uptime_s=120,
            cpu_percent=37.5,
            memory_bytes=200_000_000,
            outbox_depth=3,
            cameras=[CameraStats(camera="cam-1", fps=12.5, connected=True)],
        )
    )

    browser.login("manager", PASSWORD)
    assert browser.driver.current_url.endswith("/ui/live")
    nav = browser.nav()
    assert "/ui/live" in nav and "/ui/compliance" in nav
    assert not {"/ui/my/history", "/ui/my/face", "/ui/police/search"} & set(nav), "no resident or police pages"
    browser.wait(lambda: browser.css("#live-state").get_attribute("data-state") == "connected", message="feed up")
    assert not browser.all("#live-rows tr.live")

    # A swipe at the gate: edge -> mosquitto -> ingest -> SQL -> live hub -> WebSocket -> this page.
    reader.present("12345678")
    row = browser.wait(lambda: browser.all("#live-rows tr.live"), 20, "the passage in the live view")[0]
    cells = [cell.text for cell in row.find_elements("css selector", "td")]
    assert cells[1:6] == ["north", "g1", "通行", "门禁卡", "通过"], cells
    assert cells[6] == "p-****e", "the identity is masked"
    assert len(relay.pulses) == 1
    # A watched resident: the passage and the watchlist alert both arrive; a gate alarm too.
    reader.present("55555555")
    publisher.send(Alarm(alarm_type=AlarmType.TAILGATING, severity=Severity.WARNING, gate="g1", door="door-1"))
    browser.wait(lambda: len(browser.all("#live-rows tr.sc-alarm")) >= 2, 20, "alert and alarm rows")
    assert "布控命中" in browser.text("#live-rows") and "尾随通行" in browser.text("#live-rows")
    browser.shot(screenshot_dir, "manager-live")

    # Alerts: the watchlist hit, acknowledged from the page.
    browser.open("/ui/alerts")
    browser.wait(lambda: browser.all(".alert-ack"), message="open alert").pop().click()
    browser.wait(lambda: "已确认" in browser.text("#sc-flash"), message="acknowledged")
    browser.css("#alerts-open").click()
    browser.wait(lambda: "已处理" in browser.text("#alerts-list"), message="acknowledged alert listed")
    with engine.connect() as connection:
        assert connection.execute(select(Alert.acknowledged_by)).scalar() == "user:manager"
    browser.shot(screenshot_dir, "manager-alerts")

    # Device health from the status and telemetry messages.
    browser.open("/ui/devices")
    browser.wait(lambda: "gate-1" in browser.text("#devices-list"), message="device listed")
    line = next(r.text for r in browser.all("#devices-list tbody tr") if "gate-1" in r.text)
    assert "在线" in line and "12.5" in line and "38%" in line
    browser.shot(screenshot_dir, "manager-devices")

    # Traffic charts from the time series: the two passages at north/g1.
    browser.open("/ui/traffic")
    table = browser.wait(lambda: browser.all("#traffic-table tbody tr"), message="traffic table")
    assert sum(int(r.find_elements("css selector", "td")[4].text) for r in table) == 2
    assert browser.driver.execute_script("return document.getElementById('chart-hours').width") > 0
    browser.shot(screenshot_dir, "manager-traffic")

    # Event search with a filter, then the CSV export of the same filter.
    browser.open("/ui/events")
    browser.fill("input[name=person_id]", "p-alice")
    browser.css("#events-search").click()
    browser.wait(lambda: len(browser.all("#events-results tbody tr")) == 1, message="filtered events")
    browser.shot(screenshot_dir, "manager-events")
    csv_text = browser.driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        SC.api('/events/export.csv?person_id=p-alice', {as: 'blob'}).then((b) => b.text()).then(done);"""
    )
    assert csv_text.splitlines()[0].startswith("event_id,ts,site") and len(csv_text.splitlines()) == 2

    # Residents: list, register one, open a person.
    browser.open("/ui/people")
    browser.wait(lambda: "Alice" in browser.text("#people-list"), message="people listed")
    assert "Carol" not in browser.text("#people-list"), "another site's resident"
    browser.css("details summary").click()
    browser.fill("#people-add input[name=name]", "赵六")
    browser.css("#people-add button[type=submit]").click()
    browser.wait(lambda: "赵六" in browser.text("#people-list"), message="new person listed")
    with engine.connect() as connection:
        assert connection.execute(select(Person.site_id).where(Person.name == "赵六")).scalar() == "north"
    browser.shot(screenshot_dir, "manager-people")
    browser.open("/ui/people/p-alice")
    browser.wait(lambda: browser.css("#person-name").text == "Alice", message="person page")
    assert browser.css("#person-id-number").text == "110***********002X", "the ID number stays masked"
    browser.shot(screenshot_dir, "manager-person")
    browser.open("/ui/people/p-carol")
    browser.wait(lambda: "无权访问" in browser.text("#sc-flash"), message="other site refused")

    # Vehicles and visitors of the site.
    browser.open("/ui/vehicles")
    browser.wait(lambda: "京B54321" in browser.text("#vehicles-list"), message="vehicles")
    browser.shot(screenshot_dir, "manager-vehicles")
    browser.open("/ui/visitors")
    browser.fill("#pass-visitor", "快递员")
    browser.fill("input[name=host_person_id]", "p-bob")
    browser.css("#pass-issue").click()
    browser.wait(lambda: "快递员" in browser.text("#pass-list"), message="pass for Bob's visitor")
    browser.shot(screenshot_dir, "manager-visitors")

    # Bulk import: a dry run reports the bad line and writes nothing.
    upload = tmp_path / "residents.csv"
    upload.write_text(RESIDENTS_CSV, encoding="utf-8")
    browser.open("/ui/imports")
    browser.css("#import-file").send_keys(str(upload))
    browser.css("#import-submit").click()
    browser.wait(lambda: browser.css("#import-report").is_displayed(), message="import report")
    errors = browser.text("#import-errors")
    assert "3 电话" in errors and "3 房号" in errors and "未写入" in browser.text("#import-summary")
    with engine.connect() as connection:
        assert connection.execute(select(Person.id).where(Person.name == "张三")).first() is None
    browser.shot(screenshot_dir, "manager-import")

    # The retention compliance report.
    browser.open("/ui/compliance")
    browser.wait(lambda: browser.all("#compliance-classes tbody tr"), message="report")
    assert "人脸模板" in browser.text("#compliance-classes") and "审计日志链完整" in browser.text("#compliance-other")
    assert browser.text("#compliance-verdict").startswith("合规")
    browser.shot(screenshot_dir, "manager-compliance")

    # English, the same live page.
    browser.open("/ui/live?lang=en")
    assert "Live entrances" in browser.text("h1") and "Card" in browser.text("#live-rows")
    browser.shot(screenshot_dir, "manager-live-en")
    browser.open("/ui/live?lang=zh-CN")
    problems = [m for m in browser.console_errors() if "Content Security Policy" in m or "Uncaught" in m]
    assert problems == []
