"""The local access decision: a pure function of the request (identity or credential, gate, time) and the allowlist.

The seam other access methods plug into is `Decider`: any callable taking an `AccessRequest` and an
`AllowlistSnapshot` and returning a `Decision`. `decide_access` is the default policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from edge.allowlist import AllowlistSnapshot
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import Method, Result

WATCHLIST = "watchlist"
_CREDENTIAL_KINDS = {
    Method.CARD: CredentialKind.CARD,
    Method.PIN: CredentialKind.PIN,
    Method.PLATE: CredentialKind.PLATE,
}


@dataclass(frozen=True)
class Decision:
    """What the gate does and why."""

    result: Result
    reason: str
    entry: AllowlistEntry | None = None
    person_id: str | None = None


@dataclass(frozen=True)
class AccessRequest:
    """Someone or something asks to pass a gate."""

    gate: str
    method: Method
    now: datetime
    credential: str | None = None
    person_id: str | None = None
    score: float | None = None
    evidence_ok: bool = True
    evidence_reason: str = "weak-evidence"


Decider = Callable[[AccessRequest, AllowlistSnapshot], Decision]


def decide(
    kind: CredentialKind, value: str, gate: str, now: datetime, allowlist: Mapping[tuple[str, str], AllowlistEntry]
) -> Decision:
    """Grant a known, valid credential for this gate; deny everything else with a reason code."""
    entry = allowlist.get((kind.value, value))
    if entry is None:
        return Decision(Result.DENIED, f"unknown-{kind.value}")
    return _check_entry(entry, gate, now)


def decide_access(request: AccessRequest, allowlist: AllowlistSnapshot) -> Decision:
    """The default policy: faces by gallery identity (unless watchlisted), credentials by the allowlist."""
    if not request.evidence_ok:
        return Decision(Result.DENIED, request.evidence_reason, person_id=request.person_id)
    if request.method is Method.FACE:
        if request.person_id is None:
            return Decision(Result.UNKNOWN, "unknown-face")
        flagged = next((e for e in allowlist.by_person.get(request.person_id, ()) if e.watchlist), None)
        if flagged is not None:
            return Decision(Result.DENIED, WATCHLIST, flagged, request.person_id)
        return Decision(Result.GRANTED, "gallery-match", person_id=request.person_id)
    kind = _CREDENTIAL_KINDS.get(request.method)
    if kind is None or request.credential is None:
        return Decision(Result.DENIED, "unsupported-method")
    entry = allowlist.lookup(kind, request.credential)
    if entry is None:
        return Decision(Result.DENIED, f"unknown-{kind.value}")
    return _check_entry(entry, request.gate, request.now)


def _check_entry(entry: AllowlistEntry, gate: str, now: datetime) -> Decision:
    """Watchlist, gate and validity checks of one allowlist entry."""
    if entry.watchlist:
        return Decision(Result.DENIED, WATCHLIST, entry, entry.person_id)
    if entry.gates and gate not in entry.gates:
        return Decision(Result.DENIED, "wrong-gate", entry, entry.person_id)
    if entry.valid_from is not None and now < entry.valid_from:
        return Decision(Result.DENIED, "not-yet-valid", entry, entry.person_id)
    if entry.valid_until is not None and now >= entry.valid_until:
        return Decision(Result.DENIED, "expired", entry, entry.person_id)
    return Decision(Result.GRANTED, "allowlisted", entry, entry.person_id)
