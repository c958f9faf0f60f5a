"""The whole system end to end, in the order a community lives it, on real services only.

mosquitto runs without anonymous access, on the password and ACL files the platform writes; PostgreSQL holds the
records; InfluxDB 1.6.7 (behind the test proxy that gives it /api/v2/write) the time series; the platform is
create_app served by uvicorn on a free port; the gate is `python -m edge` in its own process, on the broker
credentials its provisioning bundle gave it. The admin provisions a site and a face/card gate through the API; a
resident gets a card and, under consent, a face template from a real photo; the gate confirms both lists; a card
swipe at the simulated reader and a real video of the same person in front of the camera open the door; both
passages are in SQL (events API), in InfluxDB (InfluxQL over /query) and on a logged-in manager's WebSocket feed;
a police officer is refused without an approved authorisation and then sees exactly the resident's passages,
audited with their digest; a retention run purges a 100-day-old passage and sets the time-series retention;
erasing the resident empties the gate's gallery and allowlist, the gate's receipt comes back through the broker
and the certificate of erasure is bound into the audit chain.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import select

from edge.vision.gallery_store import EncryptedGalleryStore
from protocol import build, encode
from protocol.broker import BrokerSettings, make_client
from protocol.events import AccessDecision, Direction, Method, Result
from server.app import create_app
from server.privacy.certificates import check_certificate
from server.security.policy import Role
from server.services.accounts import ensure_user
from server.services.provisioning import BrokerFiles, ensure_platform_account
from server.storage.audit import AuditEntry
from server.storage.models import CommandResultRow
from server.timeseries import ALLOWED_TAGS
from server.timeseries_retention import influxql, read_retention_v1
from tests.conftest import _service_or_skip
from tests.integration.test_edge_access_agent import Agent
from tests.support.api_world import api_settings
from tests.support.ports import free_port
from tests.support.services import Mosquitto, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(170)]

SITE, GATE, DEVICE, CARD = "e2e-north", "lobby", "gate-1", "66001234"
PASSWORD = "e2e correct horse battery"
PLATFORM_PASSWORD = "e2e-platform-broker-secret"
PLATFORM_ENV, EDGE_ENV, GALLERY_ENV = "SC_E2E_PLATFORM_MQTT", "SC_E2E_EDGE_MQTT", "SC_E2E_GALLERY_KEY"
PERFORMER = "lin_manuel_miranda"  # SOURCES.md: this person's face is in video/short_hamilton_clip.mp4
VIDEO = "video/short_hamilton_clip.mp4"


class Api:
    """A logged-in client of the running platform; `call` checks the status code it expects."""

    def __init__(self, base: str, username: str) -> None:
        self.client = httpx.Client(base_url=f"{base}/api/v1", timeout=60)
        answer = self.client.post("/auth/token", data={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, f"login {username}: {answer.text}"
        self.token = answer.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> Any:
        answer = self.client.request(method, path, **kwargs)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text[:600]}"
        return answer.json() if answer.content else None

    def events(self, **params) -> list[dict]:
        return self.call("GET", "/events", params={"site": SITE, "limit": 1000} | params)["items"]

    def close(self) -> None:
        self.client.close()


class LiveFeed:
    """A manager's WebSocket on /api/v1/live (token offered as the browser does), read on a thread."""

    def __init__(self, base: str, token: str) -> None:
        from websockets.sync.client import connect

        url = base.replace("http://", "ws://") + f"/api/v1/live?site={SITE}"
        self.connection = connect(url, subprotocols=["sc.bearer", token], open_timeout=10)
        self.hello = json.loads(self.connection.recv(timeout=10))
        self.items: list[dict] = []
        self._thread = threading.Thread(target=self._read, name="live-feed", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            for message in self.connection:
                self.items.append(json.loads(message))

    def event(self, event_id: str) -> dict | None:
        return next((item for item in list(self.items) if item["event"].get("event_id") == event_id), None)

    def close(self) -> None:
        self.connection.close()
        self._thread.join(5)


@dataclass
class System:
    """The running platform and the services behind it."""

    base: str
    app: Any
    broker: Mosquitto
    influx_url: str
    database: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def engine(self):
        return self.app.state.services.engine


def _data_file(path: Path) -> Path:
    """A file the scenario needs from the shared data; absent: skip locally, fail in CI."""
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing from the shared data in CI")
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


def _performer_photo(shared_data: Path) -> Path:
    """The enrolment photo of the person the video shows, found through the manifest."""
    with (shared_data / "manifest.csv").open(encoding="utf-8", newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if row["kind"] == "face" and row["person"] == PERFORMER]
    if not rows:
        _data_file(shared_data / "faces" / PERFORMER / "1.jpg")  # skips or fails with the path named
    return _data_file(shared_data / rows[0]["file"])


def _secure_broker(broker: Mosquitto, files: dict[str, Path]) -> None:
    """The broker's usual config, without anonymous access, on the platform's password and ACL files."""
    broker.write_config()
    text = broker.config_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
    text += "".join(f"{name} {files[name]}\n" for name in ("password_file", "acl_file", "pid_file"))
    broker.config_path.write_text(text)


@pytest.fixture()
def system(shared_data, postgres_url, influxdb, tmp_path, monkeypatch):
    """PostgreSQL, InfluxDB, a secured mosquitto and the platform served on a free port, with the first admin."""
    influx, proxy = influxdb
    database = f"e2e_{uuid.uuid4().hex[:8]}"
    influxql(influx.url, {}, f'CREATE DATABASE "{database}"')  # what a deployment's first start does
    monkeypatch.setenv(PLATFORM_ENV, PLATFORM_PASSWORD)
    broker = Mosquitto(tmp_path / "broker")
    files = {name: broker.workdir / name.removesuffix("_file") for name in ("password_file", "acl_file", "pid_file")}
    port, unique = free_port(), uuid.uuid4().hex[:8]
    settings = api_settings(
        postgres_url,
        broker_port=broker.port,
        broker={"username": "platform", "password_env": PLATFORM_ENV, "keepalive_s": 5},
        ingest={"client_id": f"ingest-e2e-{unique}", "group": f"e2e-{unique}"},
        provisioning={
            **{name: str(path) for name, path in files.items()},
            "reload": "pid_file",
            "broker_port": broker.port,
            "platform_users": ["platform"],
        },
        timeseries={
            "backend": "influx",
            "influx": {
                "url": proxy.url,
                "bucket": f"{database}/autogen",
                "database": database,
                "batch_size": 100,
                "flush_interval_ms": 100,
            },
        },
        police={"enabled": True},
        privacy={"snapshot_root": str(tmp_path / "snapshots"), "audit_anchor_file": str(tmp_path / "anchor.json")},
        api={"port": port},
        security={"public_base_url": f"http://127.0.0.1:{port}"},
    )
    app = create_app(settings)
    with app.state.services.engine.begin() as connection:
        ensure_user(connection, "e2e", "admin", PASSWORD, Role.ADMIN)  # `python -m server create-user`
        ensure_platform_account(connection, "platform", PLATFORM_PASSWORD)
    _secure_broker(broker, files)
    BrokerFiles(settings.provisioning, app.state.services.engine).apply()  # no pid yet: the files only
    _service_or_skip(broker.start)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="e2e-api", daemon=True)
    thread.start()
    try:
        wait_until(files["pid_file"].exists, 10, message="broker pid file")
        wait_until(lambda: server.started or not thread.is_alive(), 60, message="API started")
        assert server.started, "uvicorn did not start"
        wait_until(app.state.platform.ingest.connected.is_set, 15, message="ingest connected as the platform")
        yield System(f"http://127.0.0.1:{port}", app, broker, influx.url, database)
    finally:
        server.should_exit = True
        thread.join(30)
        broker.stop()


