"""Outbox: bounded by count, bytes and age (oldest dropped first, counted, alarmed), ordered, crash-safe."""

from __future__ import annotations

import json
import threading

from edge.outbox import Outbox
from edge.publisher import EdgePublisher
from protocol.broker import BrokerSettings
from protocol.events import AccessDecision, Direction, Method, Result


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _fill(outbox: Outbox, count: int, size: int = 10, start: int = 0) -> None:
    for index in range(start, start + count):
        outbox.put(f"e{index}", index, "t", b"x" * size)


def test_count_bound_drops_oldest_first_and_counts(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_events=10)
    _fill(outbox, 10)
    assert outbox.depth() == 10 and outbox.dropped_total() == 0
    assert outbox.put("e10", 10, "t", b"y") == 1
    items = outbox.pending()
    assert [i.event_id for i in items] == [f"e{i}" for i in range(1, 11)], "the oldest went first"
    assert outbox.dropped_total() == 1


def test_byte_bound(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_bytes=1000)
    _fill(outbox, 9, size=100)
    assert outbox.size_bytes() == 900
    assert outbox.put("big", 99, "t", b"z" * 350) == 3, "three 100-byte events make room for 350 bytes"
    assert outbox.size_bytes() == 950 and outbox.depth() == 7
    assert outbox.pending()[0].event_id == "e3"


def test_age_bound_applies_on_expire(tmp_path):
    clock = Clock()
    outbox = Outbox(tmp_path / "o.db", max_age_s=60, clock=clock)
    _fill(outbox, 3)
    clock.now += 30
    _fill(outbox, 2, start=3)
    clock.now += 40
    assert outbox.expire() == 3, "the first three are older than 60 s"
    assert [i.event_id for i in outbox.pending()] == ["e3", "e4"]
    assert outbox.dropped_total() == 3


def test_duplicate_event_id_is_stored_once_and_counters_survive_reopen(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    _fill(outbox, 3)
    outbox.put("e1", 1, "t", b"x" * 10)
    assert outbox.depth() == 3
    outbox.remove_many([outbox.pending()[0].row_id, 123456])
    outbox.close()
    reopened = Outbox(tmp_path / "o.db")
    assert reopened.depth() == 2 and reopened.size_bytes() == 20
    assert reopened.next_seq() == 1


def test_concurrent_senders_keep_row_order_equal_to_seq_order(tmp_path):
    publisher = EdgePublisher(BrokerSettings(port=1), Outbox(tmp_path / "o.db"), site="demo", device="gate-1")
    body = AccessDecision(gate="g", direction=Direction.IN, method=Method.CARD, result=Result.DENIED, reason="x")

    def send_many() -> None:
        for _ in range(200):
            publisher.send(body)

    threads = [threading.Thread(target=send_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = [item.seq for item in publisher.outbox.pending(limit=10_000)]
    assert len(seqs) == 800
    assert seqs == sorted(seqs), "a later row never carries an earlier seq"
    assert len(set(seqs)) == 800


def test_overflow_raises_one_alarm_per_interval_with_the_count(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_events=20)
    publisher = EdgePublisher(BrokerSettings(port=1), outbox, site="demo", device="gate-1", alarm_interval_s=3600)
    body = AccessDecision(gate="g", direction=Direction.IN, method=Method.CARD, result=Result.DENIED, reason="x")
    for _ in range(30):
        publisher.send(body)
    payloads = [json.loads(item.payload) for item in outbox.pending(limit=100)]
    alarms = [p for p in payloads if p["schema"] == "alarm"]
    assert len(alarms) == 1, "one alarm per interval, not one per dropped event"
    assert alarms[0]["data"]["alarm_type"] == "outbox_overflow"
    assert alarms[0]["data"]["count"] == 1, "raised at the first drop"
    assert outbox.depth() == 20
    assert publisher.dropped_since_start == 11, "ten events plus the one the alarm displaced"
    assert outbox.dropped_total() == 11
    seqs = [p["seq"] for p in payloads]
    assert seqs == sorted(seqs)


def test_overflow_alarms_again_after_the_interval(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_events=10)
    publisher = EdgePublisher(BrokerSettings(port=1), outbox, site="demo", device="gate-1", alarm_interval_s=0)
    body = AccessDecision(gate="g", direction=Direction.IN, method=Method.CARD, result=Result.DENIED, reason="x")
    for _ in range(15):
        publisher.send(body)
    alarms = [json.loads(i.payload) for i in outbox.pending() if json.loads(i.payload)["schema"] == "alarm"]
    assert len(alarms) >= 2
    assert sum(a["data"]["count"] for a in alarms) <= publisher.dropped_since_start


def test_rewrite_redacts_in_place(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    outbox.put("a", 1, "t", b'{"data":{"person_id":"p1"}}')
    outbox.put("b", 2, "t", b'{"data":{"person_id":"p2"}}')
    changed = outbox.rewrite(lambda item: b'{"data":{"person_id":null}}' if b"p1" in item.payload else None)
    assert changed == 1
    assert [i.payload for i in outbox.pending()] == [b'{"data":{"person_id":null}}', b'{"data":{"person_id":"p2"}}']


def test_a_publish_refused_for_want_of_a_connection_is_tried_again(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    publisher = EdgePublisher(BrokerSettings(port=1), outbox, site="demo", device="gate-1")
    body = AccessDecision(gate="north", direction=Direction.IN, method=Method.CARD, result=Result.DENIED, reason="x")
    for _ in range(3):
        publisher.send(body)
    publisher.connected.set()  # as if the connection dropped between the drainer's check and its publish
    for _ in range(3):
        publisher._drain_once()  # paho answers NO_CONN; neither this pass nor the next may raise
    assert publisher.depth() == 3 and publisher.republished == 0
    assert publisher.outbox.pending(limit=10)[0].seq == 1, "nothing skipped: the oldest event is sent first"


def test_stop_survives_a_broker_that_went_first(tmp_path):
    """Ctrl+C reaches the demo's broker too: the agent believes it is connected, the offline status cannot go."""
    publisher = EdgePublisher(BrokerSettings(port=1), Outbox(tmp_path / "o.db"), site="demo", device="gate-1")
    publisher.connected.set()  # paho has not yet noticed the lost connection
    publisher.stop(timeout=1)  # raised "The client is not currently connected" before
