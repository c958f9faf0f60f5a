"""Render docs/pia-template.md with the live configuration and database figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from server.privacy.audit_chain import read_anchor, verify_audit
from server.privacy.filing import face_subjects, filing_status
from server.privacy.purpose import camera_register
from server.privacy.settings import BOUNDS, DataClass
from server.storage.privacy import SubjectRequest
from server.storage.registry import Site

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "pia-template.md"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class PiaError(ValueError):
    """The template names a value the renderer does not know."""


def _retention_table(settings: Any) -> str:
    rows = []
    for data_class in DataClass:
        bound = BOUNDS[data_class]
        rows.append(
            f"| {data_class.value} | {settings.privacy.retention.days(data_class)} | "
            f"{bound.floor_days} ({bound.floor_rule}) | {bound.ceiling_days} ({bound.ceiling_rule}) |"
        )
    return "\n".join(rows)


def _camera_table(cameras: list[dict[str, Any]]) -> str:
    if not cameras:
        return "No cameras are registered yet (`python -m server privacy camera ...`)."
    lines = ["| site | device | camera | purpose | sign posted |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {c['site_id']} | {c['device']} | {c['camera'] or '-'} | {c['purpose']} | "
        f"{'yes' if c['signage_posted'] else 'NO'} |"
        for c in cameras
    ]
    return "\n".join(lines)


def pia_values(settings: Any, engine: Engine) -> dict[str, str]:
    """Every placeholder's value."""
    from server.storage.crypto import FieldCipher, KeyConfigError

    privacy = settings.privacy
    with engine.connect() as connection:
        filing = filing_status(face_subjects(connection), privacy.filing)
        chain = verify_audit(connection, read_anchor(privacy.audit_anchor_file))
        sites = ", ".join(connection.execute(select(Site.id).order_by(Site.id)).scalars()) or "none"
        requests = connection.execute(select(SubjectRequest.kind, func.count()).group_by(SubjectRequest.kind)).all()
        cameras = camera_register(connection)
    try:
        key_id = FieldCipher.from_env(settings.security.field_key_env, settings.security.lookup_key_env).key_id
    except KeyConfigError:
        key_id = f"(not loaded: {settings.security.field_key_env} unset here)"
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "controller": privacy.controller or "*not configured (privacy.controller)*",
        "contact": privacy.contact or "*not configured (privacy.contact)*",
        "site_name": settings.site_name,
        "sites": sites,
        "police_enabled": "yes" if settings.police.enabled else "no",
        "retention_table": _retention_table(settings),
        "erased_events": privacy.erased_events,
        "timeseries_retention": privacy.timeseries_retention,
        "key_id": key_id,
        "face_subjects": str(filing["face_subjects"]),
        "filing_warning": str(filing["warning_at"]),
        "filing_alert": str(filing["alert_at"]),
        "filing_level": filing["level"],
        "camera_table": _camera_table(cameras),
        "audit_entries": str(chain.entries),
        "audit_ok": "yes" if chain.ok else f"NO (entry {chain.bad_id}: {chain.problem})",
        "security_logs_days": str(privacy.retention.days(DataClass.SECURITY_LOGS)),
        "audit_days": str(privacy.retention.days(DataClass.AUDIT_LOG)),
        "subject_requests": ", ".join(f"{kind}: {count}" for kind, count in requests) or "none",
    }


def render_pia(settings: Any, engine: Engine, template: Path = TEMPLATE) -> str:
    """The assessment as Markdown with every placeholder filled; an unknown placeholder is an error."""
    values = pia_values(settings, engine)
    text = template.read_text(encoding="utf-8")
    unknown = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if unknown:
        raise PiaError(f"{template}: unknown placeholders {unknown}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
