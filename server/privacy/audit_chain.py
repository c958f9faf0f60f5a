"""Verify the hash-chained audit log (edits, gaps, a deleted tail past the anchor) and prune it after retention."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, select

from server.storage.audit import GENESIS_HASH, AuditEntry, append_audit, entry_hash

log = logging.getLogger(__name__)
PRUNE_ACTION = "audit.pruned"
SYSTEM_ACTOR = "system:privacy"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification: entries checked, the head, and the first problem found."""

    ok: bool
    entries: int
    head_id: int | None
    head_hash: str | None
    bad_id: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        """Plain JSON form."""
        return asdict(self)


def _latest_prune(connection: Connection) -> dict | None:
    """The detail of the newest prune record (through_id, through_hash), if the log was ever pruned."""
    table = AuditEntry.__table__
    row = connection.execute(
        select(table.c.detail).where(table.c.action == PRUNE_ACTION).order_by(table.c.id.desc()).limit(1)
    ).first()
    return dict(row.detail) if row else None


def read_anchor(path: Path | None) -> dict | None:
    """The head recorded outside the database ({'id', 'hash'}), if any."""
    if path is None or not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {"id": int(document["id"]), "hash": str(document["hash"])}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: unreadable audit anchor: {err}") from err


def write_anchor(path: Path, head_id: int, head_hash: str) -> None:
    """Record the chain's head outside the database, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"id": head_id, "hash": head_hash}), encoding="utf-8")
    os.replace(temporary, path)


def verify_audit(connection: Connection, anchor: dict | None = None) -> ChainReport:
    """Check every link and hash from the first kept entry; an anchored head must still be there, unchanged."""
    table = AuditEntry.__table__
    prune = _latest_prune(connection)
    expected_prev: str | None = GENESIS_HASH
    count, head_id, head_hash, anchor_seen = 0, None, None, False
    rows = connection.execute(select(table).order_by(table.c.id).execution_options(yield_per=2000))
    for entry in rows:
        if count == 0 and entry.prev_hash != GENESIS_HASH and prune is not None:
            # A prune under way leaves entries up to through_id; the one at through_id is checked below.
            under_way = entry.id <= int(prune["through_id"])
            expected_prev = entry.prev_hash if under_way else str(prune["through_hash"])
        digest = entry_hash(entry.prev_hash, entry.ts, entry.actor, entry.action, entry.subject, entry.detail)
        if entry.prev_hash != expected_prev:
            return ChainReport(
                False, count, head_id, head_hash, entry.id, "link broken: an entry before it was deleted or changed"
            )
        if entry.hash != digest:
            return ChainReport(False, count, head_id, head_hash, entry.id, "hash mismatch: the entry was edited")
        if prune is not None and entry.id == int(prune["through_id"]) and entry.hash != prune["through_hash"]:
            return ChainReport(False, count, head_id, head_hash, entry.id, "differs from the prune record")
        if anchor is not None and entry.id == anchor["id"]:
            if entry.hash != anchor["hash"]:
                return ChainReport(False, count, head_id, head_hash, entry.id, "differs from the anchored head")
            anchor_seen = True
        expected_prev, head_id, head_hash = entry.hash, entry.id, entry.hash
        count += 1
    pruned_past_anchor = prune is not None and anchor is not None and anchor["id"] <= int(prune["through_id"])
    if anchor is not None and not anchor_seen and not pruned_past_anchor:
        return ChainReport(
            False, count, head_id, head_hash, anchor["id"], "anchored entry is missing: the tail of the log was deleted"
        )
    return ChainReport(True, count, head_id, head_hash)


def verify_and_anchor(engine: Engine, anchor_file: Path | None, update_anchor: bool = True) -> ChainReport:
    """Verify against the anchor file, then (when intact) move the anchor to the current head."""
    anchor = read_anchor(anchor_file)
    with engine.connect() as connection:
        report = verify_audit(connection, anchor)
    if report.ok and update_anchor and anchor_file is not None and report.head_id is not None:
        write_anchor(anchor_file, report.head_id, str(report.head_hash))
    return report


def prune_audit(engine: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete the entries older than the cutoff (oldest first, in batches) after recording where the chain resumes."""
    table = AuditEntry.__table__
    with engine.begin() as connection:
        through_id = None
        for entry_id, ts in connection.execute(select(table.c.id, table.c.ts).order_by(table.c.id)):
            if ts >= cutoff:
                break
            through_id = entry_id
        if through_id is None:
            return 0
        through_hash = connection.execute(select(table.c.hash).where(table.c.id == through_id)).scalar_one()
        append_audit(
            connection,
            SYSTEM_ACTOR,
            PRUNE_ACTION,
            "audit_log",
            {"through_id": through_id, "through_hash": through_hash, "cutoff": cutoff.isoformat()},
        )
    removed = 0
    while True:
        with engine.begin() as connection:
            ids = (
                connection.execute(
                    select(table.c.id).where(table.c.id <= through_id).order_by(table.c.id).limit(batch_size)
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            removed += connection.execute(delete(table).where(table.c.id <= ids[-1])).rowcount
    log.info("audit log pruned: %d entries up to id %d", removed, through_id)
    return removed
