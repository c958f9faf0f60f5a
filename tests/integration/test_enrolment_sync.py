"""Enrolment to erasure through the real broker and a running edge agent (`python -m edge`).

Photos -> templates (edge.vision's enrolment code) -> encrypted store -> gallery sync to the agent -> the agent's
answer stored by ingest -> confirmed; consent withdrawn -> erase command -> per-edge proof of erasure; an agent
that lost its gallery reports version 0 and gets a full resync.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from edge.vision.gallery_store import EncryptedGalleryStore
from server.app import create_app
from tests.conftest import REPO_ROOT
from tests.support.api_world import PASSWORD, api_settings, populate
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def photos_of(shared_data: Path, count: int = 2) -> list[tuple[str, list[Path]]]:
    """Persons of the shared data with their photos (a few each, some may be refused)."""
    folders = sorted(p for p in (shared_data / "faces").iterdir() if p.is_dir())
    return [(folder.name, sorted(folder.glob("*.jpg"))[:3]) for folder in folders[:count]]


def start_agent(
    tmp_path: Path, port: int, key: str, data_dir: Path, device: str = "edge-1", faces: bool = True
) -> subprocess.Popen:
    config = {
        "site": "north",
        "device": device,
        "data_dir": str(data_dir),
        "broker": {"port": port, "keepalive_s": 5},
        "doors": [{"id": "door-1", "pulse_ms": 500}],
        "gates": [{"id": "g1", "door": "door-1"}],
        "faces": {"gallery_file": "gallery.bin", "key_env": "SC_TEST_GALLERY_KEY"},
        "telemetry": {"interval_s": 0.5},
    }
    if not faces:
        del config["faces"]
    path = tmp_path / f"{device}.yaml"
    path.write_text(yaml.safe_dump(config))
    log = open(tmp_path / "edge.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "--config", str(path)],
        cwd=REPO_ROOT,
        env=os.environ | {"SC_TEST_GALLERY_KEY": key},
        stdout=log,
        stderr=log,
    )


def stop_agent(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def platform_app(tmp_path: Path, port: int, tag: str, sync: dict) -> Any:
    """The API with its ingest worker and sync loop on the test broker, populated with the test world."""
    app = create_app(
        api_settings(
            f"sqlite:///{tmp_path}/sc.db",
            broker_port=port,
            ingest={"group": f"g{os.getpid()}{tag}", "client_id": f"ingest-{tag}-{os.getpid()}"},
            sync=sync,
        )
    )
    populate(app)
    return app


def manager_with_device(client: TestClient, code: str) -> tuple[dict, int, Callable[[], dict]]:
    """The manager's headers, the id of device `code` just registered, and a reader of its sync state."""
    token = client.post("/api/v1/auth/token", data={"username": "manager", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    device = client.post("/api/v1/devices", headers=headers, json={"site_id": "north", "code": code})
    assert device.status_code == 201
    device_id = device.json()["device_id"]
    return headers, device_id, lambda: client.get(f"/api/v1/devices/{device_id}/sync", headers=headers).json()


def test_enrol_sync_withdraw_erase_and_resync_with_a_running_agent(mosquitto, tmp_path, shared_data):
    key = base64.b64encode(os.urandom(32)).decode()
    data_dir = tmp_path / "edge-data"
    # Tiny chunks: every sync below travels as several messages sharing one request id.
    app = platform_app(tmp_path, mosquitto.port, "enrol", {"chunk_templates": 1, "chunk_entries": 2})
    agent = None
    with TestClient(app) as client:
        headers, device_id, sync_state = manager_with_device(client, "edge-1")

        cards = [("p-alice", "1001"), ("p-alice", "1002"), ("p-alice", "1003"), ("p-dave", "2001"), ("p-dave", "2002")]
        for person, number in cards:
            issued = client.post(
                "/api/v1/credentials", headers=headers, json={"person_id": person, "kind": "card", "value": number}
            )
            assert issued.status_code == 201, issued.text
        agent = start_agent(tmp_path, mosquitto.port, key, data_dir)
        try:
            wait_until(lambda: sync_state()["allowlist"]["in_sync"], 30, interval=0.3, message="allowlist synced")
            with sqlite3.connect(f"file:{data_dir / 'allowlist.db'}?mode=ro", uri=True) as db:
                held = {row[0] for row in db.execute("SELECT json_extract(body, '$.value') FROM entries")}
            numbers = {number for _, number in cards}
            assert held == numbers | {"京A12345", "京B54321"}, "the 5 cards and the world's 2 cars, in 4 chunks"

            (first_name, first_photos), (second_name, second_photos) = photos_of(shared_data)
            consent = {"given_by": "Alice", "notice_version": "2026-01", "channel": "in_person"}
            refused = client.post(
                "/api/v1/persons/p-alice/face",
                headers=headers,
                files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in first_photos],
            )
            assert refused.status_code == 409, "no templates without a face consent"
            assert (
                client.post("/api/v1/persons/p-alice/consents/face", headers=headers, json=consent).status_code == 201
            )
            enrolled = client.post(
                "/api/v1/persons/p-alice/face",
                headers=headers,
                files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in first_photos],
            )
            assert enrolled.status_code == 201, enrolled.text
            alice_templates = enrolled.json()["templates"]
            assert alice_templates >= 1, enrolled.json()

            wait_until(
                lambda: sync_state()["gallery"]["in_sync"] and sync_state()["gallery"]["current"] >= 1,
                30,
                interval=0.3,
                message="gallery confirmed by the agent",
            )
            version, templates = EncryptedGalleryStore(data_dir / "gallery.bin", base64.b64decode(key)).load()
            assert version == sync_state()["gallery"]["current"]
            assert {t.person_id for t in templates} == {"p-alice"} and len(templates) == alice_templates

            dave = {
                "given_by": "Dave",
                "notice_version": "2026-01",
                "channel": "app",
                "subject_birth_date": "1980-02-03",
            }
            assert client.post("/api/v1/persons/p-dave/consents/face", headers=headers, json=dave).status_code == 201
            second = client.post(
                "/api/v1/persons/p-dave/face",
                headers=headers,
                files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in second_photos],
            )
            assert second.status_code == 201 and second.json()["templates"] >= 1, second.text
            wait_until(
                lambda: sync_state()["gallery"]["in_sync"] and sync_state()["gallery"]["current"] >= 2,
                30,
                interval=0.3,
                message="increment confirmed",
            )
            _, templates = EncryptedGalleryStore(data_dir / "gallery.bin", base64.b64decode(key)).load()
            assert {t.person_id for t in templates} == {"p-alice", "p-dave"}

            withdrawn = client.delete("/api/v1/persons/p-alice/consents/face", headers=headers)
            assert withdrawn.status_code == 202 and withdrawn.json()["erase_sent_to"] == ["edge-1"]

            def face() -> dict:
                return client.get("/api/v1/persons/p-alice/face", headers=headers).json()

            pending = face()
            assert pending["templates"] == 0 and pending["consent"] is None
            wait_until(lambda: face()["erasure_complete"], 30, interval=0.3, message="erasure confirmed")
            [proof] = face()["erasures"]
            assert proof["device"] == "edge-1" and proof["confirmed"] and proof["templates_erased"] == alice_templates
            wait_until(lambda: sync_state()["gallery"]["in_sync"], 30, interval=0.3, message="in sync after erase")
            _, templates = EncryptedGalleryStore(data_dir / "gallery.bin", base64.b64decode(key)).load()
            assert {t.person_id for t in templates} == {"p-dave"}
            again = client.post(
                "/api/v1/persons/p-alice/face",
                headers=headers,
                files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in first_photos],
            )
            assert again.status_code == 409, "withdrawn consent: no new templates"

            # The agent loses its gallery (disk replaced): it comes back at version 0 and gets everything again.
            stop_agent(agent)
            (data_dir / "gallery.bin").unlink()
            agent = start_agent(tmp_path, mosquitto.port, key, data_dir)
            wait_until(
                lambda: sync_state()["gallery"]["reported"] == 0,
                30,
                interval=0.2,
                message="agent reports an empty gallery",
            )
            wait_until(lambda: sync_state()["gallery"]["in_sync"], 30, interval=0.3, message="full resync")
            _, templates = EncryptedGalleryStore(data_dir / "gallery.bin", base64.b64decode(key)).load()
            assert {t.person_id for t in templates} == {"p-dave"}
            assert client.post(f"/api/v1/devices/{device_id}/resync", headers=headers).status_code == 202
        finally:
            if agent is not None:
                stop_agent(agent)


