"""Edge outbox benchmark: store rate with the broker down, then drain rate to a real local mosquitto (QoS 1).

Prints one JSON object as its last line: events, store_per_s, drain_per_s, end_to_end_per_s, p50/p95 store ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from demo.broker import Mosquitto  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from edge.publisher import Confirm, EdgePublisher  # noqa: E402
from protocol.broker import BrokerSettings, make_client  # noqa: E402
from protocol.events import AccessDecision, Direction, Method, Result  # noqa: E402


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    body = AccessDecision(
        gate="north",
        direction=Direction.IN,
        method=Method.CARD,
        result=Result.GRANTED,
        reason="allowlisted",
        person_id="p-000123",
        credential_ref="c-000456",
        latency_ms=3.2,
    )
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        broker = Mosquitto(work / "mq")
        publisher = EdgePublisher(  # the broker leg only: no platform here to send storage receipts
            BrokerSettings(port=broker.port),
            Outbox(work / "outbox.db"),
            site="demo",
            device="gate-1",
            confirm=Confirm.BROKER,
        )
        store_ms = []
        started = time.perf_counter()
        for _ in range(args.events):
            t0 = time.perf_counter()
            publisher.send(body)
            store_ms.append((time.perf_counter() - t0) * 1000)
        store_s = time.perf_counter() - started
        broker.start()
        received = threading.Event()
        count = [0]

        def on_message(*_):
            count[0] += 1
            if count[0] >= args.events:
                received.set()

        receiver = make_client(BrokerSettings(port=broker.port), "bench-receiver")
        receiver.on_message = on_message
        receiver.connect("127.0.0.1", broker.port)
        receiver.subscribe("sc/v1/+/+/event/+", qos=1)
        receiver.loop_start()
        time.sleep(0.2)
        started = time.perf_counter()
        publisher.start()
        while publisher.depth() and time.perf_counter() - started < 120:
            time.sleep(0.01)
        drain_s = time.perf_counter() - started
        received.wait(60)
        end_to_end_s = time.perf_counter() - started
        publisher.stop()
        receiver.loop_stop()
        broker.stop()
    p50, p95 = np.percentile(store_ms, [50, 95])
    print(
        json.dumps(
            {
                "benchmark": "edge_outbox",
                "events": args.events,
                "store_per_s": round(args.events / store_s),
                "store_p50_ms": round(float(p50), 3),
                "store_p95_ms": round(float(p95), 3),
                "drain_per_s": round(args.events / drain_s),
                "end_to_end_per_s": round(count[0] / end_to_end_s),
                "received": count[0],
            }
        )
    )


if __name__ == "__main__":
    main()
