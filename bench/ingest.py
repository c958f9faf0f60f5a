"""Ingest throughput against one real mosquitto: raw QoS 1 rate vs ingest rate into SQL + time series.

The same N events are published once to a plain subscriber process (the broker's raw rate) and then to
`python -m server ingest` worker processes (1 and 2) writing to SQLite and to PostgreSQL (a temporary
cluster). Rates are N divided by the time from the first publish to the last receive / last commit. Both phases use
the same publisher with an in-flight window of 100: paho walks its whole in-flight map on every PUBACK, so
a window of 1000 cost the publisher about 0.2 ms per message and understated the broker's rate (about 7,000
instead of 12,000 msg/s here). The CPU seconds the workers and the broker used per run are reported too,
from /proc, so the rate can be read against what the machine had to give.
Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from server.storage.db import make_engine, migrate  # noqa: E402
from server.storage.models import Event, TimeSeriesPoint  # noqa: E402
from tests.support.ingest import QosPublisher, access_message  # noqa: E402
from tests.support.services import Mosquitto, Postgres  # noqa: E402

DEVICES = 50


def raw_subscriber(port: int, count: int) -> None:
    """Child mode: subscribe at QoS 1, print 'ready', then the wall time of the last of `count` messages."""
    received = 0
    done = time.time()

    def on_message(_client, _userdata, _message) -> None:
        nonlocal received, done
        received += 1
        if received == count:
            done = time.time()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv311)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("sc/v1/+/+/event/+", qos=1)
    client.on_subscribe = lambda *_: print("ready", flush=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.time() + 600
    while received < count and time.time() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"received": received, "done": done}), flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_raw(port: int, messages: list[tuple[str, bytes]], inflight: int) -> float:
    """Messages per second from the first publish to the subscriber's last receive."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--raw-subscriber", str(port), "--events", str(len(messages))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    publisher = QosPublisher(port, inflight=inflight)
    started = time.time()
    publisher.publish(messages, timeout=600)
    result = json.loads(child.stdout.readline())
    child.wait(30)
    publisher.close()
    if result["received"] != len(messages):
        raise RuntimeError(f"raw subscriber received {result['received']} of {len(messages)}")
    return len(messages) / (result["done"] - started)


def start_workers(url: str, port: int, workers: int, workdir: Path, batch_size: int) -> list[subprocess.Popen]:
    """Start `python -m server ingest` processes and wait until each has subscribed."""
    config = workdir / "ingest.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": url, "url_env": "SC_BENCH_UNSET_DATABASE_URL", "migrate_on_start": False},
                "broker": {"port": port, "max_inflight": 1000},
                # A group per run: a stopped worker's persistent session stays in its group and keeps its share.
                "ingest": {"group": f"bench-{workdir.name}", "batch_size": batch_size, "batch_linger_ms": 20},
            }
        )
    )
    processes = []
    for index in range(workers):
        log = workdir / f"worker-{index}.log"
        command = [sys.executable, "-m", "server", "--config", str(config), "ingest"]
        command += ["--client-id", f"bench-{workdir.name}-{index}"]
        processes.append(subprocess.Popen(command, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    for index in range(workers):
        log = workdir / f"worker-{index}.log"
        while "subscribed" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or processes[index].poll() is not None:
                raise RuntimeError(f"worker {index} did not subscribe: {log.read_text()[-1000:]}")
            time.sleep(0.05)
    return processes


def measure_ingest(
    broker: Mosquitto, url: str, messages: list, workers: int, workdir: Path, options: argparse.Namespace
) -> dict:
    """Publish to the workers and time until every event is committed; count lost and duplicated events."""
    engine = make_engine(url)
    migrate(engine)
    port = broker.port
    processes = start_workers(url, port, workers, workdir, options.batch_size)
    publisher = QosPublisher(port, inflight=options.publisher_inflight)
    worker_cpu_before = sum(cpu_seconds(process.pid) for process in processes)
    broker_cpu_before = cpu_seconds(broker.process.pid)
    distinct = select(func.count(func.distinct(Event.event_id)))
    try:
        started = time.time()
        publisher.publish(messages, timeout=600)
        published = time.time()
        deadline = time.monotonic() + 600
        stored = 0
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                stored = connection.execute(distinct).scalar()
            if stored >= len(messages):
                break
            time.sleep(0.05)
        finished = time.time()
        worker_cpu = sum(cpu_seconds(process.pid) for process in processes) - worker_cpu_before
        broker_cpu = cpu_seconds(broker.process.pid) - broker_cpu_before
        time.sleep(1.0)  # late redeliveries would show up as extra rows
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(Event)).scalar()
            stored = connection.execute(distinct).scalar()
            points = connection.execute(select(func.count()).select_from(TimeSeriesPoint)).scalar()
    finally:
        publisher.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        engine.dispose()
    return {
        "ingest_msgs_per_s": round(len(messages) / (finished - started), 1),
        "publish_s": round(published - started, 2),
        "lost": len(messages) - stored,
        "duplicates": rows - stored,
        "timeseries_points": points,
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_us_per_event": round(worker_cpu / len(messages) * 1e6),
        "broker_cpu_s": round(broker_cpu, 2),
    }


def main() -> int:
    """Run the raw and ingest measurements and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per run")
    parser.add_argument("--batch-size", type=int, default=500, help="ingest batch size")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--publisher-inflight", type=int, default=100, help="QoS 1 window of the publisher")
    parser.add_argument("--raw-subscriber", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the broker, cluster and workers
    if args.raw_subscriber:
        raw_subscriber(args.raw_subscriber, args.events)
        return 0
    messages = [access_message(seq, site="bench", device=f"dev-{seq % DEVICES}") for seq in range(args.events)]
    root = Path(tempfile.mkdtemp(prefix="sc-bench-ingest-"))
    os.chmod(root, 0o755)
    broker = Mosquitto(root / "mosquitto").start()
    cluster = None
    runs = []
    try:
        raw = measure_raw(broker.port, messages, args.publisher_inflight)
        for database in args.databases.split(","):
            for workers in [int(n) for n in args.workers.split(",")]:
                workdir = root / f"{database}-{workers}"
                workdir.mkdir()
                if database == "sqlite":
                    url = f"sqlite:///{workdir}/sc.db"
                else:
                    if cluster is None:
                        cluster = Postgres(root / "pg").start()
                    url = cluster.create_database(f"bench_{workers}")
                result = measure_ingest(broker, url, messages, workers, workdir, args)
                result = {"database": database, "workers": workers, **result}
                result["ratio"] = round(result["ingest_msgs_per_s"] / raw, 3)
                print(json.dumps(result), file=sys.stderr, flush=True)
                runs.append(result)
    finally:
        broker.stop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    postgres_runs = [run for run in runs if run["database"] == "postgresql"]
    summary = {
        "bench": "ingest",
        "events": args.events,
        "raw_msgs_per_s": round(raw, 1),
        "runs": runs,
        "timeseries": "sql (same transaction)",
        "postgres": "temporary cluster, fsync=off (tests/support/services.py)",
        "broker": "mosquitto 2.0, max_inflight_messages 1000",
        "publisher_inflight": args.publisher_inflight,
        "cpus": os.cpu_count(),
        "target": "ratio >= 0.8 on PostgreSQL, 0 lost, 0 duplicates",
        "target_met": bool(postgres_runs)
        and all(r["ratio"] >= 0.8 and r["lost"] == 0 and r["duplicates"] == 0 for r in postgres_runs),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
