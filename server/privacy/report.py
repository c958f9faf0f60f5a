"""Compliance report: per data class the oldest record against its limit, the last run, edges, filing, cameras."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, not_, or_, select

from server.privacy.audit_chain import read_anchor, verify_audit
from server.privacy.classes import ROW_SETS
from server.privacy.edges import outstanding_by_edge
from server.privacy.filing import face_subjects, filing_status
from server.privacy.purpose import camera_register
from server.privacy.settings import BOUNDS, DataClass, PrivacySettings
from server.storage.audit import AuditEntry
from server.storage.enrolment import FaceTemplate
from server.storage.people import Consent, Occupancy, Person
from server.storage.privacy import RetentionRun


def _age_days(oldest: datetime | None, now: datetime) -> float | None:
    return None if oldest is None else round((now - oldest).total_seconds() / 86400, 2)


def overdue_templates(connection: Connection, now: datetime, grace_days: int) -> int:
    """Templates still held although consent was withdrawn, the person erased, or gone longer than the grace."""
    staying = exists().where(
        Occupancy.person_id == Person.id,
        or_(Occupancy.until.is_(None), Occupancy.until > now - timedelta(days=grace_days)),
    )
    left = and_(exists().where(Occupancy.person_id == Person.id), not_(staying))
    withdrawn = exists().where(Consent.id == FaceTemplate.consent_id, Consent.withdrawn_at.is_not(None))
    query = (
        select(func.count(FaceTemplate.id))
        .join(Person, Person.id == FaceTemplate.person_id)
        .where(or_(Person.erased_at.is_not(None), withdrawn, left))
    )
    return int(connection.execute(query).scalar() or 0)


def class_rows(connection: Connection, settings: PrivacySettings, now: datetime) -> list[dict[str, Any]]:
    """One line per data class: limit, legal bounds, oldest record and whether it is within the limit."""
    lines = []
    for data_class in DataClass:
        days, bound = settings.retention.days(data_class), BOUNDS[data_class]
        line: dict[str, Any] = {
            "class": data_class.value,
            "limit_days": days,
            "floor_days": bound.floor_days,
            "ceiling_days": bound.ceiling_days,
        }
        if data_class is DataClass.FACE_TEMPLATES:
            overdue = overdue_templates(connection, now, days)
            line |= {
                "held": int(connection.execute(select(func.count(FaceTemplate.id))).scalar() or 0),
                "overdue": overdue,
                "within_limit": overdue == 0,
            }
            lines.append(line)
            continue
        sets = ROW_SETS.get(data_class, ())
        oldest = [row_set.oldest(connection) for row_set in sets]
        if data_class is DataClass.AUDIT_LOG:
            oldest.append(connection.execute(select(func.min(AuditEntry.ts))).scalar())
        found = [value for value in oldest if value is not None]
        age = _age_days(min(found) if found else None, now)
        line |= {
            "oldest_age_days": age,
            "within_limit": age is None or age <= days,
            "tables": [row_set.name for row_set in sets]
            + (["audit_entries"] if data_class is DataClass.AUDIT_LOG else []),
        }
        lines.append(line)
    return lines


def last_run(connection: Connection) -> dict[str, Any] | None:
    """The newest retention run."""
    run = connection.execute(select(RetentionRun).order_by(RetentionRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "deleted": dict(run.deleted),
        "files_removed": run.files_removed,
        "edge_commands": run.edge_commands,
        "error": run.error,
    }


def build_report(
    engine: Engine,
    settings: PrivacySettings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    verify_chain: bool = True,
) -> dict[str, Any]:
    """The whole compliance report as JSON-ready data."""
    now = clock()
    with engine.connect() as connection:
        classes = class_rows(connection, settings, now)
        cameras = camera_register(connection)
        chain = verify_audit(connection, read_anchor(settings.audit_anchor_file)).as_dict() if verify_chain else None
        report = {
            "generated_at": now.isoformat(),
            "classes": classes,
            "last_run": last_run(connection),
            "edges": outstanding_by_edge(connection),
            "filing": filing_status(face_subjects(connection), settings.filing),
            "cameras": cameras,
            "audit_chain": chain,
        }
    report["compliant"] = (
        all(line["within_limit"] for line in classes)
        and all(camera["compliant"] for camera in cameras)
        and (chain is None or chain["ok"])
        and report["filing"]["level"] != "alert"
    )
    return report


def render_text(report: dict[str, Any]) -> str:
    """The report as a plain-text table for the terminal."""
    lines = [
        f"Privacy compliance report, {report['generated_at']}: {'OK' if report['compliant'] else 'ATTENTION'}",
        "",
        f"{'data class':28} {'limit d':>8} {'oldest d':>9}  status",
    ]
    for line in report["classes"]:
        oldest = line.get("oldest_age_days")
        shown = (
            f"{oldest:9.1f}"
            if oldest is not None
            else (f"{line['overdue']:>5} due" if "overdue" in line else "        -")
        )
        lines.append(
            f"{line['class']:28} {line['limit_days']:>8} {shown:>9}  {'ok' if line['within_limit'] else 'OVER LIMIT'}"
        )
    run = report["last_run"]
    lines += ["", f"last run: {run['started_at']} deleted {run['deleted']}" if run else "last run: never"]
    for edge, counts in sorted(report["edges"].items()):
        lines.append(f"edge {edge}: {counts}")
    filing = report["filing"]
    lines.append(f"face subjects: {filing['face_subjects']} ({filing['level']}; filing due at {filing['alert_at']})")
    for camera in report["cameras"]:
        if not camera["compliant"]:
            lines.append(f"camera {camera['site_id']}/{camera['device']}: public security without a sign (Art. 26)")
    chain = report["audit_chain"]
    if chain is not None:
        lines.append(
            f"audit chain: {'intact' if chain['ok'] else 'BROKEN at ' + str(chain['bad_id'])}, "
            f"{chain['entries']} entries"
        )
    return "\n".join(lines)
