"""Purge N expired events on PostgreSQL while an ingest worker runs: purge time and ingest rate kept.

Starts a temporary PostgreSQL cluster and a mosquitto broker on 127.0.0.1, fills `events` with N expired
passages (generate_series), runs `python -m server ingest` as its own process, publishes fresh passages at
QoS 1 as fast as the broker takes them, measures the stored rate for a baseline window, then runs the
retention enforcer and measures the stored rate while it purges. Prints one JSON object as the last line.

    python bench/retention.py [--events 1000000] [--baseline-s 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server.privacy.retention import RetentionEnforcer  # noqa: E402
from server.privacy.settings import PrivacySettings  # noqa: E402
from server.storage.db import make_engine, migrate  # noqa: E402
from tests.support.ingest import QosPublisher, access_message  # noqa: E402
from tests.support.services import Mosquitto, Postgres, wait_until  # noqa: E402

FILL = """
INSERT INTO events (event_id, schema_name, kind, site, device, seq, ts, received_at, gate, method, result,
                    person_id, plate, data)
SELECT gen_random_uuid(), 'access.decision', 'access', 'bench', 'gate-' || (g % 20), g,
       now() - interval '200 days' + g * interval '1 millisecond', now() - interval '200 days', 'main', 'card',
       'granted', 'p-' || (g % 5000), NULL, '{"reason": "allowlisted"}'::json
FROM generate_series(1, :n) AS g
"""


def publish_forever(port: int) -> int:
    """The load process: fresh passages at QoS 1, at most 2000 unacknowledged, until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    publisher = QosPublisher(port, inflight=500)
    base = datetime.now(UTC)
    for seq in itertools.count(1):
        if stop.is_set():
            break
        topic, payload = access_message(seq, site="bench", device=f"gate-{seq % 20}", base=base)
        publisher.client.publish(topic, payload, qos=1)
        while seq - publisher.acked > 2000 and not stop.is_set():
            time.sleep(0.002)
    publisher.close()
    return 0


def spawn(args: list[str], log_path: Path) -> subprocess.Popen:
    """A child process of this repository with its output in a log file."""
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    return subprocess.Popen(
        [sys.executable, *args], cwd=REPO, stdout=log, stderr=log, env=os.environ | {"PYTHONPATH": str(REPO)}
    )


def stored_since(engine, first_id: int) -> int:
    """Fresh events stored (ids above the filled ones)."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM events WHERE id > :i"), {"i": first_id}).scalar())


def rate_over(engine, first_id: int, seconds: float) -> float:
    """Stored events per second over a window."""
    start_count, start = stored_since(engine, first_id), time.monotonic()
    time.sleep(seconds)
    return (stored_since(engine, first_id) - start_count) / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="Expired events to purge")
    parser.add_argument("--baseline-s", type=float, default=10.0, help="Ingest-only measuring window")
    parser.add_argument("--batch-size", type=int, default=5000, help="Rows per purge transaction")
    parser.add_argument("--publish-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish_port:
        return publish_forever(args.publish_port)
    workdir = Path(tempfile.mkdtemp(prefix="sc-bench-retention-"))
    # The cluster runs as the postgres user, who cannot enter another 0700 temp folder: give it its own.
    pg_dir = Path(tempfile.mkdtemp(prefix="sc-bench-retention-pg-"))
    cluster = Postgres(pg_dir).start()
    broker = Mosquitto(workdir / "mqtt").start()
    ingest = load = None
    engine = make_engine(cluster.url())
    try:
        migrate(engine)
        started = time.monotonic()
        with engine.begin() as connection:
            connection.execute(text(FILL), {"n": args.events})
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE events"))
            first_id = int(connection.execute(text("SELECT max(id) FROM events")).scalar() or 0)
        fill_s = time.monotonic() - started
        config = workdir / "server.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": {"url": cluster.url(), "url_env": "SC_BENCH_UNSET", "migrate_on_start": False},
                    "broker": {"port": broker.port},
                    "ingest": {"client_id": "bench-ingest", "group": "bench", "batch_linger_ms": 20},
                }
            )
        )
        ingest = spawn(["-m", "server", "--config", str(config), "ingest"], workdir / "ingest.log")
        load = spawn([__file__, "--publish-port", str(broker.port)], workdir / "load.log")
        wait_until(lambda: stored_since(engine, first_id) > 0, 60, message="ingest running")
        time.sleep(2.0)
        baseline = rate_over(engine, first_id, args.baseline_s)
        settings = PrivacySettings(
            snapshot_root=workdir / "snapshots", audit_anchor_file=workdir / "anchor.json", batch_size=args.batch_size
        )
        enforcer = RetentionEnforcer(engine, settings)
        before_purge = stored_since(engine, first_id)
        purge_started = time.monotonic()
        result = enforcer.run("bench")
        purge_s = time.monotonic() - purge_started
        during = (stored_since(engine, first_id) - before_purge) / purge_s
        purged = result.deleted.get("events:access", 0)
        with engine.connect() as connection:
            left = int(connection.execute(text("SELECT count(*) FROM events WHERE id <= :i"), {"i": first_id}).scalar())
    finally:
        for child in (load, ingest):
            if child is not None:
                child.terminate()
                child.wait(30)
        engine.dispose()
        broker.stop()
        cluster.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = during / baseline if baseline else 0.0
    print(
        json.dumps(
            {
                "bench": "retention",
                "database": "postgresql-15 (temporary cluster, fsync off)",
                "events": args.events,
                "purged": purged,
                "expired_left": left,
                "batch_size": args.batch_size,
                "fill_s": round(fill_s, 1),
                "purge_s": round(purge_s, 2),
                "purge_rows_per_s": round(purged / purge_s) if purge_s else None,
                "ingest_rate_baseline": round(baseline, 1),
                "ingest_rate_during_purge": round(during, 1),
                "ingest_ratio": round(ratio, 3),
                "errors": result.errors,
                "step_seconds": result.seconds,
                "targets": {"purge_s_max": 30 * args.events / 1_000_000, "ingest_ratio_min": 0.5},
                "met": purge_s <= 30 * args.events / 1_000_000 and ratio >= 0.5 and left == 0,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