def _edge_config(bundle: dict, data_dir: Path, video: Path) -> dict:
    """The gate's config: identity and broker account from the bundle, a card reader and a face camera."""
    broker = bundle["broker"]
    return {
        "site": bundle["site"],
        "device": bundle["device"],
        "data_dir": str(data_dir),
        "broker": {
            "host": broker["host"],
            "port": broker["port"],
            "username": broker["username"],
            "password_env": EDGE_ENV,
            "keepalive_s": 5,
        },
        "doors": [{"id": "door-1", "pulse_ms": 500, "relay": {"kind": "simulated", "journal": "relay.jsonl"}}],
        "gates": [{"id": bundle["gate"], "door": "door-1"}],
        "card_readers": [{"id": "reader-1", "gate": bundle["gate"]}],
        "cameras": [
            {
                "id": "cam-1",
                "source": str(video),
                "role": "face",
                "gate": bundle["gate"],
                "max_recognition_fps": 8,
                "reconnect_min_s": 0.3,
                "reconnect_max_s": 1.0,
            }
        ],
        "faces": {
            "gallery_file": "gallery.bin",
            "key_env": GALLERY_ENV,
            "pipeline": {"voting": {"k": 3, "n": 5, "cooldown_s": 60}},
        },
        "access": {"passes": {"public_keys": bundle["pass_public_keys"]}},
        "simulation": {"control_file": "control.jsonl"},
        "telemetry": {"interval_s": 1},
    }