def test_a_gate_without_faces_gets_its_allowlist_and_never_a_face_template(mosquitto, tmp_path, shared_data):
    app = platform_app(tmp_path, mosquitto.port, "caps", {"interval_s": 0.5})
    agent = None
    with TestClient(app) as client:
        headers, _, sync_state = manager_with_device(client, "door-only")

        consent = {"given_by": "Alice", "notice_version": "2026-01", "channel": "in_person"}
        assert client.post("/api/v1/persons/p-alice/consents/face", headers=headers, json=consent).status_code == 201
        [(_, photos)] = photos_of(shared_data, count=1)
        enrolled = client.post(
            "/api/v1/persons/p-alice/face",
            headers=headers,
            files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in photos],
        )
        assert enrolled.status_code == 201 and enrolled.json()["templates"] >= 1, enrolled.text
        agent = start_agent(tmp_path, mosquitto.port, "", tmp_path / "door-data", device="door-only", faces=False)
        try:
            wait_until(lambda: sync_state()["allowlist"]["in_sync"], 30, interval=0.3, message="allowlist synced")
            health = client.get("/api/v1/dashboard/devices", headers=headers).json()
            [line] = [h for h in health if h["device"] == "door-only"]
            assert line["capabilities"] == [], "no faces, no camera reading plates"
            # A later change to the allowlist is synced: reconcile rounds run, and the gallery is never sent.
            before = sync_state()["allowlist"]["current"]
            issued = client.post(
                "/api/v1/credentials", headers=headers, json={"person_id": "p-dave", "kind": "card", "value": "7007"}
            )
            assert issued.status_code == 201, issued.text
            wait_until(
                lambda: sync_state()["allowlist"]["current"] > before and sync_state()["allowlist"]["in_sync"],
                30,
                interval=0.3,
                message="new card synced",
            )
            gallery = sync_state()["gallery"]
            assert gallery["current"] >= 1 and gallery["used"] is False and gallery["in_sync"] is True, gallery
            assert gallery["sent"] is None, "face templates were sent to a device that does not recognise faces"
            assert "face recognition is not configured" not in (tmp_path / "edge.log").read_text(errors="replace")
        finally:
            if agent is not None:
                stop_agent(agent)
