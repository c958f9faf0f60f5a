"""Event search latency on PostgreSQL: time range + gate and time range + plate, as the events API queries.

Rows are generated inside PostgreSQL (generate_series) into a temporary cluster, indexes built after the
load, then random 7-day windows are queried. Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select, text  # noqa: E402

from server.storage.db import make_engine, migrate  # noqa: E402
from server.storage.models import Event  # noqa: E402
from tests.support.services import Postgres  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 365
SITES, GATES_PER_SITE, PLATES, PERSONS = 20, 10, 100_000, 50_000

LOAD = """
INSERT INTO events (event_id, schema_name, kind, site, device, seq, ts, received_at, gate, method, result,
                    person_id, plate, data)
SELECT gen_random_uuid(), 'access.decision', CASE WHEN n % 5 = 0 THEN 'plate' ELSE 'access' END,
       's-' || (n % :sites), 'dev-' || (n % (:sites * :gates)), n,
       :start + (n * :span / :rows) * interval '1 second',
       :start + (n * :span / :rows) * interval '1 second' + interval '150 milliseconds',
       'gate-' || (n % (:sites * :gates)),
       CASE WHEN n % 5 = 0 THEN 'plate' ELSE 'card' END,
       CASE WHEN n % 17 = 0 THEN 'denied' ELSE 'granted' END,
       CASE WHEN n % 5 = 0 THEN NULL ELSE 'p-' || ((n * 7919) % :persons) END,
       CASE WHEN n % 5 = 0 THEN '京A' || lpad(((n * 104729) % :plates)::text, 5, '0') ELSE NULL END,
       '{"reason": "allowlisted"}'::json
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n
"""


def load(engine, rows: int) -> float:
    """Fill the events table in chunks with indexes dropped, then rebuild them; returns seconds."""
    started = time.perf_counter()
    table = Event.__table__
    with engine.begin() as connection:
        for index in table.indexes:
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
        connection.execute(text("ALTER TABLE events DROP CONSTRAINT uq_events_event_id"))
    params = {"sites": SITES, "gates": GATES_PER_SITE, "plates": PLATES, "persons": PERSONS, "rows": rows}
    params |= {"start": START, "span": DAYS * 86400}
    chunk = 1_000_000
    for first in range(0, rows, chunk):
        with engine.begin() as connection:
            connection.execute(text(LOAD), params | {"first": first, "last": min(first + chunk, rows) - 1})
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE events ADD CONSTRAINT uq_events_event_id UNIQUE (event_id)"))
        for index in table.indexes:
            index.create(connection)
        connection.execute(text("ANALYZE events"))
    return time.perf_counter() - started


def api_query(since: datetime, until: datetime, order: str = "id", **filters):
    """The query GET /api/v1/events runs (server/api/events.py): filters, time range, newest first, 100 + 1.

    order="ts" is the alternative newest-first order (ts, id) that the (gate, ts) and (plate, ts)
    indexes can return already sorted, so only the first 101 matching rows are read.
    """
    query = select(Event).where(Event.ts >= since, Event.ts < until)
    for column, value in filters.items():
        query = query.where(getattr(Event, column) == value)
    ordering = (Event.id.desc(),) if order == "id" else (Event.ts.desc(), Event.id.desc())
    return query.order_by(*ordering).limit(101)


def timed(engine, queries: list) -> dict:
    """p50 / p95 / max in milliseconds over the queries (results fetched)."""
    latencies = []
    with engine.connect() as connection:
        for query in queries:
            started = time.perf_counter()
            connection.execute(query).fetchall()
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "queries": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "max_ms": round(latencies[-1], 2),
    }


def main() -> int:
    """Load, query and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--window-days", type=int, default=7, help="time range of each query")
    args = parser.parse_args()
    rng = random.Random(7)
    workdir = Path(tempfile.mkdtemp(prefix="sc-bench-search-"))
    cluster = Postgres(workdir).start()
    try:
        engine = make_engine(cluster.url())
        migrate(engine)
        load_s = load(engine, args.rows)
        window = timedelta(days=args.window_days)

        def since() -> datetime:
            return START + timedelta(seconds=rng.randrange(int((timedelta(days=DAYS) - window).total_seconds())))

        gate_args, plate_args = [], []
        for _ in range(args.queries):
            start = since()
            gate_args.append((start, start + window, {"gate": f"gate-{rng.randrange(SITES * GATES_PER_SITE)}"}))
            start = since()
            plate = f"京A{(rng.randrange(args.rows // 5) * 5 * 104729) % PLATES:05d}"
            plate_args.append((start, start + window, {"plate": plate}))
        gate_queries = [api_query(a, b, **f) for a, b, f in gate_args]
        plate_queries = [api_query(a, b, **f) for a, b, f in plate_args]
        timed(engine, gate_queries[:10])  # warm the cache a little, as a running server would be
        by_gate = timed(engine, gate_queries)
        by_plate = timed(engine, plate_queries)
        by_gate_ts = timed(engine, [api_query(a, b, order="ts", **f) for a, b, f in gate_args])
        by_plate_ts = timed(engine, [api_query(a, b, order="ts", **f) for a, b, f in plate_args])
        with engine.connect() as connection:
            compiled = gate_queries[0].compile(engine, compile_kwargs={"literal_binds": True})
            plan = [row[0] for row in connection.execute(text(f"EXPLAIN {compiled}"))]
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "bench": "search",
        "database": "postgresql 15 (temporary cluster, fsync=off, default memory settings)",
        "rows": args.rows,
        "load_s": round(load_s, 1),
        "window_days": args.window_days,
        "time_range_gate": by_gate,
        "time_range_plate": by_plate,
        "order": "id DESC, as server/api/events.py orders today",
        "alternative_order_ts_desc": {"time_range_gate": by_gate_ts, "time_range_plate": by_plate_ts},
        "gate_plan": plan[:6],
        "target_p95_ms": 50,
        "target_met": by_gate["p95_ms"] <= 50 and by_plate["p95_ms"] <= 50,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
