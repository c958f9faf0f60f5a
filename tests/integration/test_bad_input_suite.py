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
from dataclasses import dataclass, field
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


# ---- the API: schemathesis over the OpenAPI document -------------------------------------------------------------

# (role, generation mode, examples per operation): valid-by-schema requests as the admin and a manager of one
# site, and schema-breaking requests as the admin; bounded so the run stays near a minute on two cores.
API_PLAN = (("admin", "positive", 15), ("admin", "negative", 6), ("manager", "positive", 6))


@dataclass
class FuzzLog:
    """What the fuzzing saw: status codes, and each server error with its request as curl."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)


def _fuzz_operation(operation, mode: str, examples: int, header: dict, protected_users: set[int], seen: FuzzLog):
    """Send `examples` generated requests to one operation; False when the mode can make no input for it."""
    from hypothesis import HealthCheck, Phase, given, reject, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def run(case) -> None:
        if case.operation.label.endswith("/disable") and (case.path_parameters or {}).get("user_id") in protected_users:
            reject()  # disabling the fuzzing users themselves would only turn the rest of the run into 401s
        label = f"{case.operation.label} ({mode})"
        try:
            response = case.call(headers=header)
        except Exception as err:  # noqa: BLE001 - an exception out of the app is a server error too
            seen.server_errors.append(f"{label}: {err!r}\n  {case.as_curl_command()}")
            return
        seen.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except BaseExceptionGroup as failures:
            seen.server_errors.append(f"{label}: {failures}\n  {case.as_curl_command()}")
        if response.status_code >= 500:  # the same verdict, kept even if the check's defaults change
            seen.server_errors.append(f"{label}: {response.status_code}")

    try:
        run()
    except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
        return False
    return True


@pytest.mark.slow
def test_openapi_fuzzing_finds_no_server_error(mosquitto, postgres_url, tmp_path):
    """Every operation of the OpenAPI document, fuzzed in-process through the ASGI app with real tokens: no 5xx.

    The app runs on PostgreSQL with its ingest on the test broker (so /readyz is truly ready) and the police link
    on (so its routes are more than 404). A response of 500 or more, or an exception out of the app, is recorded
    with the request as curl, and the test fails listing them all.
    """
    import schemathesis
    from schemathesis.python.asgi import shutdown_lifespans

    from tests.support.api_world import USERNAMES, api_settings, build_world

    started = time.monotonic()
    unique = uuid4().hex[:8]
    app, world = build_world(
        api_settings(
            postgres_url,
            broker_port=mosquitto.port,
            ingest={"group": f"fuzz-{unique}", "client_id": f"ingest-fuzz-{unique}"},
            police={"enabled": True},
            privacy={"audit_anchor_file": str(tmp_path / "anchor.json"), "snapshot_root": str(tmp_path / "snaps")},
        )
    )
    headers = {role: world.login(USERNAMES[role]) for role in {role for role, _, _ in API_PLAN}}
    protected_users = {world.ids["user_ids"][role] for role in headers}
    seen = FuzzLog()
    per_plan: dict[str, int] = {}
    operations: set[str] = set()
    no_negative: set[str] = set()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
        for role, mode, examples in API_PLAN:
            before = seen.statuses.total()
            for result in schema.get_all_operations():
                operation = result.ok()
                operations.add(operation.label)
                if not _fuzz_operation(operation, mode, examples, headers[role], protected_users, seen):
                    assert mode == "negative", operation.label
                    no_negative.add(operation.label)
            per_plan[f"{role}/{mode}/{examples}"] = seen.statuses.total() - before

        # The fuzzing users could act to the end: their tokens still work, so no part of the run was just 401s.
        for role, header in headers.items():
            me = world.client.get("/api/v1/auth/me", headers=header)
            assert me.status_code == 200, (role, me.text)
    finally:
        shutdown_lifespans()

    errors = list(dict.fromkeys(seen.server_errors))
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors)
    statuses = seen.statuses
    successes = sum(count for status_code, count in statuses.items() if 200 <= status_code < 300)
    assert successes > statuses.total() // 10, statuses  # authenticated, real work done, not only refusals
    figures = {
        "operations": len(operations),
        "requests_by_plan": per_plan,
        "requests": statuses.total(),
        "statuses": dict(sorted(statuses.items())),
        "operations_without_negative_input": len(no_negative),
        "server_errors": len(errors),
        "total_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))
