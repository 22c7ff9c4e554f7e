"""automation schedules, runs, per-fiche results, logs, notifications

Revision ID: i16_automation
Revises: i15_outbox
Create Date: 2026-12-03 12:44:39.058996
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i16_automation"
down_revision: str | None = "i15_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_schedules",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("scope_group_ids", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False),
        sa.Column("schedule_type", sa.String(length=8), nullable=False),
        sa.Column("cron_expression", sa.String(length=128), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("time_of_day", sa.String(length=5), nullable=True),
        sa.Column("day_of_week", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("fiche_selection_mode", sa.String(length=16), server_default="date_range", nullable=False),
        sa.Column("fiche_selection_date_range", sa.String(length=16), nullable=True),
        sa.Column("fiche_selection_custom_start_date", sa.Date(), nullable=True),
        sa.Column("fiche_selection_custom_end_date", sa.Date(), nullable=True),
        sa.Column(
            "fiche_selection_groupes", postgresql.ARRAY(sa.String(length=255)), server_default="{}", nullable=False
        ),
        sa.Column("fiche_selection_only_with_recordings", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("fiche_selection_only_unaudited", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("fiche_selection_use_rlm", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("fiche_selection_max_fiches", sa.Integer(), nullable=True),
        sa.Column("fiche_selection_max_recordings_per_fiche", sa.Integer(), nullable=True),
        sa.Column(
            "fiche_selection_fiche_ids", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False
        ),
        sa.Column("run_transcription", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("skip_if_transcribed", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("transcription_priority", sa.String(length=8), server_default="normal", nullable=False),
        sa.Column("run_audits", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("use_automatic_audits", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("specific_audit_configs", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("continue_on_error", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("retry_failed", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("max_retries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notify_on_complete", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("notify_on_error", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("notify_emails", postgresql.ARRAY(sa.String(length=320)), server_default="{}", nullable=False),
        sa.Column("external_api_key_sealed", sa.Text(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_status", sa.String(length=16), nullable=True),
        sa.Column("total_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("successful_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "schedule_type IN ('MANUAL', 'DAILY', 'WEEKLY', 'MONTHLY', 'CRON')",
            name=op.f("ck_automation_schedules_schedule_type"),
        ),
        sa.CheckConstraint("max_retries BETWEEN 0 AND 5", name=op.f("ck_automation_schedules_max_retries")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_automation_schedules_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_schedules")),
    )
    op.create_table(
        "automation_runs",
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("triggered_by_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.Column("resumes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("total_fiches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("successful_fiches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_fiches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ignored_fiches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transcriptions_run", sa.Integer(), server_default="0", nullable=False),
        sa.Column("audits_run", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_details", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True),
        sa.Column("config_snapshot", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'partial', 'failed', 'missed')",
            name=op.f("ck_automation_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["automation_schedules.id"],
            name=op.f("fk_automation_runs_schedule_id_automation_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["triggered_by_id"],
            ["users.id"],
            name=op.f("fk_automation_runs_triggered_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint("schedule_id", "due_at", name=op.f("uq_automation_runs_schedule_id_due_at")),
    )
    op.create_index(
        "ix_automation_runs_active",
        "automation_runs",
        ["schedule_id"],
        unique=False,
        postgresql_where="status IN ('pending', 'running')",
    )
    op.create_index(op.f("ix_automation_runs_dagster_run_id"), "automation_runs", ["dagster_run_id"], unique=False)
    op.create_index(op.f("ix_automation_runs_schedule_id"), "automation_runs", ["schedule_id"], unique=False)
    op.create_table(
        "automation_logs",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint("level IN ('debug', 'info', 'warning', 'error')", name=op.f("ck_automation_logs_level")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_logs_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_logs")),
    )
    op.create_index(op.f("ix_automation_logs_run_id"), "automation_logs", ["run_id"], unique=False)
    op.create_table(
        "automation_notifications",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_notifications_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_notifications")),
        sa.UniqueConstraint("key", name=op.f("uq_automation_notifications_key")),
    )
    op.create_index(op.f("ix_automation_notifications_run_id"), "automation_notifications", ["run_id"], unique=False)
    op.create_table(
        "automation_run_fiche_results",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ignore_reason", sa.Text(), nullable=True),
        sa.Column("recordings_count", sa.Integer(), nullable=True),
        sa.Column("transcribed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("audit_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint(
            "status IN ('successful', 'failed', 'ignored')", name=op.f("ck_automation_run_fiche_results_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_run_fiche_results_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_run_fiche_results")),
        sa.UniqueConstraint("run_id", "fiche_id", name=op.f("uq_automation_run_fiche_results_run_id_fiche_id")),
    )
    op.create_index(
        op.f("ix_automation_run_fiche_results_run_id"), "automation_run_fiche_results", ["run_id"], unique=False
    )
    op.add_column("audits", sa.Column("automation_run_id", sa.BigInteger(), nullable=True))
    op.add_column("audits", sa.Column("automation_schedule_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_audits_automation_run_id"), "audits", ["automation_run_id"], unique=False)
    op.create_index(op.f("ix_audits_automation_schedule_id"), "audits", ["automation_schedule_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_audits_automation_run_id_automation_runs"),
        "audits",
        "automation_runs",
        ["automation_run_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_audits_automation_schedule_id_automation_schedules"),
        "audits",
        "automation_schedules",
        ["automation_schedule_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_audits_automation_schedule_id_automation_schedules"), "audits", type_="foreignkey")
    op.drop_constraint(op.f("fk_audits_automation_run_id_automation_runs"), "audits", type_="foreignkey")
    op.drop_index(op.f("ix_audits_automation_schedule_id"), table_name="audits")
    op.drop_index(op.f("ix_audits_automation_run_id"), table_name="audits")
    op.drop_column("audits", "automation_schedule_id")
    op.drop_column("audits", "automation_run_id")
    op.drop_index(op.f("ix_automation_run_fiche_results_run_id"), table_name="automation_run_fiche_results")
    op.drop_table("automation_run_fiche_results")
    op.drop_index(op.f("ix_automation_notifications_run_id"), table_name="automation_notifications")
    op.drop_table("automation_notifications")
    op.drop_index(op.f("ix_automation_logs_run_id"), table_name="automation_logs")
    op.drop_table("automation_logs")
    op.drop_index(op.f("ix_automation_runs_schedule_id"), table_name="automation_runs")
    op.drop_index(op.f("ix_automation_runs_dagster_run_id"), table_name="automation_runs")
    op.drop_index(
        "ix_automation_runs_active", table_name="automation_runs", postgresql_where="status IN ('pending', 'running')"
    )
    op.drop_table("automation_runs")
    op.drop_table("automation_schedules")
