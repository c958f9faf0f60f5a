"""The apply-retention command the retention engine sends to edges for their local records."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from protocol import build, decode, encode
from protocol.commands import ApplyRetention, ApplyRetentionResult
from protocol.topics import parse_topic


def test_apply_retention_round_trips_on_its_command_topic():
    command = ApplyRetention(request_id=uuid4(), events_max_age_s=30 * 86400, snapshots_max_age_s=7 * 86400)
    message = build(command, site="demo", device="gate-1", seq=1)
    assert parse_topic(message.topic()).name == "apply-retention"
    assert decode(encode(message), message.topic()).body == command
    result = ApplyRetentionResult(request_id=command.request_id, ok=True, events_purged=3, snapshots_purged=1)
    answer = build(result, site="demo", device="gate-1", seq=2)
    assert answer.topic().endswith("/cmd/apply-retention/result")
    assert decode(encode(answer), answer.topic()).body.events_purged == 3


@pytest.mark.parametrize(
    "field, value",
    [
        ("events_max_age_s", 0),
        ("events_max_age_s", 400 * 86400),
        ("snapshots_max_age_s", -1),
        ("snapshots_max_age_s", 40 * 86400),
    ],
)
def test_apply_retention_refuses_ages_outside_the_policy_bounds(field, value):
    fields = {"events_max_age_s": 86400.0, "snapshots_max_age_s": 86400.0, field: value}
    with pytest.raises(ValidationError, match=field):
        ApplyRetention(request_id=uuid4(), **fields)


def test_a_failed_result_needs_a_reason_and_defaults_the_counts():
    refused = ApplyRetentionResult(request_id=uuid4(), ok=False, error="unsupported command ApplyRetention")
    assert (refused.events_purged, refused.snapshots_purged) == (0, 0)
    with pytest.raises(ValidationError):
        ApplyRetentionResult(request_id=uuid4(), ok=False)
