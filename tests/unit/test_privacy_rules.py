"""The compliance matrix's configuration rules: legal floors and ceilings, purposes, filing thresholds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.config import ServerSettings
from server.privacy.filing import filing_status
from server.privacy.purpose import allowed
from server.privacy.settings import FilingSettings, PrivacySettings


def _refusal(**retention) -> str:
    with pytest.raises(ValidationError) as caught:
        ServerSettings.model_validate({"privacy": {"retention": retention}})
    return str(caught.value)


def test_pipl_art55_56_audit_log_below_three_years_is_refused_citing_the_rule():
    message = _refusal(audit_log=400)
    assert "privacy.retention.audit_log" in message
    assert "audit_log retention 400 days is below the 1095-day floor: the 3-year floor of PIPL Art. 55-56" in message


def test_csl_art21_security_logs_below_six_months_are_refused_citing_the_rule():
    message = _refusal(security_logs=179)
    assert "privacy.retention.security_logs" in message and "Cybersecurity Law Art. 21" in message


def test_pipl_art19_retention_above_the_necessity_ceiling_is_refused():
    message = _refusal(resident_access_events=365, unknown_face_snapshots=31)
    assert "resident_access_events retention 365 days is above the 180-day ceiling of PIPL Art. 19" in message
    assert "unknown_face_snapshots" in message and "Art. 28" in message


def test_pipl_art19_defaults_are_within_bounds_and_edges_are_bounded_too():
    settings = PrivacySettings()
    assert settings.retention.audit_log == 1095 and settings.retention.security_logs == 180
    assert PrivacySettings(retention={"audit_log": 1095, "security_logs": 180, "face_templates": 0})


def test_pipl_art26_public_security_cameras_serve_public_security_only():
    assert not allowed("public_security", "access_control")
    assert allowed("public_security", "public_security")
    assert allowed("public_security", "subject_access"), "the data subject's own copy (Art. 45)"
    assert allowed("access_control", "access_control") and allowed(None, "access_control")
    with pytest.raises(ValueError, match="purpose"):
        allowed("access_control", "marketing")


@pytest.mark.parametrize(
    "count, level",
    [(0, "ok"), (89_999, "ok"), (90_000, "warning"), (99_999, "warning"), (100_000, "alert"), (250_000, "alert")],
)
def test_face_measures_2025_filing_thresholds(count, level):
    status = filing_status(count, FilingSettings())
    assert status["level"] == level and status["face_subjects"] == count
