"""Topic builders and parsers."""

from __future__ import annotations

import pytest

from protocol.errors import TopicError
from protocol.topics import (
    Channel,
    TopicAddress,
    command_result_topic,
    command_topic,
    device_command_filter,
    event_topic,
    ingest_filters,
    parse_topic,
    status_topic,
    telemetry_topic,
)


def test_builders_spell_the_documented_topics():
    assert event_topic("oak-garden", "gate-1", "access") == "sc/v1/oak-garden/gate-1/event/access"
    assert telemetry_topic("s1", "d1") == "sc/v1/s1/d1/telemetry"
    assert status_topic("s1", "d1") == "sc/v1/s1/d1/status"
    assert command_topic("s1", "d1", "open-door") == "sc/v1/s1/d1/cmd/open-door"
    assert command_result_topic("s1", "d1", "open-door") == "sc/v1/s1/d1/cmd/open-door/result"
    assert device_command_filter("s1", "d1") == "sc/v1/s1/d1/cmd/+"


@pytest.mark.parametrize(
    "topic",
    [
        "sc/v1/s1/d1/event/access",
        "sc/v1/s1/d1/telemetry",
        "sc/v1/s1/d1/status",
        "sc/v1/s1/d1/cmd/gallery-sync",
        "sc/v1/s1/d1/cmd/gallery-sync/result",
    ],
)
def test_parse_round_trips(topic):
    assert parse_topic(topic).topic() == topic


def test_parse_gives_the_address():
    assert parse_topic("sc/v1/s1/d1/cmd/erase-person/result") == TopicAddress(
        "s1", "d1", Channel.COMMAND_RESULT, "erase-person"
    )


@pytest.mark.parametrize(
    "level",
    ["", "Gate-1", "gate_1", "gate 1", "-gate", "gate-", "门禁", "a/b", "+", "#", "x" * 65],
)
def test_bad_levels_are_refused(level):
    with pytest.raises(TopicError):
        event_topic("site", level, "access")


@pytest.mark.parametrize(
    "topic",
    [
        "sc/v2/s1/d1/status",
        "sc/v1/s1/d1",
        "sc/v1/s1/d1/event",
        "sc/v1/s1/d1/event/access/extra",
        "sc/v1/s1/d1/cmd/open-door/answer",
        "sc/v1/s1/d1/unknown",
        "sc/v1/S1/d1/status",
        "sc/v1/+/d1/status",
    ],
)
def test_bad_topics_are_refused(topic):
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_channels_with_and_without_names_are_enforced():
    from protocol.topics import build_topic

    with pytest.raises(TopicError):
        build_topic("s1", "d1", Channel.EVENT)
    with pytest.raises(TopicError):
        build_topic("s1", "d1", Channel.STATUS, "x")


def test_ingest_filters_are_shared_subscriptions():
    filters = ingest_filters("ingest")
    assert all(f.startswith("$share/ingest/sc/v1/+/+/") for f in filters)
    assert "$share/ingest/sc/v1/+/+/event/+" in filters
    assert "$share/ingest/sc/v1/+/+/cmd/+/result" in filters
    with pytest.raises(TopicError):
        ingest_filters("Bad Group")
