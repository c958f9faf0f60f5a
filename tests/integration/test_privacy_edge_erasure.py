"""Erasure on a running edge agent (python -m edge): its encrypted gallery loses the person, its receipt comes back
through the broker and the ingest, and the certificate binds it into the audit chain."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid

import pytest
import yaml
from sqlalchemy import delete, select

from edge.vision.gallery_store import EncryptedGalleryStore
from protocol.broker import BrokerSettings
from protocol.commands import GallerySync, SyncMode
from server.privacy.certificates import check_certificate
from server.privacy.edges import outstanding_by_edge, send_all
from server.privacy.retention import RetentionEnforcer
from server.privacy.settings import PrivacySettings
from server.privacy.subjects import erase_person, erasure_certificate
from server.services.commands import CommandSender
from server.services.edge_lists import gallery_entries
from server.storage.db import make_engine, migrate
from server.storage.models import CommandResultRow, DeviceState
from tests.conftest import REPO_ROOT
from tests.support.ingest import sql_worker
from tests.support.privacy_world import ALICE, BOB, SITE, new_cipher, seed
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def _result(engine, request_id: uuid.UUID):
    with engine.connect() as connection:
        return connection.execute(
            select(CommandResultRow.__table__).where(CommandResultRow.request_id == request_id)
        ).first()


@pytest.fixture()
def edge_agent(fresh_mosquitto, tmp_path):
    key = os.urandom(32)
    data_dir = tmp_path / "edge"
    config = tmp_path / "gate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": SITE,
                "device": "gate-1",
                "data_dir": str(data_dir),
                "broker": {"port": fresh_mosquitto.port, "keepalive_s": 5},
                "doors": [{"id": "door-1"}],
                "gates": [{"id": "main", "door": "door-1"}],
                "faces": {"gallery_file": "gallery.bin", "key_env": "SC_TEST_GALLERY_KEY"},
                "telemetry": {"interval_s": 1},
            }
        )
    )
    env = os.environ | {"SC_TEST_GALLERY_KEY": base64.b64encode(key).decode()}
    log = open(tmp_path / "agent.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "--config", str(config)], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
    )
    yield agent, EncryptedGalleryStore(data_dir / "gallery.bin", key)
    if agent.poll() is None:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)


def test_pipl_art47_erasure_on_a_running_edge_is_proven_by_its_receipt(fresh_mosquitto, edge_agent, tmp_path):
    mosquitto = fresh_mosquitto  # a broker of its own: other tests' retained statuses would make their devices known
    agent, gallery_store = edge_agent
    url = f"sqlite:///{tmp_path}/sc.db"
    engine = make_engine(url)
    migrate(engine)
    cipher = new_cipher()
    with engine.begin() as connection:
        world = seed(connection, cipher, tmp_path / "snapshots")
        connection.execute(delete(DeviceState).where(DeviceState.device == "cam-street"))  # no agent runs there
        entries = gallery_entries(connection, cipher, SITE)
    worker = sql_worker(mosquitto.port, url, f"ingest-{uuid.uuid4().hex[:8]}", group=f"g-{uuid.uuid4().hex[:8]}")
    sender = CommandSender(BrokerSettings(port=mosquitto.port))
    worker.start()
    sender.start()
    try:
        assert sender.connected.wait(10)
        wait_until(lambda: worker.stored >= 0 and _online(engine), 30, message="edge status ingested")
        sync = GallerySync(request_id=uuid.uuid4(), mode=SyncMode.FULL, base_version=0, version=4, upserts=entries)
        sender.send(sync, SITE, "gate-1")
        wait_until(lambda: _result(engine, sync.request_id) is not None, 30, message="gallery synced")
        assert {t.person_id for t in gallery_store.load()[1]} == {ALICE, BOB}

        with engine.begin() as connection:
            request_id, outgoing = erase_person(connection, world.snapshot_root, ALICE, "user:admin", "pseudonymise")
        assert [device for _, device, _ in outgoing] == ["gate-1"]
        send_all(sender.send, outgoing)
        erase_request = outgoing[0][2].request_id
        wait_until(lambda: _result(engine, erase_request) is not None, 30, message="erase receipt ingested")

        version, templates = gallery_store.load()
        assert {t.person_id for t in templates} == {BOB}, "the edge's encrypted gallery file no longer holds her"
        with engine.begin() as connection:
            issued = erasure_certificate(connection, request_id)
        assert issued["status"] == "certified" and issued["sha256"]
        (edge,) = issued["certificate"]["edges"]
        assert edge["confirmed"] and edge["receipt"]["templates_erased"] == 1
        assert edge["receipt"]["person_id"] == ALICE and edge["receipt"]["gallery_version"] == version == 4
        with engine.connect() as connection:
            assert check_certificate(connection, issued["certificate"], issued["sha256"])
            tampered = dict(issued["certificate"], complete=False)
            assert not check_certificate(connection, tampered, issued["sha256"])

        sent = []
        settings = PrivacySettings(snapshot_root=world.snapshot_root, audit_anchor_file=tmp_path / "anchor.json")
        run = RetentionEnforcer(engine, settings, send=lambda *args: sent.append(args)).run("test")
        assert run.deleted["face_templates"] == 1  # Bob moved out 40 days ago
        assert sorted(type(command).__name__ for command, _, _ in sent) == ["ApplyRetention", "ErasePerson"]
        for command, site, device in sent:
            sender.send(command, site, device)
        for command, _, _ in sent:
            wait_until(lambda c=command: _result(engine, c.request_id) is not None, 30, message="edge answered")
        assert gallery_store.load()[1] == [], "Bob's template is gone from the edge as well"
        retention = next(command for command, _, _ in sent if command.TOPIC_NAME == "apply-retention")
        answer = _result(engine, retention.request_id)
        assert answer.ok and answer.data["events_purged"] >= 0, answer
        assert "north/gate-1" not in _outstanding(engine), "nothing outstanding or refused at the gate"
    finally:
        sender.stop()
        worker.stop()
        engine.dispose()


def _online(engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                select(DeviceState.online).where(DeviceState.device == "gate-1", DeviceState.software != "")
            ).scalar()
        )


def _outstanding(engine) -> dict:
    with engine.connect() as connection:
        return outstanding_by_edge(connection)
