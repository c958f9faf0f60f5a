"""Signed exports: the records of an authorisation as GA/T 1400 style objects with a detached Ed25519 signature."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from server.police import viid
from server.police.authorisations import subject
from server.police.queries import PoliceQueries
from server.police.scope import QueryFilter, RecordKind
from server.police.settings import PoliceSettings
from server.police.signing import ExportSigner, Signature, canonical_json
from server.security.policy import Principal
from server.storage.audit import append_audit

FORMAT = "sc-police-export/1 (GA/T 1400 objects)"


class ExportIn(BaseModel):
    """What to export: record kinds (all the scope allows by default) and a filter inside the scope."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[RecordKind] = Field(default_factory=list, description="Record kinds; empty means the scope's kinds")
    filter: QueryFilter = Field(default_factory=QueryFilter, description="Part of the window and scope")


@dataclass(frozen=True)
class ExportBundle:
    """The exact document text, its SHA-256 and the detached signature."""

    document: str
    sha256: str
    signature: Signature


def build_document(
    authorisation_id: int,
    case_number: str,
    platform_id: str | None,
    key_id: str,
    results: dict[str, list[dict[str, Any]]],
    device_ids: viid.DeviceIds,
    generated_at: datetime,
) -> dict[str, Any]:
    """GA/T 1400 style lists of the minimised records, with a header naming the authorisation."""
    document: dict[str, Any] = {
        "SCExport": {
            "Format": FORMAT,
            "AuthorisationID": authorisation_id,
            "CaseNumber": case_number,
            "PlatformID": platform_id,
            "KeyID": key_id,
            "GeneratedAt": generated_at.isoformat(),
            "GeneratedTime": viid.pass_time(generated_at),
        }
    }

    def device(record: dict[str, Any]) -> str | None:
        return device_ids.get(record["site"], record["device"])

    if "plates" in results:
        vehicles = [viid.motor_vehicle(record, device(record)) for record in results["plates"]]
        document |= viid.motor_vehicle_list(vehicles)
    if "passages" in results:
        faces = [viid.face(r, device(r)) for r in results["passages"] if r.get("method") == "face"]
        others = [r | {"DeviceID": device(r)} for r in results["passages"] if r.get("method") != "face"]
        document |= viid.face_list(faces)
        document["SCPassageListObject"] = {"SCPassageObject": others}
    if "alarms" in results:
        notices = [
            viid.disposition_notification(r, device(r), str(r.get("alarm_type") or "alarm")) for r in results["alarms"]
        ]
        document |= viid.disposition_notification_list(notices)
    return document


class Exporter:
    """Runs the audited queries of an export, builds the document, signs it and audits the export itself."""

    def __init__(self, engine: Engine, settings: PoliceSettings, queries: PoliceQueries, signer: ExportSigner) -> None:
        self.engine, self.settings, self.queries, self.signer = engine, settings, queries, signer

    def export(self, principal: Principal, authorisation_id: int, request: ExportIn) -> ExportBundle:
        """One signed export; each kind is one audited query, the export one more audit entry."""
        authorisation = self.queries.usable(principal, authorisation_id, "export")
        kinds = sorted(set(request.kinds or authorisation.scope.kinds))
        results: dict[str, list[dict[str, Any]]] = {}
        for kind in kinds:
            page = self.queries.run(principal, authorisation_id, kind, request.filter, purpose="export")
            results[kind] = page.records
        generated_at = datetime.now(UTC)
        with self.engine.begin() as connection:
            device_ids = viid.load_device_ids(connection, self.settings.device_ids)
            document = build_document(
                authorisation_id,
                authorisation.case_number,
                self.settings.platform_id,
                self.signer.key_id,
                results,
                device_ids,
                generated_at,
            )
            raw = canonical_json(document)
            signature = self.signer.sign(raw)
            digest = hashlib.sha256(raw).hexdigest()
            detail = {
                "case_number": authorisation.case_number,
                "kinds": kinds,
                "records": {kind: len(records) for kind, records in results.items()},
                "document_sha256": digest,
                "key_id": self.signer.key_id,
            }
            append_audit(connection, principal.actor, "police.export", subject(authorisation_id), detail)
        return ExportBundle(raw.decode("utf-8"), digest, signature)
