"""The barrier's decision on plate reads, for the plate benches: the real access policy, one registered plate."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.access.allowlist import Allowlist
from edge.access.config import AccessConfig
from edge.access.policy import AccessPolicy
from edge.config import DecisionPolicy
from edge.vision.plates import PlateRead
from protocol.commands import AllowlistEntry, CredentialKind

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a weekday noon: every default schedule is open


# the serial match as configs/edge/vehicle-gate.yaml turns it on (off by default)
SERIAL_MATCH = DecisionPolicy(plate_serial_match_below=0.5)


def barrier_policy(plate: str, policy: DecisionPolicy) -> AccessPolicy:
    """The access policy of a barrier where this plate alone is registered."""
    config = AccessConfig(
        site="bench",
        plate_min_score=policy.plate_min_confidence,
        plate_serial_match_below=policy.plate_serial_match_below,
        doors=[{"id": "barrier", "gate": "car-in", "kind": "barrier", "methods": ["plate"]}],
    )
    entry = AllowlistEntry(kind=CredentialKind.PLATE, value=plate, credential_ref="v-1", person_id="p-1")
    return AccessPolicy(config, Allowlist([entry]))


def admitted(access: AccessPolicy, reads: list[PlateRead], decision: DecisionPolicy) -> str | None:
    """Why the barrier opens for one of a frame's validated reads, each decided alone as the gate decides a
    voted plate (None: it stays shut)."""
    for read in reads:
        if not read.validated or not decision.plate_decidable(read):
            continue
        outcome = access.decide_plate(
            read.text, "barrier", NOON, read.confidence, read.province_confidence, read.serial_confidence
        )
        if outcome.granted:
            return outcome.reason
    return None