def _allowlisted_persons(data_dir: Path) -> set[str]:
    """Person ids in the gate's allowlist file (read-only; the agent keeps it open in WAL mode)."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'allowlist.db'}?mode=ro", uri=True)) as db:
        return {person for (person,) in db.execute("SELECT person_id FROM entries")}


def _releases(agent: Agent) -> int:
    """How many times the gate's relay released the door (its journal)."""
    return [energised for _, energised in agent.relay_levels()].count(True)


def _wait_event(api: Api, timeout: float, **filters) -> dict:
    """The newest event matching the filters, once the events API has it."""
    found: list[dict] = []

    def arrived() -> bool:
        found[:] = api.events(**filters)
        return bool(found)

    wait_until(arrived, timeout, interval=0.3, message=f"event {filters}")
    return found[0]


def _influx(system: System, statement: str) -> list[dict]:
    """Series of an InfluxQL statement, asked of influxd itself over GET /query."""
    answer = httpx.get(
        f"{system.influx_url}/query", params={"db": system.database, "q": statement}, timeout=10
    ).raise_for_status()
    return answer.json()["results"][0].get("series", [])


def _influx_passages(system: System, method: str) -> float:
    tags = f"\"site\" = '{SITE}' AND \"gate\" = '{GATE}' AND \"method\" = '{method}' AND \"result\" = 'granted'"
    series = _influx(system, f'SELECT count("value") FROM "passages" WHERE {tags} AND time > now() - 1h')
    return series[0]["values"][0][1] if series else 0


