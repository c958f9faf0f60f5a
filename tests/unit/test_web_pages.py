"""The web interface's shells: both catalogues complete, every page in both languages, headers, escaping."""

from __future__ import annotations

import json
import logging
import re

import pytest

from server.web.i18n import CATALOGUE_DIR, LANGUAGES, catalogue, pick_language, translate
from server.web.pages import HOME_BY_ROLE, PAGES
from server.web.routes import WEB_DIR
from tests.support.api_world import api_settings, build_world

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Keys a script or template names literally: SC.t("x.y") / t('x.y'), and "x.y" strings passed on to SC.t.
SCRIPT_KEY = re.compile(r"""["']((?:[a-z_]+)\.[a-z_.]+)["']""")
TEMPLATE_KEY = re.compile(r"""t\('([a-z_A-Z.-]+)'\)""")
FILE_SUFFIXES = {"csv", "png", "js", "json", ""}
KNOWN_GROUPS = {key.split(".")[0] for key in catalogue("zh-CN")}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "sc.db"
    _app, world = build_world(api_settings(f"sqlite:///{path}"))
    with world.client as client:
        yield client


def test_catalogues_have_the_same_keys_and_placeholders():
    chinese, english = catalogue("zh-CN"), catalogue("en")
    assert set(chinese) == set(english)
    for key in chinese:
        assert chinese[key].strip() and english[key].strip(), key
        assert set(PLACEHOLDER.findall(chinese[key])) == set(PLACEHOLDER.findall(english[key])), key
    assert sorted(path.stem for path in CATALOGUE_DIR.glob("*.json")) == sorted(LANGUAGES)


def test_every_key_the_templates_and_scripts_name_is_translated():
    messages = catalogue("zh-CN")
    used = set()
    for template in (WEB_DIR / "templates").glob("*.html"):
        used |= set(TEMPLATE_KEY.findall(template.read_text(encoding="utf-8")))
    for script in (WEB_DIR / "static" / "js").glob("*.js"):
        for key in SCRIPT_KEY.findall(script.read_text(encoding="utf-8")):
            if key.split(".")[0] in KNOWN_GROUPS and key.rsplit(".", 1)[1] not in FILE_SUFFIXES:
                used.add(key)
    used |= {page.title_key for page in PAGES}
    missing = sorted(key for key in used if key not in messages)
    assert missing == []
    assert len(used) > 150


def test_translate_fills_placeholders_and_language_choice():
    assert translate("en", "people.added", name="Zhang") == "Registered: Zhang"
    assert translate("zh-CN", "people.added", name="张三") == "已登记：张三"
    assert pick_language(None, None) == "zh-CN"
    assert pick_language("en", "zh-CN") == "en"
    assert pick_language("fr", "en") == "en"
    assert pick_language("<script>", None) == "zh-CN"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_renders_in_both_languages_without_missing_messages(client, language, caplog):
    caplog.set_level(logging.WARNING, logger="server.web.i18n")
    for page in (*PAGES,):
        path = "/ui" + page.path.replace("{person_id}", "p-alice") + f"?lang={language}"
        response = client.get(path)
        assert response.status_code == 200, path
        assert f'<html lang="{language}">' in response.text
        assert catalogue(language)[page.title_key] in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
        embedded = re.search(r'<script id="sc-messages" type="application/json">(.*?)</script>', response.text, re.S)
        assert json.loads(embedded.group(1)) == catalogue(language)
        assert "<script>" not in response.text, "no inline script (the CSP would refuse it)"
    assert [r.message for r in caplog.records if "missing" in r.message] == []


def test_language_cookie_and_default(client):
    client.cookies.clear()
    assert '<html lang="zh-CN">' in client.get("/ui/login").text
    switched = client.get("/ui/login?lang=en")
    assert "sc_lang=en" in switched.headers["set-cookie"] and "HttpOnly" in switched.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/ui/live").text, "the cookie keeps the choice"
    assert '<html lang="en">' in client.get("/ui/live?lang=xx").text, "an unknown language is ignored"
    client.cookies.clear()


def test_path_parameters_are_escaped(client):
    response = client.get('/ui/people/x"><img src=x onerror=alert(1)>')
    assert response.status_code == 200
    assert "<img src=x" not in response.text and "&lt;img src=x" in response.text


def test_root_and_static_files(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui/static/js/app.js").status_code == 200
    chart = client.get("/ui/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
    assert (WEB_DIR / "static" / "vendor" / "chart.js.LICENSE.md").read_text().startswith("The MIT License")
    for page in PAGES:
        for script in page.scripts:
            url = f"/ui/static/{script}" if "/" in script else f"/ui/static/js/{script}"
            assert client.get(url).status_code == 200, url


def test_every_role_with_a_home_has_pages_and_the_device_role_has_none():
    roles = {role for page in PAGES for role in page.roles}
    assert roles == set(HOME_BY_ROLE) and "device" not in roles
    for role, home in HOME_BY_ROLE.items():
        page = next(page for page in PAGES if "/ui" + page.path == home)
        assert role in page.roles
