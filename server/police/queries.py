"""Police queries: passages, plate reads and alarms inside an approved authorisation, minimised and audited."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select

from server.police.authorisations import Authorisation, load, subject
from server.police.scope import Narrowed, OutOfScope, QueryFilter, RecordKind, Scope, narrow
from server.police.settings import PoliceSettings
from server.security.policy import Principal, Role
from server.services.errors import Forbidden, NotFound
from server.storage.audit import append_audit
from server.storage.models import Event

log = logging.getLogger(__name__)
EVENT_KIND = {"passages": "access", "plates": "plate", "alarms": "alarm"}
MAX_RELATED_EVENTS = 100_000


@dataclass(frozen=True)
class QueryResult:
    """Minimised records, the cursor for the next page, and the authorisation they came under."""

    authorisation: Authorisation
    kind: RecordKind
    records: list[dict[str, Any]]
    next_before_id: int | None
    audit_id: int


def _gate_condition(narrowed: Narrowed) -> Any:
    """SQL condition: the event happened at one of the narrowed gates (None when no gate is named)."""
    if not narrowed.gates:
        return None
    return or_(*(and_(Event.site == gate.site, Event.gate == gate.gate) for gate in narrowed.gates))


def _subject_condition(narrowed: Narrowed) -> Any:
    """SQL condition: the event concerns a named person or plate (None when no subject is named)."""
    parts = []
    if narrowed.persons:
        parts.append(Event.person_id.in_(narrowed.persons))
    if narrowed.plates:
        parts.append(Event.plate.in_(narrowed.plates))
    return or_(*parts) if parts else None


def _base(row: Any) -> dict[str, Any]:
    """Fields every record carries: which event, when and where."""
    return {
        "event_id": str(row.event_id),
        "ts": row.ts.isoformat(),
        "site": row.site,
        "gate": row.gate,
        "device": row.device,
    }


def minimise(kind: RecordKind, row: Any, scope: Scope, related_in_scope: frozenset[str] = frozenset()) -> dict:
    """Only what the scope names: identities only when named (or the scope identifies everyone at its gates)."""
    record = _base(row)
    data = row.data or {}
    if kind == "passages":
        record |= {"direction": data.get("direction"), "method": row.method, "result": row.result}
        if scope.reveals_person(row.person_id):
            record["person_id"] = row.person_id
        if scope.reveals_plate(row.plate):
            record["plate"] = row.plate
    elif kind == "plates":
        record |= {"direction": data.get("direction"), "plate_type": data.get("plate_type")}
        if scope.reveals_plate(row.plate):
            record |= {"plate": row.plate, "colour": data.get("colour")}
    else:
        record |= {
            "alarm_type": data.get("alarm_type"),
            "severity": data.get("severity"),
            "door": data.get("door"),
            "count": data.get("count", 1),
        }
        related = data.get("related_event_id")
        if related and related in related_in_scope:
            record["related_event_id"] = related
    return record


def digest_ids(records: list[dict[str, Any]]) -> str:
    """SHA-256 of the disclosed event ids, so the audit log proves what left without copying it."""
    return hashlib.sha256("\n".join(sorted(r["event_id"] for r in records)).encode()).hexdigest()


class PoliceQueries:
    """Runs queries under an authorisation; every query (and every refusal) appends to the audit chain."""

    def __init__(self, engine: Engine, settings: PoliceSettings) -> None:
        self.engine, self.settings = engine, settings

    def _refuse(self, principal: Principal, authorisation_id: int, kind: str, reason: str, error: type[Exception]):
        """Audit a refused query in its own transaction, then raise."""
        with self.engine.begin() as connection:
            detail = {"kind": kind, "refused": reason}
            append_audit(connection, principal.actor, "police.query.refused", subject(authorisation_id), detail)
        log.warning("police query refused for %s on authorisation %d: %s", principal.actor, authorisation_id, reason)
        raise error(reason)

    def usable(self, principal: Principal, authorisation_id: int, kind: str) -> Authorisation:
        """The authorisation if the caller filed it and it is approved and unexpired; refused and audited otherwise."""
        if principal.role is not Role.POLICE:
            self._refuse(principal, authorisation_id, kind, "only police query under an authorisation", Forbidden)
        try:
            with self.engine.connect() as connection:
                authorisation = load(connection, authorisation_id)
        except NotFound as err:
            self._refuse(principal, authorisation_id, kind, str(err), NotFound)
            raise  # unreachable: _refuse raises
        if authorisation.requested_by_id != principal.user_id:
            self._refuse(principal, authorisation_id, kind, "the authorisation was filed by another officer", Forbidden)
        state = authorisation.state()
        if state != "approved":
            self._refuse(principal, authorisation_id, kind, f"the authorisation is {state}", Forbidden)
        return authorisation

    def run(
        self, principal: Principal, authorisation_id: int, kind: RecordKind, query: QueryFilter, purpose: str = "query"
    ) -> QueryResult:
        """Records of one kind inside the authorisation; OutOfScope parts are refused (403) and audited."""
        authorisation = self.usable(principal, authorisation_id, kind)
        try:
            narrowed = narrow(authorisation.scope, authorisation.window, kind, query)
        except OutOfScope as err:
            self._refuse(principal, authorisation_id, kind, str(err), Forbidden)
            raise  # unreachable
        limit = min(query.limit, self.settings.max_results)
        with self.engine.begin() as connection:
            if kind == "alarms":
                rows, related = self._alarms(connection, narrowed, query.before_id, limit)
            else:
                rows, related = self._events(connection, EVENT_KIND[kind], narrowed, query.before_id, limit), set()
            records = [minimise(kind, row, authorisation.scope, frozenset(related)) for row in rows[:limit]]
            detail = {
                "purpose": purpose,
                "case_number": authorisation.case_number,
                "kind": kind,
                "since": narrowed.since.isoformat(),
                "until": narrowed.until.isoformat(),
                "persons": narrowed.persons,
                "plates": narrowed.plates,
                "gates": [f"{gate.site}/{gate.gate}" for gate in narrowed.gates],
                "returned": len(records),
                "event_ids_sha256": digest_ids(records),
            }
            audit = append_audit(connection, principal.actor, "police.query", subject(authorisation_id), detail)
        next_id = rows[limit - 1].id if len(rows) > limit else None
        return QueryResult(authorisation, kind, records, next_id, audit.id)

    def _events(
        self, connection: Connection, event_kind: str, narrowed: Narrowed, before_id: int | None, limit: int
    ) -> list[Any]:
        """Passages or plate reads of the narrowed subjects and gates, newest first (limit + 1 rows)."""
        query = select(Event).where(Event.kind == event_kind, Event.ts >= narrowed.since, Event.ts < narrowed.until)
        for condition in (_subject_condition(narrowed), _gate_condition(narrowed)):
            if condition is not None:
                query = query.where(condition)
        if before_id is not None:
            query = query.where(Event.id < before_id)
        return list(connection.execute(query.order_by(Event.id.desc()).limit(limit + 1)))

    def _alarms(
        self, connection: Connection, narrowed: Narrowed, before_id: int | None, limit: int
    ) -> tuple[list[Any], set[str]]:
        """Alarms tied to the named subjects' events (or, with gates only, raised at the gates)."""
        subjects = _subject_condition(narrowed)
        gates = _gate_condition(narrowed)
        related: set[str] = set()
        if subjects is not None:
            ids = select(Event.event_id).where(
                Event.kind.in_(("access", "plate")), Event.ts >= narrowed.since, Event.ts < narrowed.until, subjects
            )
            if gates is not None:
                ids = ids.where(gates)
            related = {str(value) for value in connection.execute(ids.limit(MAX_RELATED_EVENTS)).scalars()}
        query = select(Event).where(Event.kind == "alarm", Event.ts >= narrowed.since, Event.ts < narrowed.until)
        if gates is not None:
            query = query.where(gates)
        if before_id is not None:
            query = query.where(Event.id < before_id)
        rows: list[Any] = []
        for row in connection.execute(query.order_by(Event.id.desc())):
            if subjects is not None and (row.data or {}).get("related_event_id") not in related:
                continue
            rows.append(row)
            if len(rows) > limit:
                break
        return rows, related
