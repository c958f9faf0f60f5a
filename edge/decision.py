"""The local access decision: a pure function of credential, gate, time and the cached allowlist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import Result


@dataclass(frozen=True)
class Decision:
    """What the gate does and why."""

    result: Result
    reason: str
    entry: AllowlistEntry | None = None


def decide(
    kind: CredentialKind, value: str, gate: str, now: datetime, allowlist: dict[tuple[str, str], AllowlistEntry]
) -> Decision:
    """Grant a known, valid credential for this gate; deny everything else with a reason code."""
    entry = allowlist.get((kind.value, value))
    if entry is None:
        return Decision(Result.DENIED, f"unknown-{kind.value}")
    if entry.watchlist:
        return Decision(Result.DENIED, "watchlist", entry)
    if entry.gates and gate not in entry.gates:
        return Decision(Result.DENIED, "wrong-gate", entry)
    if entry.valid_from is not None and now < entry.valid_from:
        return Decision(Result.DENIED, "not-yet-valid", entry)
    if entry.valid_until is not None and now >= entry.valid_until:
        return Decision(Result.DENIED, "expired", entry)
    return Decision(Result.GRANTED, "allowlisted", entry)
