"""A resident in a real browser: own history, a visitor pass and its QR, vehicles, face consent, nobody else's page."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import func, insert, select

from edge.access.qr_code import QrReader
from server.services.edge_lists import encrypt_vector
from server.storage.enrolment import FaceTemplate
from server.storage.models import Event
from server.storage.people import Consent
from server.storage.visitors import VisitorPass
from tests.browser.helpers import LiveServer
from tests.support.api_world import PASSWORD, api_settings, build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def add_passage(engine, person_id: str, gate: str, result: str) -> None:
    """A stored access decision (as ingest writes it) for the resident's history."""
    now = datetime.now(UTC)
    row = {
        "event_id": uuid.uuid4(),
        "schema_name": "access.decision",
        "kind": "access",
        "site": "north",
        "device": "gate-1",
        "seq": 1,
        "ts": now - timedelta(minutes=5),
        "received_at": now,
        "gate": gate,
        "method": "card",
        "result": result,
        "person_id": person_id,
        "plate": None,
        "data": {"direction": "in"},
    }
    with engine.begin() as connection:
        connection.execute(insert(Event).values(**row))


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a PNG, read the way a gate reads a phone screen (edge QrReader)."""
    texts = QrReader().decode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
    return texts[0] if texts else ""


def shown_image_png(browser, selector: str) -> bytes:
    """The PNG the page shows in an <img>, at its natural size (drawn on a canvas: blob URLs stay in the page)."""
    data_url = browser.driver.execute_script(
        """const img = document.querySelector(arguments[0]);
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        canvas.getContext('2d').drawImage(img, 0, 0);
        return canvas.toDataURL('image/png');""",
        selector,
    )
    return base64.b64decode(data_url.split(",", 1)[1])


@pytest.fixture()
def resident_site(tmp_path):
    """The API test world served on a real port."""
    app, world = build_world(api_settings(f"sqlite:///{tmp_path}/sc.db"))
    engine = app.state.services.engine
    add_passage(engine, "p-alice", "g1", "granted")
    add_passage(engine, "p-bob", "g1", "denied")
    with LiveServer(app) as server:
        yield app, server


def test_resident_pages(chromium, resident_site, screenshot_dir):
    app, server = resident_site
    services = app.state.services
    browser = chromium
    browser.base = server.url
    browser.open("/ui/login", wait=False)
    browser.wait(lambda: browser.css("#login-form").is_displayed(), message="login form")
    assert "用户名" in browser.text("#login-form")
    browser.shot(screenshot_dir, "login")
    browser.login("alice", PASSWORD)

    # Home: the own access history, and a navigation for residents only.
    assert browser.driver.current_url.endswith("/ui/my/history")
    assert set(browser.nav()) == {"/ui/my/history", "/ui/vehicles", "/ui/visitors", "/ui/my/face"}
    history = browser.wait(lambda: browser.all("#history-results tbody tr"), message="history rows")
    assert len(history) == 1, "only Alice's passage, not Bob's"
    assert "通过" in history[0].text and "门禁卡" in history[0].text
    assert "我的通行记录" in browser.text("h1")
    browser.shot(screenshot_dir, "resident-history")

    # A visitor pass: issued in the form, its QR code shown, the code carries a token this platform signed.
    browser.open("/ui/visitors")
    browser.fill("#pass-visitor", "王小明")
    browser.css("#pass-issue").click()
    qr = browser.wait(lambda: browser.css("#pass-qr"), message="QR image")
    browser.wait(
        lambda: browser.driver.execute_script(
            "const i = document.querySelector('#pass-qr'); return i.naturalWidth > 0"
        ),
        message="QR image loaded",
    )
    assert qr.get_attribute("src").startswith("blob:"), "the QR is fetched with the bearer token, not by URL"
    token = decode_qr(shown_image_png(browser, "#pass-qr"))
    payload = services.keys.pass_signer.verify(token)
    with services.engine.connect() as connection:
        issued = connection.execute(select(VisitorPass).where(VisitorPass.id == payload["id"])).one()
    assert issued.visitor_name == "王小明" and issued.host_person_id == "p-alice"
    assert "王小明" in browser.text("#pass-list")
    browser.shot(screenshot_dir, "resident-visitor-pass")

    # Revoke it (with confirmation): the list says so and the database agrees.
    browser.css(f"tr[data-pass-id='{issued.id}'] .pass-revoke").click()
    browser.accept_confirm()
    browser.wait(lambda: "已作废" in browser.text("#pass-list"), message="pass revoked in the list")
    with services.engine.connect() as connection:
        assert connection.execute(select(VisitorPass.revoked_at).where(VisitorPass.id == issued.id)).scalar()

    # Vehicles: the own car only, and a new one registered through the form.
    browser.open("/ui/vehicles")
    assert "京A12345" in browser.text("#vehicles-list") and "京B54321" not in browser.text("#vehicles-list")
    assert not browser.all("input[name=owner_id]"), "residents get no owner field"
    browser.fill("input[name=plate]", "京C77777")
    browser.css("#vehicles-submit").click()
    browser.wait(lambda: "京C77777" in browser.text("#vehicles-list"), message="new vehicle listed")
    browser.shot(screenshot_dir, "resident-vehicles")

    # Face consent: opt in after the notice, then (with a template held) opt out and see that it is gone.
    browser.open("/ui/my/face")
    assert browser.css("#face-optin").is_displayed() and "人脸信息处理告知" in browser.text("#face-optin")
    browser.css("#face-agree").click()
    browser.fill("#face-given-by", "Alice")
    browser.css("#face-consent").click()
    browser.wait(lambda: browser.css("#face-state").get_attribute("data-state") == "consented", message="consented")
    with services.engine.begin() as connection:
        consent_id = connection.execute(select(Consent.id).where(Consent.person_id == "p-alice")).scalar_one()
        vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
        connection.execute(
            insert(FaceTemplate).values(
                template_id="t-browser",
                person_id="p-alice",
                consent_id=consent_id,
                vector_enc=encrypt_vector(services.keys.cipher, vector),
            )
        )
    browser.open("/ui/my/face")
    assert "模板：1 个" in browser.text("#face-status")
    browser.shot(screenshot_dir, "resident-face-consented")
    browser.css("#face-withdraw").click()
    browser.accept_confirm()
    browser.wait(lambda: browser.css("#face-state").get_attribute("data-state") == "none", message="withdrawn")
    assert "模板：0 个" in browser.text("#face-status")
    assert "已从平台和所有设备删除" in browser.text("#face-gone")
    with services.engine.connect() as connection:
        held = select(func.count()).select_from(FaceTemplate).where(FaceTemplate.person_id == "p-alice")
        assert connection.execute(held).scalar_one() == 0
    browser.shot(screenshot_dir, "resident-face-withdrawn")

    # Another resident's page: refused by the API, nothing of Bob shown.
    browser.open("/ui/people/p-bob")
    browser.wait(lambda: "无权访问" in browser.text("#sc-flash"), message="refusal shown")
    assert not browser.css("#person-card").is_displayed()
    assert "Bob" not in browser.driver.page_source and "13700137000" not in browser.driver.page_source
    browser.shot(screenshot_dir, "resident-other-person-refused")
    browser.open("/ui/people/p-alice")
    browser.wait(lambda: browser.css("#person-name").text == "Alice", message="own page")

    # A manager's page: the UI refuses it outright.
    browser.open("/ui/live")
    assert browser.wait_ready() == "forbidden"
    assert browser.css("#sc-forbidden").is_displayed() and not browser.all("#live-rows")

    # English switch, then sign out: the token is gone from the tab and pages send us to the login form.
    browser.open("/ui/my/history?lang=en")
    assert "My access history" in browser.text("h1") and "Granted" in browser.text("#history-results")
    browser.open("/ui/my/history?lang=zh-CN")
    browser.css("#sc-logout").click()
    browser.wait(lambda: browser.driver.current_url.endswith("/ui/login"), message="signed out")
    assert browser.driver.execute_script("return sessionStorage.getItem('sc.session')") is None
    browser.open("/ui/vehicles", wait=False)
    browser.wait(lambda: browser.driver.current_url.endswith("/ui/login"), message="sent to login")
    problems = [m for m in browser.console_errors() if "Content Security Policy" in m or "Uncaught" in m]
    assert problems == []
