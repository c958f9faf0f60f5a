"""privacy engine: retention runs, camera register, subject requests, edge retention

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:30:53.906945
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("started_at", server.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", server.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("deleted", sa.JSON(), nullable=False),
        sa.Column("files_removed", sa.Integer(), nullable=False),
        sa.Column("edge_commands", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "subject_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", server.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", server.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint("kind IN ('export', 'erase')", name=op.f("ck_subject_requests_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
    )
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_requests_person_id"), ["person_id"], unique=False)

    op.create_table(
        "camera_register",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("signage_posted", sa.Boolean(), nullable=False),
        sa.Column("signage_checked_at", server.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint("purpose IN ('public_security', 'access_control')", name=op.f("ck_camera_register_purpose")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_camera_register_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_register")),
        sa.UniqueConstraint("site_id", "device", "camera", name=op.f("uq_camera_register_site_id_device_camera")),
    )
    op.create_table(
        "edge_retention_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("max_age_s", sa.Float(), nullable=False),
        sa.Column("sent_at", server.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["retention_runs.id"],
            name=op.f("fk_edge_retention_commands_run_id_retention_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_retention_commands")),
        sa.UniqueConstraint("request_id", name=op.f("uq_edge_retention_commands_request_id")),
    )
    with op.batch_alter_table("edge_retention_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edge_retention_commands_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("edge_retention_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edge_retention_commands_run_id"))

    op.drop_table("edge_retention_commands")
    op.drop_table("camera_register")
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_requests_person_id"))

    op.drop_table("subject_requests")
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_runs_started_at"))

    op.drop_table("retention_runs")
