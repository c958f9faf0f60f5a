"""Faults end to end (edge agent -> mosquitto -> ingest worker -> PostgreSQL), each during a 10,000-event stream:
kill -9 of the broker, of an ingest worker and of the edge agent, and the database stopped for 60 s. Every event
the agent decided must land in SQL exactly once.

The stream comes from a real `python -m edge` whose allowlist holds 10,000 cards (stored with the edge's own
AllowlistStore, as a sync command would) and whose simulated reader is scripted with one swipe of each: every
decision names its card's credential_ref, so SQL must end with each of the 10,000 refs in exactly one row. Ingest
runs as `python -m server ingest` child processes. (Component-level versions live in test_edge_outage.py,
test_edge_agent.py and test_ingest_recovery.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from sqlalchemy import text

from edge.allowlist import AllowlistStore
from protocol.commands import AllowlistEntry, AllowlistSync, CredentialKind, SyncMode
from server.storage.db import make_engine, migrate
from tests.conftest import REPO_ROOT
from tests.support.services import POSTGRES_BIN, Mosquitto, Postgres, ServiceUnavailable, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.slow]
TOTAL = 10_000
DEVICE = "gate-1"


@dataclass(frozen=True)
class Tally:
    """What SQL holds of the stream: rows, distinct event ids, distinct credential refs."""

    rows: int
    event_ids: int
    refs: int


EXACT = Tally(TOTAL, TOTAL, TOTAL)


def card(n: int) -> str:
    """Card number of swipe n."""
    return f"{40_000_000 + n:08d}"


def write_allowlist(data_dir: Path) -> None:
    """The agent's allowlist file with every card of the stream, written by the edge's own store."""
    data_dir.mkdir(parents=True, exist_ok=True)
    entries = [
        AllowlistEntry(kind=CredentialKind.CARD, value=card(n), person_id=f"p-{n}", credential_ref=f"c-{n}")
        for n in range(TOTAL)
    ]
    store = AllowlistStore(data_dir / "allowlist.db")
    store.apply(AllowlistSync(request_id=uuid4(), mode=SyncMode.FULL, base_version=0, version=1, upserts=entries))
    store.close()


class Pipeline:
    """A site of its own on the given broker and database: edge agent and ingest workers as child processes."""

    def __init__(self, workdir: Path, broker_port: int, database_url: str) -> None:
        self.workdir = workdir
        self.site = f"f{uuid4().hex[:8]}"
        self.broker_port = broker_port
        self.engine = make_engine(database_url)
        migrate(self.engine)
        self.ingest_config = workdir / "ingest.yaml"
        document = {
            "database": {"url": database_url, "url_env": "SC_TEST_UNSET_DATABASE_URL", "migrate_on_start": False},
            "broker": {"port": broker_port, "keepalive_s": 5},
            "ingest": {"group": self.site, "batch_linger_ms": 5, "retry_max_s": 1.0},
        }
        self.ingest_config.write_text(yaml.safe_dump(document))
        self.processes: list[subprocess.Popen] = []
        write_allowlist(workdir / "edge")

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = (self.workdir / log_name).open("ab")
        process = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_worker(self, client_id: str = "w1") -> subprocess.Popen:
        """`python -m server ingest` with a stable client id (its persistent session survives a crash)."""
        args = [
            "-m",
            "server",
            "--config",
            str(self.ingest_config),
            "ingest",
            "--client-id",
            f"{self.site}-{client_id}",
        ]
        return self._spawn(args, f"ingest-{client_id}.log")

    def start_agent(self, swipes: list[int], run: int) -> subprocess.Popen:
        """`python -m edge` whose reader is scripted with the given swipes (allowlisted cards: each one a grant)."""
        config = {
            "site": self.site,
            "device": DEVICE,
            "data_dir": str(self.workdir / "edge"),
            "broker": {"port": self.broker_port, "keepalive_s": 5},
            "doors": [{"id": "door-1", "pulse_ms": 100}],
            "gates": [{"id": "north", "door": "door-1"}],
            "card_readers": [
                {
                    "id": "reader-1",
                    "gate": "north",
                    "script": [card(n) for n in swipes],
                }
            ],
            "telemetry": {"interval_s": 30},
        }
        path = self.workdir / f"edge-{run}.yaml"
        path.write_text(yaml.safe_dump(config))
        return self._spawn(["-m", "edge", "--config", str(path), "--log-level", "WARNING"], f"edge-{run}.log")

    def tally(self) -> Tally:
        """Counts of the stream's rows in SQL."""
        query = text(
            "SELECT count(*), count(DISTINCT event_id), count(DISTINCT data->>'credential_ref') FROM events "
            "WHERE site = :site AND device = :device AND kind = 'access' AND result = 'granted'"
        )
        with self.engine.connect() as connection:
            return Tally(*connection.execute(query, {"site": self.site, "device": DEVICE}).one())

    def stored_refs(self) -> set[str]:
        """Credential refs of the stream's rows in SQL."""
        query = text("SELECT data->>'credential_ref' FROM events WHERE site = :site AND device = :device")
        with self.engine.connect() as connection:
            return {row[0] for row in connection.execute(query, {"site": self.site, "device": DEVICE}) if row[0]}

    def outbox_refs(self) -> set[str]:
        """Credential refs of the decisions still in the agent's outbox (not yet acknowledged by the broker)."""
        path = self.workdir / "edge" / "outbox.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            payloads = [row[0] for row in db.execute("SELECT payload FROM outbox")]
        refs = (json.loads(payload)["data"].get("credential_ref") for payload in payloads)
        return {ref for ref in refs if ref}

    def settled(self, quiet_s: float = 2.0, timeout: float = 60.0) -> Tally:
        """The tally once it stopped changing for `quiet_s`."""
        deadline = time.monotonic() + timeout
        last, since = self.tally(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.tally()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return now
        raise AssertionError(f"the event count kept changing: {last}")

    def logs(self) -> str:
        """The tail of every child's log, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in self.workdir.glob("*.log"))

    def wait_stored(self, expected: int, timeout: float) -> Tally:
        """Wait until SQL holds `expected` events of the stream, then let redeliveries settle and count again."""
        wait_until(lambda: self.tally().rows >= expected, timeout, interval=0.5, message=f"{expected} events stored")
        return self.settled()

    def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL) and the engine."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.engine.dispose()


def kill_9(process: subprocess.Popen) -> None:
    """SIGKILL, as a crash or the OOM killer would."""
    process.send_signal(signal.SIGKILL)
    process.wait(10)


@pytest.fixture()
def durable_broker(tmp_path):
    """A broker of the test's own (persistence on, saved every second), killed and restarted by the test."""
    broker = Mosquitto(tmp_path / "mosquitto")
    try:
        broker.start()
    except ServiceUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"required service missing in CI: {err}")
        pytest.skip(str(err))
    yield broker
    broker.stop()