def _late_passage(system: System, bundle: dict, person: str, credential_ref: str, age: timedelta) -> str:
    """A passage recorded `age` ago, delivered now on the gate's own broker account (an outbox draining late)."""
    body = AccessDecision(
        gate=GATE,
        door="door-1",
        direction=Direction.IN,
        method=Method.CARD,
        result=Result.GRANTED,
        reason="allowlisted",
        person_id=person,
        credential_ref=credential_ref,
    )
    message = build(body, site=SITE, device=DEVICE, seq=10**6, ts=datetime.now(UTC) - age)
    settings = BrokerSettings(port=system.broker.port, username=bundle["broker"]["username"], password_env=EDGE_ENV)
    client = make_client(settings, f"{DEVICE}-late-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", system.broker.port)
    client.loop_start()
    try:
        client.publish(message.topic(), encode(message), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return str(message.envelope.event_id)


def test_whole_system_from_provisioning_to_erasure(system, shared_data, tmp_path, monkeypatch):
    started = last = time.monotonic()

    def lap(name: str) -> None:
        nonlocal last
        now = time.monotonic()
        system.timings[name] = round(now - last, 1)
        last = now

    photo, clip = _performer_photo(shared_data), _data_file(shared_data / VIDEO)
    admin = Api(system.base, "admin")

    # The admin provisions the site, its address model and a face/card gate with its own broker account.
    admin.call("POST", "/sites", 201, json={"id": SITE, "name": "E2E North"})
    admin.call("POST", "/gates", 201, json={"site_id": SITE, "code": GATE, "name": "Lobby", "kind": "pedestrian"})
    building = admin.call("POST", "/buildings", 201, json={"site_id": SITE, "code": "1"})
    unit = admin.call("POST", "/units", 201, json={"building_id": building["id"], "code": "1"})
    room = admin.call("POST", "/rooms", 201, json={"unit_id": unit["id"], "code": "101", "floor": 1})
    bundle = admin.call("POST", "/devices", 201, json={"site_id": SITE, "code": DEVICE, "gate": GATE})
    assert bundle["broker"]["username"] == f"dev.{SITE}.{DEVICE}" and bundle["broker"]["port"] == system.broker.port
    assert bundle["topics"] == {"publish": f"sc/v1/{SITE}/{DEVICE}/#", "commands": f"sc/v1/{SITE}/{DEVICE}/cmd/+"}
    passwd = (system.broker.workdir / "password").read_text()
    assert f"dev.{SITE}.{DEVICE}:$7$" in passwd and bundle["broker"]["password"] not in passwd
    manager_id = admin.call(
        "POST", "/users", 201, json={"username": "manager", "password": PASSWORD, "role": "manager", "site_ids": [SITE]}
    )["id"]
    admin.call("POST", "/users", 201, json={"username": "officer", "password": PASSWORD, "role": "police"})
    admin.call("POST", "/police/approvers", 201, json={"user_id": manager_id})
    lap("provision")

    # A resident: a home, a card, and a face template from a real photo, only once consent is recorded.
    resident = admin.call("POST", "/persons", 201, json={"site_id": SITE, "name": "Lin Wei", "phone": "13800138000"})
    resident = resident["id"]
    admin.call("POST", "/occupancies", 201, json={"person_id": resident, "room_id": room["id"], "relation": "owner"})
    card = admin.call("POST", "/credentials", 201, json={"person_id": resident, "kind": "card", "value": CARD})
    photos = [("photos", (photo.name, photo.read_bytes(), "image/jpeg"))]
    admin.call("POST", f"/persons/{resident}/face", 409, files=photos)  # no template without consent
    consent = {"given_by": "Lin Wei", "notice_version": "2026-01", "channel": "in_person"}
    admin.call("POST", f"/persons/{resident}/consents/face", 201, json=consent | {"subject_birth_date": "1980-01-16"})
    assert admin.call("POST", f"/persons/{resident}/face", 201, files=photos)["templates"] == 1
    lap("enrol")

    # The gate starts on its bundle; the platform syncs the allowlist and the gallery and the gate confirms both.
    key = os.urandom(32)
    monkeypatch.setenv(EDGE_ENV, bundle["broker"]["password"])
    monkeypatch.setenv(GALLERY_ENV, base64.b64encode(key).decode())
    data_dir, video = tmp_path / "edge", tmp_path / "camera" / "lobby.mp4"
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump(_edge_config(bundle, data_dir, video)))
    agent = Agent(config_path, data_dir, tmp_path / "edge.log")
    feed: LiveFeed | None = None
    try:

        def synced() -> bool:
            state = admin.call("GET", f"/devices/{bundle['device_id']}/sync")
            return all(state[name]["in_sync"] and state[name]["current"] >= 1 for name in ("allowlist", "gallery"))

        wait_until(synced, 60, interval=0.3, message="the gate confirmed allowlist and gallery")
        gallery = EncryptedGalleryStore(data_dir / "gallery.bin", key)
        assert {template.person_id for template in gallery.load()[1]} == {resident}
        assert _allowlisted_persons(data_dir) == {resident}
        lap("edge sync")

        # A manager watches the live feed while the resident swipes the card, then walks up to the camera.
        manager = Api(system.base, "manager")
        feed = LiveFeed(system.base, manager.token)
        assert feed.hello == {"type": "hello", "role": "manager"}
        agent.send(reader="reader-1", card=CARD)
        card_event = _wait_event(admin, 20, method="card", person_id=resident)
        assert (card_event["result"], card_event["device"], card_event["gate"]) == ("granted", DEVICE, GATE)
        assert card_event["data"]["reason"] == "allowlisted" and card_event["data"]["credential_ref"] == card["ref"]
        wait_until(lambda: _releases(agent) == 1 and agent.locked(), 10, message="door released and relocked")
        video.parent.mkdir()
        shutil.copyfile(clip, video.with_suffix(".tmp"))
        os.replace(video.with_suffix(".tmp"), video)  # the camera finds its source and starts reading
        face_event = _wait_event(admin, 60, method="face", result="granted", person_id=resident)
        video.unlink()  # one walk past the camera: the clip is not replayed
        assert face_event["device"] == DEVICE and face_event["gate"] == GATE
        wait_until(lambda: _releases(agent) == 2 and agent.locked(), 10, message="door released for the face")
        lap("passages")

        # Both passages are in SQL (above), in InfluxDB without personal identifiers, and on the live feed.
        wait_until(lambda: _influx_passages(system, "card") == 1, 15, message="card passage in InfluxDB")
        wait_until(lambda: _influx_passages(system, "face") == 1, 15, message="face passage in InfluxDB")
        tag_keys = {row[0] for row in _influx(system, 'SHOW TAG KEYS FROM "passages"')[0]["values"]}
        assert tag_keys <= set(ALLOWED_TAGS), tag_keys
        series = json.dumps(_influx(system, "SHOW SERIES"))
        assert resident not in series and CARD not in series and card["ref"] not in series
        for event in (card_event, face_event):
            wait_until(lambda e=event: feed.event(e["event_id"]), 15, message=f"{event['method']} passage live")
            live = feed.event(event["event_id"])
            assert live["type"] == "event" and live["event"]["person_id"] == resident
        lap("sql, influx, live")

        # Police: nothing without an authorisation; refused while it is pending; then exactly its scope, audited.
        officer = Api(system.base, "officer")
        officer.call("GET", "/events", 403)
        now = datetime.now(UTC)
        filed = officer.call(
            "POST",
            "/police/authorisations",
            201,
            json={
                "case_number": "E2E-2026-001",
                "legal_basis": "Criminal Procedure Law art. 54",
                "purpose": "trace one person's passages",
                "scope": {"persons": [resident], "kinds": ["passages"]},
                "window_start": (now - timedelta(hours=1)).isoformat(),
                "window_end": now.isoformat(),
                "expires_at": (now + timedelta(days=1)).isoformat(),
            },
        )
        passages = f"/police/authorisations/{filed['id']}/passages"
        officer.call("GET", passages, 403)  # not approved yet
        manager.call("GET", passages, 403)  # only the officer who filed it queries
        approved = manager.call("POST", f"/police/authorisations/{filed['id']}/approve", json={"note": "proportionate"})
        assert approved["status"] == "approved"
        disclosed = officer.call("GET", passages)["items"]
        ids = sorted(item["event_id"] for item in disclosed)
        assert ids == sorted(e["event_id"] for e in admin.events(person_id=resident))
        assert ids == sorted([card_event["event_id"], face_event["event_id"]])
        assert {item["person_id"] for item in disclosed} == {resident}
        with system.engine.connect() as connection:
            audited = connection.execute(
                select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail)
                .where(AuditEntry.subject == f"police_authorisation:{filed['id']}")
                .order_by(AuditEntry.id)
            ).all()
        queries = [row for row in audited if row.action == "police.query"]
        assert len(queries) == 1 and queries[0].actor == "user:officer"
        assert queries[0].detail["event_ids_sha256"] == hashlib.sha256("\n".join(ids).encode()).hexdigest()
        assert [row.actor for row in audited if row.action == "police.query.refused"] == ["user:officer"]
        lap("police")

        # Retention: a 100-day-old passage arrives late and the next run purges it; the fresh ones stay.
        old = _late_passage(system, bundle, resident, card["ref"], timedelta(days=100))
        wait_until(lambda: old in {e["event_id"] for e in admin.events(person_id=resident)}, 15, message="late")
        run = admin.call("POST", "/privacy/enforce")
        assert run["errors"] == [] and run["audit_chain_ok"], run
        assert run["deleted"]["events:access"] == 1 and run["timeseries"] == "alter", run
        assert sorted(e["event_id"] for e in admin.events(person_id=resident)) == ids
        assert read_retention_v1(system.influx_url, {}, system.database, "autogen") == timedelta(days=400)
        assert run["edge_commands"] == 1, "the gate is told how long it may keep records"
        wait_until(
            lambda: f"{SITE}/{DEVICE}" not in admin.call("GET", "/privacy/report", params={"verify": False})["edges"],
            15,
            message="the gate answered apply-retention",
        )
        lap("retention")

        # Erasure: the platform forgets the resident, the gate erases them and its receipt certifies it.
        erased = admin.call("POST", f"/privacy/persons/{resident}/erase", 202, json={"confirm": resident})
        assert erased["devices"] == [DEVICE] and erased["edges_asked"] == 1
        certificate_path = f"/privacy/erasures/{erased['request_id']}/certificate"
        wait_until(
            lambda: admin.call("GET", certificate_path)["status"] == "certified", 30, message="the gate's receipt"
        )
        issued = admin.call("GET", certificate_path)
        (edge,) = issued["certificate"]["edges"]
        assert edge["device"] == DEVICE and edge["confirmed"] and edge["receipt"]["person_id"] == resident
        with system.engine.connect() as connection:
            assert check_certificate(connection, issued["certificate"], issued["sha256"])
        assert admin.call("GET", "/privacy/audit/verify")["ok"]
        assert resident not in {template.person_id for template in gallery.load()[1]}
        assert resident not in _allowlisted_persons(data_dir)
        agent.send(reader="reader-1", card=CARD)
        refused = _wait_event(admin, 20, method="card", result="denied")
        assert refused["person_id"] is None and refused["device"] == DEVICE
        assert _releases(agent) == 2 and agent.locked(), "the erased card no longer opens the door"
        assert admin.events(person_id=resident) == []
        kept = {e["event_id"]: e for e in admin.events(method="card", result="granted")}
        assert kept[card_event["event_id"]]["person_id"] is None, "the passage stays, pseudonymised"
        wait_until(synced, 30, interval=0.3, message="the gate confirmed the lists without the resident")
        assert gallery.load()[0] == admin.call("GET", f"/devices/{bundle['device_id']}/sync")["gallery"]["current"]
        with system.engine.connect() as connection:
            failed = connection.execute(
                select(CommandResultRow.command, CommandResultRow.error).where(
                    CommandResultRow.device == DEVICE, CommandResultRow.ok.is_(False)
                )
            ).all()
        assert failed == [], "the gate carried out every command the platform sent it"
        lap("erasure")
    finally:
        if feed is not None:
            feed.close()
        code = agent.stop()
    log = (tmp_path / "edge.log").read_text()
    assert code == 0 and "Traceback" not in log, log[-3000:]
    total = time.monotonic() - started
    print(f"e2e whole system: {total:.1f} s; steps: {system.timings}")
    assert total < 150, system.timings
