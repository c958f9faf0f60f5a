"""Filing counter (Face Recognition Measures 2025): distinct people whose face data is held, across sites."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import Connection, distinct, func, select

from server.privacy.settings import FilingSettings
from server.storage.enrolment import FaceTemplate
from server.storage.people import Person


def face_subjects(connection: Connection) -> int:
    """People with at least one face template; one person registered at several sites (same ID number) counts once."""
    identity = func.coalesce(Person.id_number_hash, Person.id)
    query = (
        select(func.count(distinct(identity)))
        .select_from(Person)
        .join(FaceTemplate, FaceTemplate.person_id == Person.id)
        .where(Person.erased_at.is_(None))
    )
    return int(connection.execute(query).scalar() or 0)


def filing_status(count: int, settings: FilingSettings) -> dict[str, Any]:
    """The count against the thresholds: 'ok', 'warning' (approaching), or 'alert' (filing due)."""
    level = "alert" if count >= settings.alert_at else "warning" if count >= settings.warning_at else "ok"
    return {
        "face_subjects": count,
        "warning_at": settings.warning_at,
        "alert_at": settings.alert_at,
        "level": level,
        "rule": "Face Recognition Measures 2025: file with the provincial regulator once 100,000 people's face "
        "data is held",
    }


class FilingGauge:
    """Prometheus gauges sc_privacy_face_subjects and sc_privacy_filing_level (0 ok, 1 warning, 2 alert)."""

    LEVELS = {"ok": 0, "warning": 1, "alert": 2}

    def __init__(self, registry: CollectorRegistry) -> None:
        self.subjects = Gauge("sc_privacy_face_subjects", "People whose face templates are held", registry=registry)
        self.level = Gauge(
            "sc_privacy_filing_level", "Filing threshold reached: 0 ok, 1 warning, 2 alert", registry=registry
        )

    def update(self, status: dict[str, Any]) -> None:
        """Set both gauges from a filing status."""
        self.subjects.set(status["face_subjects"])
        self.level.set(self.LEVELS[status["level"]])
