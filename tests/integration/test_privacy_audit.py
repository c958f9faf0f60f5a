"""The audit chain: edits, deletions in the middle and of the tail are detected; pruning keeps it verifiable."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import delete, select, update

from server.privacy.audit_chain import verify_and_anchor, verify_audit
from server.privacy.retention import RetentionEnforcer
from server.privacy.settings import PrivacySettings
from server.storage.audit import AuditEntry, append_audit
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration
START = datetime(2022, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    from server.storage.db import make_engine, migrate

    url = f"sqlite:///{tmp_path}/sc.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        for day in range(40):
            append_audit(
                connection,
                "user:admin",
                "person.read",
                f"person:p-{day % 7}",
                {"fields": ["name"]},
                ts=START + timedelta(days=day * 30),
            )
    yield engine, url
    engine.dispose()


def test_pipl_art55_an_edited_entry_is_detected(database):
    engine, _ = database
    with engine.begin() as connection:
        assert verify_audit(connection).ok
        connection.execute(update(AuditEntry).where(AuditEntry.id == 17).values(actor="user:nobody"))
        report = verify_audit(connection)
    assert not report.ok and report.bad_id == 17 and "edited" in report.problem


def test_pipl_art55_a_deleted_entry_is_detected(database):
    engine, _ = database
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.id == 9))
        report = verify_audit(connection)
    assert not report.ok and report.bad_id == 10 and "deleted" in report.problem


def test_pipl_art55_a_deleted_tail_is_detected_by_the_anchor(database, tmp_path):
    engine, _ = database
    anchor = tmp_path / "anchor.json"
    assert verify_and_anchor(engine, anchor).ok
    assert json.loads(anchor.read_text())["id"] == 40
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.id >= 38))
    report = verify_and_anchor(engine, anchor)
    assert not report.ok and report.bad_id == 40 and "tail" in report.problem
    assert json.loads(anchor.read_text())["id"] == 40, "a broken chain never moves the anchor"


def test_pipl_art55_56_pruning_after_three_years_keeps_the_rest_verifiable(database, tmp_path):
    engine, _ = database
    settings = PrivacySettings(snapshot_root=tmp_path / "s", audit_anchor_file=tmp_path / "anchor.json")
    now = START + timedelta(days=40 * 30)
    result = RetentionEnforcer(engine, settings, clock=lambda: now).run("test")
    # Entries older than 1095 days go: day 0, 30, ..., 90 -> ages 1200 .. 1110 days.
    assert result.deleted["audit_entries"] == 4 and result.audit_chain_ok, result.errors
    with engine.connect() as connection:
        oldest = connection.execute(select(AuditEntry.ts).order_by(AuditEntry.id).limit(1)).scalar_one()
        assert (now - oldest).days <= 1095
        assert verify_audit(connection).ok
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.id == 5))  # the first kept entry
        assert not verify_audit(connection).ok


def test_the_verify_command_exits_non_zero_on_tampering(database, tmp_path):
    engine, url = database
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": url, "url_env": "SC_TEST_UNSET_DATABASE_URL"},
                "privacy": {"audit_anchor_file": str(tmp_path / "anchor.json")},
            }
        )
    )
    command = [sys.executable, "-m", "server", "privacy", "--config", str(config), "verify-audit"]
    intact = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert intact.returncode == 0 and json.loads(intact.stdout)["entries"] == 40
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == 3).values(detail={"fields": []}))
    broken = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1 and json.loads(broken.stdout)["bad_id"] == 3
