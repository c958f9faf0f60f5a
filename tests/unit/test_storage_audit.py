"""The hash-chained audit log: appends link to their predecessor, edits and deletions are found."""

from __future__ import annotations

from sqlalchemy import delete, update

from server.storage.audit import GENESIS_HASH, AuditEntry, append_audit, verify_chain
from server.storage.db import make_engine, migrate


def test_chain_links_and_detects_tampering(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/audit.db")
    migrate(engine)
    with engine.begin() as connection:
        first = append_audit(connection, "admin", "person.read", "person:p-1", {"fields": ["id_number"]})
        second = append_audit(connection, "police:42", "events.query", "plate:京A12345", {"case": "2026-001"})
        third = append_audit(connection, "admin", "export", "site:demo")
    assert first.prev_hash == GENESIS_HASH
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    with engine.connect() as connection:
        assert verify_chain(connection) is None
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == second.id).values(actor="someone-else"))
    with engine.connect() as connection:
        assert verify_chain(connection) == second.id
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == second.id).values(actor="police:42"))
        assert verify_chain(connection) is None
        connection.execute(delete(AuditEntry).where(AuditEntry.id == second.id))
        assert verify_chain(connection) == third.id
