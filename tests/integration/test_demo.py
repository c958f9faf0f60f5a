"""README command 1: the embedded demo serves the simulated gate's events within seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.integration


def test_demo_serves_gate_events(tmp_path, mosquitto):  # the fixture skips or fails when mosquitto is missing
    port = free_port()
    env = os.environ | {"SC_DEMO_ADMIN_PASSWORD": "demo-test-password"}
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--var", str(tmp_path / "var"), "--port", str(port), "--swipe-interval",
         "0.5", "--run-for", "60"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        started = time.monotonic()
        wait_for_port(port, timeout=45)
        items: list = []
        login = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token",
                           data={"username": "admin", "password": "demo-test-password"}, timeout=10)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        while time.monotonic() - started < 50 and len(items) < 2:
            response = httpx.get(f"http://127.0.0.1:{port}/api/v1/events",
                                 headers=headers, timeout=5)
            assert response.status_code == 200
            items = response.json()["items"]
            time.sleep(0.3)
        elapsed = time.monotonic() - started
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert len(items) >= 2, output[-2000:]
    assert elapsed < 50
    assert {item["device"] for item in items} == {"gate-north"}
    assert all(item["method"] == "card" for item in items)
    assert "admin login: admin / demo-test-password" in output
    assert process.returncode == 0, output[-2000:]
