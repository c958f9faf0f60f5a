"""Nothing is lost when the worker dies before committing, or while the database is down for a while."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from sqlalchemy import func, select

from server.storage.db import make_engine, migrate
from server.storage.models import Event
from tests.support.ingest import QosPublisher, access_message, sql_worker
from tests.support.services import POSTGRES_BIN, Postgres, ServiceUnavailable, wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def count_events(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count(func.distinct(Event.event_id)))).scalar()


def start_worker(config: Path, client_id: str, log: Path) -> subprocess.Popen:
    """`python -m server ingest` as a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "server", "--config", str(config), "ingest", "--client-id", client_id],
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_worker_killed_before_commit_loses_nothing(mosquitto, tmp_path):
    """kill -9 while the worker waits on a locked database: the broker redelivers, each event is stored once."""
    database = tmp_path / "sc.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    group = f"g{uuid4().hex[:8]}"
    config = tmp_path / "ingest.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": f"sqlite:///{database}", "url_env": "SC_TEST_UNSET_DATABASE_URL"},
                "broker": {"port": mosquitto.port},
                "ingest": {"group": group, "batch_linger_ms": 5},
            }
        )
    )
    publisher = QosPublisher(mosquitto.port)
    worker = start_worker(config, f"crash-{group}", tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while count_events(engine) == 0:  # a shared subscription only receives once the worker has subscribed
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            publisher.publish([access_message(0, site=group)])
            time.sleep(0.5)
        before = count_events(engine)
        lock = sqlite3.connect(database, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        publisher.publish([access_message(seq, site=group) for seq in range(1, 51)])
        time.sleep(2.0)  # the worker has received the batch and waits on the lock (busy timeout 30 s)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        lock.rollback()
        lock.close()
        assert count_events(engine) == before, "nothing of the held batch was committed"
        worker = start_worker(config, f"crash-{group}", tmp_path / "worker.log")
        wait_until(lambda: count_events(engine) == before + 50, 30, message="held batch redelivered and stored")
        time.sleep(1.0)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(Event)).scalar() == before + 50
    finally:
        publisher.close()
        if worker.poll() is None:
            worker.terminate()
            worker.wait(15)
        engine.dispose()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]


@pytest.fixture()
def own_postgres():
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no other test."""
    workdir = Path(tempfile.mkdtemp(prefix="sc-test-pg-outage-"))
    try:
        cluster = Postgres(workdir).start()
    except ServiceUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def restart(cluster: Postgres) -> None:
    """pg_ctl start on the same port (Postgres.pg_ctl('start') puts -o inside '-m fast' and fails)."""
    options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {cluster.workdir} -c fsync=off"
    binary = str(POSTGRES_BIN / "pg_ctl")
    log = str(cluster.workdir / "pg.log")
    cluster._run_as_owner([binary, "-D", str(cluster.workdir / "data"), "-o", options, "-l", log, "-w", "start"])


def test_database_down_for_a_while_loses_nothing(mosquitto, own_postgres):
    group = f"g{uuid4().hex[:8]}"
    worker = sql_worker(mosquitto.port, own_postgres.url(), f"outage-{group}", group=group, retry_max_s=1.0)
    publisher = QosPublisher(mosquitto.port)
    worker.start()
    try:
        wait_until(worker.connected.is_set, 10, message="worker connected")
        publisher.publish([access_message(seq, site=group) for seq in range(100)])
        wait_until(lambda: worker.stored == 100, 30, message="first 100 stored")
        own_postgres.pg_ctl("stop")
        publisher.publish([access_message(seq, site=group) for seq in range(100, 400)])
        wait_until(lambda: worker.metrics.db_errors._value.get() >= 2, 30, message="worker retrying")
        assert worker.stored == 100
        restart(own_postgres)
        wait_until(lambda: worker.stored == 400, 60, message="backlog stored after the outage")
        assert count_events(worker.engine) == 400
    finally:
        publisher.close()
        worker.stop()
        worker.engine.dispose()
