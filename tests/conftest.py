"""Shared pytest fixtures: paths to the shared data and the real services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return the shared data folder (SC_SHARED_DATA or ../shared/data from the repo root)."""
    return Path(os.environ.get("SC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real photos and videos; skips the test when it is absent (a user's clone)."""
    path = shared_data_dir()
    if not (path / "manifest.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"shared data folder {path} is missing in CI (set SC_SHARED_DATA)")
        pytest.skip(f"shared data folder {path} is absent (set SC_SHARED_DATA to run this test)")
    return path


def _service_or_skip(start):
    """Start a service; a missing binary skips locally and fails in CI."""
    from tests.support.services import ServiceUnavailable

    try:
        return start()
    except ServiceUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"required service missing in CI: {err}")
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    """A real mosquitto broker for the whole test session."""
    from tests.support.services import Mosquitto

    broker = _service_or_skip(lambda: Mosquitto(tmp_path_factory.mktemp("mosquitto")).start())
    yield broker
    broker.stop()


@pytest.fixture()
def fresh_mosquitto(tmp_path):
    """A broker of the test's own, for tests that kill or restart it."""
    from tests.support.services import Mosquitto

    broker = _service_or_skip(lambda: Mosquitto(tmp_path / "mosquitto").start())
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A temporary PostgreSQL cluster for the whole test session."""
    import shutil
    import tempfile

    from tests.support.services import Postgres

    # The cluster runs as the postgres user, who cannot enter pytest's private temp folders.
    workdir = Path(tempfile.mkdtemp(prefix="sc-test-pg-"))
    cluster = _service_or_skip(lambda: Postgres(workdir).start())
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def postgres_url(postgres, request):
    """A fresh, empty PostgreSQL database for one test."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9_]", "_", f"t_{request.node.name.lower()}")[:40] + "_" + uuid.uuid4().hex[:8]
    return postgres.create_database(name)


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory):
    """InfluxDB 1.x behind the test-only /api/v2/write proxy; yields (server, proxy)."""
    from tests.support.influx_proxy import InfluxV2WriteProxy
    from tests.support.services import InfluxDB

    server = _service_or_skip(lambda: InfluxDB(tmp_path_factory.mktemp("influxdb")).start())
    proxy = InfluxV2WriteProxy(server.url).start()
    yield server, proxy
    proxy.stop()
    server.stop()
