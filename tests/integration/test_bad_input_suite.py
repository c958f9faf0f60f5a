"""Bad-input suite: a seeded flood of malformed device messages through a real mosquitto into the real ingest
worker, and schemathesis over the platform's OpenAPI document.

The flood proves that ingest survives (still storing an event sent after it), stores every valid event exactly
once, turns no malformed payload into an event, and counts everything it rejects: the rejected-message table
and the sc_ingest_rejected_total counter both hold, per reason, exactly what was sent on the topics ingest
subscribes to, and replayed event ids are counted as duplicates (sc_ingest_duplicates_total) without a second
row. Ingest has no device registry to check senders against (the broker's per-device ACL is what stops an
unprovisioned device), so none of the devices here is provisioned and a spoofed sender is one whose envelope
disagrees with its topic.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from server.platform import build_platform
from server.storage.models import Event, RejectedMessage, TimeSeriesPoint
from tests.support.ingest import QosPublisher, access_message
from tests.support.malformed import CATEGORIES, generate
from tests.support.platform import server_settings
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

SEED = 20240612
MALFORMED = 10_000
VALID = 500


def _metric(platform, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample of the platform's Prometheus registry (0 when never incremented)."""
    return platform.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def _rejected_metric(platform) -> Counter[str]:
    """sc_ingest_rejected_total by reason."""
    counts: Counter[str] = Counter()
    for family in platform.metrics.registry.collect():
        if family.name == "sc_ingest_rejected":
            for sample in family.samples:
                if sample.name == "sc_ingest_rejected_total" and sample.value:
                    counts[sample.labels["reason"]] = int(sample.value)
    return counts


def test_seeded_plan_is_reproducible():
    """The same seed gives the same samples, byte for byte, and every category is populated."""
    first, second = generate(SEED, malformed=900, valid=50), generate(SEED, malformed=900, valid=50)
    assert [(s.topic, s.payload) for s in first.samples] == [(s.topic, s.payload) for s in second.samples]
    assert set(first.per_category) == {*CATEGORIES, "valid"}
    assert generate(SEED + 1, malformed=900, valid=50).samples != first.samples


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ten_thousand_malformed_messages_are_counted_and_never_stored(mosquitto, tmp_path, request, backend):
    """10,000 malformed messages with 500 valid events interleaved, then one more valid event after the flood."""
    started = time.monotonic()
    plan = generate(SEED, malformed=MALFORMED, valid=VALID)
    assert plan.malformed == MALFORMED
    url = f"sqlite:///{tmp_path}/sc.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    platform = build_platform(server_settings(mosquitto.port, url))
    live: list[str] = []
    platform.ingest.listeners.append(lambda row: live.append(str(row["event_id"])))
    platform.start()
    publisher = None
    try:
        wait_until(platform.ingest.connected.is_set, 10, message="ingest connected")
        publisher = QosPublisher(mosquitto.port)
        publisher.publish([(sample.topic, sample.payload) for sample in plan.samples], timeout=150)
        published = time.monotonic()
        after_id = uuid4()
        publisher.publish([access_message(1_000_000, site="north", device="gate-9", event_id=after_id)])

        expected_events = len(plan.valid_ids) + 1
        expected_rejected = sum(plan.reasons.values())
        with platform.engine.connect() as connection:

            def counts() -> tuple[int, int]:
                events = connection.execute(select(func.count()).select_from(Event)).scalar_one()
                rejected = connection.execute(select(func.count()).select_from(RejectedMessage)).scalar_one()
                connection.rollback()
                return events, rejected

            try:
                wait_until(lambda: counts() == (expected_events, expected_rejected), 150, interval=0.5,
                           message=f"{expected_events} events and {expected_rejected} rejected")  # fmt: skip
            except AssertionError as err:
                raise AssertionError(f"{err}; have {counts()}, ingest pending {platform.ingest.pending()}") from err
            wait_until(lambda: platform.ingest.pending() == 0, 30, message="ingest queue drained")
            time.sleep(1.0)  # anything still on its way would show up as an extra row now
            stored = dict(connection.execute(select(Event.event_id, Event.seq)).all())
            reasons = Counter(connection.execute(select(RejectedMessage.reason)).scalars())
            points = Counter(connection.execute(select(TimeSeriesPoint.measurement)).scalars())
            assert counts() == (expected_events, expected_rejected)
        drained = time.monotonic()

        # The worker survived: its writer thread runs, it is connected, and it stored the event sent last.
        assert platform.ingest._writer.is_alive()
        assert platform.ingest.connected.is_set()
        assert after_id in stored
    finally:
        if publisher is not None:
            publisher.close()
        platform.stop()

    # Every valid event stored exactly once, as first sent (a replay under the same id did not overwrite it).
    valid_seq = {
        sample.event_id: json.loads(sample.payload)["seq"] for sample in plan.samples if sample.category == "valid"
    }
    assert {str(event_id) for event_id in stored} == set(valid_seq) | {str(after_id)}
    assert {str(event_id): seq for event_id, seq in stored.items() if event_id != after_id} == valid_seq
    # ... and passed once to live listeners and the time series (a replay beside its original in one batch too).
    assert Counter(live) == Counter(set(valid_seq) | {str(after_id)})
    kinds = Counter(sample.topic.rsplit("/", 1)[1] for sample in plan.samples if sample.category == "valid")
    measurements = {"access": "passages", "plate": "plate_reads", "door": "door_states", "alarm": "alarms"}
    assert {measurements[kind]: count for kind, count in kinds.items()} == {
        name: points[name] - (name == "passages") for name in measurements.values()
    }

    # Everything rejected is stored and counted, per reason; replays are duplicates, not rejects.
    assert reasons == plan.reasons
    assert _rejected_metric(platform) == plan.reasons
    assert _metric(platform, "sc_ingest_duplicates_total") == plan.count("replayed")
    ingested = {
        sample.labels["kind"]: sample.value
        for family in platform.metrics.registry.collect()
        if family.name == "sc_ingest_messages"
        for sample in family.samples
        if sample.name == "sc_ingest_messages_total"
    }
    assert sum(ingested.values()) == expected_events, ingested

    unsubscribed = sum(1 for s in plan.samples if s.category == "invalid_topic" and s.reason is None)
    figures = {
        "backend": backend,
        "sent_per_category": plan.per_category,
        "unsubscribed_topics": unsubscribed,
        "rejected_by_reason": dict(sorted(reasons.items())),
        "rejected_total": sum(reasons.values()),
        "duplicates": int(_metric(platform, "sc_ingest_duplicates_total")),
        "events_stored": len(stored),
        "publish_s": round(published - started, 1),
        "drain_s": round(drained - published, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures, ensure_ascii=False))
