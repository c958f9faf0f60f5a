"""Certificates of erasure: a canonical JSON of what was erased where, bound by its SHA-256 to the audit chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from server.privacy.edges import erase_receipts
from server.storage.audit import AuditEntry, append_audit
from server.storage.privacy import SubjectRequest

CERTIFIED_ACTION = "privacy.erase.certified"


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes the certificate hash is taken over (sorted keys, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def certificate_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical certificate."""
    return hashlib.sha256(canonical(document)).hexdigest()


def certificate_document(connection: Connection, request: SubjectRequest, reasons: dict[str, str]) -> dict[str, Any]:
    """What was erased on the platform, in files and on each edge (with its receipt), and what was kept and why."""
    detail = dict(request.detail)
    receipts = erase_receipts(connection, detail.get("edge_requests", []))
    return {
        "certificate": "erasure",
        "version": 1,
        "request_id": str(request.id),
        "person_id": request.person_id,
        "site_id": request.site_id,
        "requested_by": request.requested_by,
        "erased_at": request.created_at.isoformat(),
        "platform": detail.get("local", {}),
        "events_policy": detail.get("events_policy"),
        "files": detail.get("files", []),
        "edges": receipts,
        "complete": all(item["confirmed"] for item in receipts),
        "retained": [
            {"what": key, "count": count, "reason": reasons.get(key, "")}
            for key, count in sorted(detail.get("retained", {}).items())
            if count
        ],
    }


def bind_certificate(
    connection: Connection, request: SubjectRequest, document: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Issue the certificate: once complete, its hash is written to the request and to the audit chain (once)."""
    if not document["complete"]:
        return {"certificate": document, "sha256": None, "audit_entry_id": None, "status": "waiting for edges"}
    if request.certificate_sha256 is None:
        digest = certificate_hash(document)
        connection.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == request.id, SubjectRequest.certificate_sha256.is_(None))
            .values(
                certificate_sha256=digest,
                completed_at=datetime.now(UTC),
                detail=dict(request.detail) | {"certificate": document},
            )
        )
        entry = append_audit(
            connection,
            actor,
            CERTIFIED_ACTION,
            f"person:{request.person_id}",
            {"request": str(request.id), "sha256": digest, "edges": len(document["edges"])},
        )
        return {"certificate": document, "sha256": digest, "audit_entry_id": entry.id, "status": "certified"}
    issued = dict(request.detail).get("certificate", document)
    entry_id = connection.execute(
        select(AuditEntry.id)
        .where(AuditEntry.action == CERTIFIED_ACTION, AuditEntry.subject == f"person:{request.person_id}")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).scalar()
    return {
        "certificate": issued,
        "sha256": request.certificate_sha256,
        "audit_entry_id": entry_id,
        "status": "certified",
    }


def check_certificate(connection: Connection, document: dict[str, Any], digest: str) -> bool:
    """True when the document hashes to `digest` and the audit chain recorded that hash for its request."""
    if certificate_hash(document) != digest:
        return False
    details = connection.execute(
        select(AuditEntry.detail).where(
            AuditEntry.action == CERTIFIED_ACTION, AuditEntry.subject == f"person:{document['person_id']}"
        )
    ).scalars()
    return any(item.get("sha256") == digest and item.get("request") == document["request_id"] for item in details)