@pytest.fixture()
def pipeline_factory(tmp_path):
    """Builds pipelines and closes them after the test."""
    built: list[Pipeline] = []

    def build(broker_port: int, database_url: str) -> Pipeline:
        built.append(Pipeline(tmp_path, broker_port, database_url))
        return built[-1]

    yield build
    for pipeline in built:
        pipeline.close()


def test_broker_kill_9_mid_stream_loses_and_duplicates_nothing(durable_broker, postgres_url, pipeline_factory):
    pipeline = pipeline_factory(durable_broker.port, postgres_url)
    pipeline.start_worker()
    time.sleep(2.0)  # the worker's persistent session and subscription exist (and are saved) before the stream
    pipeline.start_agent(list(range(TOTAL)), run=1)
    wait_until(lambda: pipeline.tally().rows >= TOTAL // 4, 90, interval=0.2, message="a quarter stored")
    kill_9(durable_broker.process)
    at_kill = pipeline.tally().rows
    time.sleep(2.0)
    durable_broker.start()
    tally = pipeline.wait_stored(TOTAL, 180)
    assert at_kill < TOTAL, "the broker died mid-stream"
    assert tally == EXACT, pipeline.logs()


def test_ingest_worker_kill_9_mid_stream_loses_and_duplicates_nothing(mosquitto, postgres_url, pipeline_factory):
    pipeline = pipeline_factory(mosquitto.port, postgres_url)
    worker = pipeline.start_worker()
    time.sleep(2.0)
    pipeline.start_agent(list(range(TOTAL)), run=1)
    wait_until(lambda: pipeline.tally().rows >= TOTAL // 4, 90, interval=0.2, message="a quarter stored")
    kill_9(worker)
    at_kill = pipeline.tally().rows
    time.sleep(1.0)
    pipeline.start_worker()  # same client id: its session kept the unacknowledged messages
    tally = pipeline.wait_stored(TOTAL, 180)
    assert at_kill < TOTAL, "the worker died mid-stream"
    assert tally == EXACT, pipeline.logs()


def test_edge_agent_kill_9_mid_stream_loses_and_duplicates_nothing(mosquitto, postgres_url, pipeline_factory):
    pipeline = pipeline_factory(mosquitto.port, postgres_url)
    pipeline.start_worker()
    time.sleep(2.0)
    agent = pipeline.start_agent(list(range(TOTAL)), run=1)
    wait_until(lambda: pipeline.tally().rows >= TOTAL // 10, 90, interval=0.1, message="a tenth stored")
    kill_9(agent)
    # Decided before the crash: what reached SQL (once the broker's share is drained) and what the outbox holds.
    at_kill = pipeline.settled()
    pending = pipeline.outbox_refs()
    decided = pipeline.stored_refs() | pending
    assert at_kill.rows < TOTAL and pending, "killed mid-stream with events still in the outbox"
    # The restarted agent first drains its outbox, then the people who had not swiped yet swipe.
    pipeline.start_agent([n for n in range(TOTAL) if f"c-{n}" not in decided], run=2)
    tally = pipeline.wait_stored(TOTAL, 180)
    assert tally == EXACT, pipeline.logs()
    assert pipeline.stored_refs() == {f"c-{n}" for n in range(TOTAL)}


@pytest.fixture()
def own_postgres():
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no other test."""
    workdir = Path(tempfile.mkdtemp(prefix="sc-test-pg-fault-"))
    try:
        cluster = Postgres(workdir).start()
    except ServiceUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    yield cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def start_cluster(cluster: Postgres) -> None:
    """pg_ctl start on the same port and socket folder."""
    options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {cluster.workdir} -c fsync=off"
    log = str(cluster.workdir / "pg.log")
    binary = str(POSTGRES_BIN / "pg_ctl")
    cluster._run_as_owner([binary, "-D", str(cluster.workdir / "data"), "-o", options, "-l", log, "-w", "start"])


def test_database_stopped_for_60_s_mid_stream_loses_and_duplicates_nothing(mosquitto, own_postgres, pipeline_factory):
    pipeline = pipeline_factory(mosquitto.port, own_postgres.url())
    pipeline.start_worker()
    time.sleep(2.0)
    pipeline.start_agent(list(range(TOTAL)), run=1)
    wait_until(lambda: pipeline.tally().rows >= TOTAL // 4, 90, interval=0.2, message="a quarter stored")
    pipeline.engine.dispose()
    own_postgres.pg_ctl("stop")
    stopped = time.monotonic()
    time.sleep(60.0)  # the agent keeps deciding and publishing; the broker queues for the worker's session
    start_cluster(own_postgres)
    outage_s = time.monotonic() - stopped
    tally = pipeline.wait_stored(TOTAL, 180)
    assert outage_s >= 60
    assert tally == EXACT, pipeline.logs()
    worker_log = (pipeline.workdir / "ingest-w1.log").read_text(errors="replace")
    assert "Traceback" not in worker_log or "OperationalError" in worker_log, worker_log[-2000:]
