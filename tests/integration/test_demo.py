"""README command 1: the embedded demo starts in well under a minute and both gates' real edge agents produce
events through mosquitto and ingest: faces, cards and a QR pass at the lobby, plates at the barrier, a watched
plate's alert."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "demo-test-password"
WATCHED_PLATE = "京N99999"


def login(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait_for_banner(process: subprocess.Popen, lines: list[str], timeout: float) -> None:
    """Read the demo's output until it prints that it is running (or exits, or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith("Press Ctrl+C"):
            return
    raise AssertionError("the demo did not report it was running:\n" + "".join(lines)[-3000:])


def test_demo_runs_both_gates_through_the_platform(tmp_path, mosquitto):  # the fixture skips without mosquitto
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--var", str(tmp_path / "var"), "--port", str(port), "--swipe-interval",
         "1.0", "--run-for", "120"],
        cwd=REPO_ROOT, env=os.environ | {"SC_DEMO_PASSWORD": PASSWORD},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for_banner(process, lines, timeout=60)
        ready_s = time.monotonic() - started
        output = "".join(lines)
        headers = login(base, "admin")
        events: list[dict] = []
        alerts: list[dict] = []

        def complete() -> bool:
            devices = {(e["device"], e["method"], e["result"]) for e in events}
            plates = {e["plate"] for e in events if e["kind"] == "plate"}
            wanted = {("face-gate-1", "face", "granted"), ("face-gate-1", "card", "granted"),
                      ("face-gate-1", "qr", "granted"), ("vehicle-gate-1", "plate", "granted")}
            return wanted <= devices and bool(alerts) and WATCHED_PLATE in plates

        while time.monotonic() - started < 100 and not complete():
            response = httpx.get(f"{base}/api/v1/events", params={"limit": 500}, headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            events = response.json()["items"]
            response = httpx.get(f"{base}/api/v1/alerts", headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            alerts = response.json()["items"]
            time.sleep(1.0)
        manager, resident = login(base, "manager"), login(base, "resident")
        manager_events = httpx.get(f"{base}/api/v1/events", headers=manager, timeout=10)
        resident_events = httpx.get(f"{base}/api/v1/events", headers=resident, timeout=10)
        ui = httpx.get(f"{base}/ui/", timeout=10)
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=60)
        output = "".join(lines) + (rest or "")
    assert ready_s < 60, f"the demo took {ready_s:.1f} s to be ready"
    by_gate = {(e["device"], e["method"], e["result"]) for e in events}
    assert ("face-gate-1", "face", "granted") in by_gate, (by_gate, output[-3000:])
    assert ("face-gate-1", "card", "granted") in by_gate, by_gate
    assert ("face-gate-1", "qr", "granted") in by_gate, ("the visitor's pass did not open the door", output[-3000:])
    assert ("face-gate-1", "card", "denied") in by_gate or len(events) < 8, by_gate
    assert ("vehicle-gate-1", "plate", "granted") in by_gate, (by_gate, output[-3000:])
    refused = [e for e in events if e["device"] == "vehicle-gate-1" and e["result"] == "denied"]
    assert any(e["data"].get("reason") == "watchlist" for e in refused), refused
    assert WATCHED_PLATE in {e["plate"] for e in events if e["kind"] == "plate"}, "the barrier recorded the plate"
    assert alerts, "the watched plate raised an alert for the site's managers"
    assert {(a["site_id"], a["device"], a["gate"]) for a in alerts} == {("demo", "vehicle-gate-1", "car-in")}, alerts
    assert manager_events.status_code == 200 and manager_events.json()["items"], manager_events.text
    assert resident_events.status_code == 200
    assert {e.get("person_id") for e in resident_events.json()["items"]} <= {None, *_face_person(events)}
    assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
    for user in ("admin", "manager", "resident"):
        assert f"{user} login: {user} / {PASSWORD}" in output
    assert re.search(r"ready in \d+\.\d s", output)
    assert process.returncode == 0, output[-3000:]
    print(f"demo ready in {ready_s:.1f} s; {len(events)} events, {len(alerts)} alerts")


def _face_person(events: list[dict]) -> set[str]:
    """Person ids recognised by face (the demo's resident login is that person)."""
    return {e["person_id"] for e in events if e["method"] == "face" and e.get("person_id")}
