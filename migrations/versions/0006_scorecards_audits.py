"""scorecards and audits: versioned scorecards, audits with steps, control points and located citations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 22:12:42.824478
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scorecards",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("run_automatically", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("current_version_id", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_scorecards_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecards")),
    )
    op.create_index(op.f("ix_scorecards_is_active"), "scorecards", ["is_active"], unique=False)
    op.create_index(op.f("ix_scorecards_run_automatically"), "scorecards", ["run_automatically"], unique=False)
    op.create_table(
        "scorecard_versions",
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("system_prompt", sa.Text(), server_default="", nullable=False),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_scorecard_versions_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_id"],
            ["scorecards.id"],
            name=op.f("fk_scorecard_versions_scorecard_id_scorecards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_versions")),
        sa.UniqueConstraint("scorecard_id", "version", name=op.f("uq_scorecard_versions_scorecard_id_version")),
    )
    op.create_index(op.f("ix_scorecard_versions_scorecard_id"), "scorecard_versions", ["scorecard_id"], unique=False)
    # Created after both tables exist: scorecards and their versions reference each other.
    op.create_foreign_key(
        op.f("fk_scorecards_current_version_id_scorecard_versions"),
        "scorecards",
        "scorecard_versions",
        ["current_version_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table(
        "audits",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("scorecard_version_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_latest", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_phase", sa.String(length=32), nullable=True),
        sa.Column("trigger_source", sa.String(length=32), nullable=False),
        sa.Column("trigger_user_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auditor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("transcript_mode", sa.String(length=8), nullable=False),
        sa.Column("use_rlm", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
        sa.Column("transcript_version", sa.String(length=32), nullable=True),
        sa.Column("input_key", sa.String(length=64), nullable=True),
        sa.Column("score_percentage", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("points_earned", sa.Integer(), nullable=True),
        sa.Column("points_total", sa.Integer(), nullable=True),
        sa.Column("niveau", sa.String(length=16), nullable=False),
        sa.Column("is_compliant", sa.Boolean(), nullable=True),
        sa.Column("critical_passed", sa.Integer(), nullable=True),
        sa.Column("critical_total", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("steps_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("successful_steps", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_steps", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recordings_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("timeline_chunks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("audited_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("gating", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "niveau IN ('PENDING', 'EXCELLENT', 'BON', 'ACCEPTABLE', 'INSUFFISANT', 'REJET')",
            name=op.f("ck_audits_niveau"),
        ),
        sa.CheckConstraint("status IN ('pending', 'running', 'completed', 'failed')", name=op.f("ck_audits_status")),
        sa.CheckConstraint("transcript_mode IN ('prompt', 'tools')", name=op.f("ck_audits_transcript_mode")),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_audits_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_id"], ["scorecards.id"], name=op.f("fk_audits_scorecard_id_scorecards"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_version_id"],
            ["scorecard_versions.id"],
            name=op.f("fk_audits_scorecard_version_id_scorecard_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_user_id"], ["users.id"], name=op.f("fk_audits_trigger_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audits")),
        sa.UniqueConstraint(
            "fiche_id", "scorecard_id", "version", name=op.f("uq_audits_fiche_id_scorecard_id_version")
        ),
    )
    op.create_index(op.f("ix_audits_completed_at"), "audits", ["completed_at"], unique=False)
    op.create_index(op.f("ix_audits_deleted_at"), "audits", ["deleted_at"], unique=False)
    op.create_index(op.f("ix_audits_fiche_id"), "audits", ["fiche_id"], unique=False)
    op.create_index(op.f("ix_audits_input_key"), "audits", ["input_key"], unique=False)
    op.create_index(op.f("ix_audits_is_compliant"), "audits", ["is_compliant"], unique=False)
    op.create_index(op.f("ix_audits_is_latest"), "audits", ["is_latest"], unique=False)
    op.create_index(op.f("ix_audits_niveau"), "audits", ["niveau"], unique=False)
    op.create_index(op.f("ix_audits_run_id"), "audits", ["run_id"], unique=False)
    op.create_index(op.f("ix_audits_score_percentage"), "audits", ["score_percentage"], unique=False)
    op.create_index(op.f("ix_audits_scorecard_id"), "audits", ["scorecard_id"], unique=False)
    op.create_index(op.f("ix_audits_scorecard_version_id"), "audits", ["scorecard_version_id"], unique=False)
    op.create_index(op.f("ix_audits_status"), "audits", ["status"], unique=False)
    op.create_index(op.f("ix_audits_trigger_source"), "audits", ["trigger_source"], unique=False)
    op.create_index(
        "uq_audits_in_flight",
        "audits",
        ["fiche_id", "scorecard_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        "uq_audits_latest", "audits", ["fiche_id", "scorecard_id"], unique=True, postgresql_where=sa.text("is_latest")
    )
    op.create_table(
        "scorecard_steps",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("control_points", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("keywords", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("is_critical", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("chronological", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("weight", sa.Integer(), server_default="5", nullable=False),
        sa.Column("verify_product_info", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint(
            "severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')", name=op.f("ck_scorecard_steps_severity")
        ),
        sa.CheckConstraint("position >= 1", name=op.f("ck_scorecard_steps_position")),
        sa.CheckConstraint("weight BETWEEN 1 AND 10", name=op.f("ck_scorecard_steps_weight")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["scorecard_versions.id"],
            name=op.f("fk_scorecard_steps_version_id_scorecard_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_steps")),
        sa.UniqueConstraint("version_id", "position", name=op.f("uq_scorecard_steps_version_id_position")),
    )
    op.create_index(op.f("ix_scorecard_steps_version_id"), "scorecard_steps", ["version_id"], unique=False)
    op.create_table(
        "audit_steps",
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("is_critical", sa.Boolean(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("traite", sa.Boolean(), nullable=False),
        sa.Column("conforme", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("niveau_conformite", sa.String(length=16), nullable=False),
        sa.Column("commentaire_global", sa.Text(), nullable=False),
        sa.Column("mots_cles_trouves", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("minutages", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("erreurs_transcription_tolerees", sa.Integer(), nullable=False),
        sa.Column("total_citations", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("transcript_mode", sa.String(length=8), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("gating", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint("conforme IN ('CONFORME', 'NON_CONFORME', 'PARTIEL')", name=op.f("ck_audit_steps_conforme")),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_audit_steps_audit_id_audits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_steps")),
        sa.UniqueConstraint("audit_id", "position", name=op.f("uq_audit_steps_audit_id_position")),
    )
    op.create_index(op.f("ix_audit_steps_audit_id"), "audit_steps", ["audit_id"], unique=False)
    op.create_table(
        "audit_control_points",
        sa.Column("step_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("point", sa.Text(), nullable=False),
        sa.Column("statut", sa.String(length=16), nullable=False),
        sa.Column("commentaire", sa.Text(), nullable=False),
        sa.Column("minutages", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("erreur_transcription_notee", sa.Boolean(), nullable=False),
        sa.Column("variation_phonetique_utilisee", sa.Text(), nullable=True),
        sa.Column("downgraded", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.CheckConstraint(
            "statut IN ('PRESENT', 'ABSENT', 'PARTIEL', 'NON_APPLICABLE')", name=op.f("ck_audit_control_points_statut")
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["audit_steps.id"],
            name=op.f("fk_audit_control_points_step_id_audit_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_control_points")),
        sa.UniqueConstraint("step_id", "index", name=op.f("uq_audit_control_points_step_id_index")),
    )
    op.create_index(op.f("ix_audit_control_points_step_id"), "audit_control_points", ["step_id"], unique=False)
    op.create_table(
        "audit_citations",
        sa.Column("control_point_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("texte", sa.Text(), nullable=False),
        sa.Column("chunk_id", sa.String(length=96), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("recording_index", sa.Integer(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=32), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column("minutage", sa.String(length=8), nullable=False),
        sa.Column("recording_date", sa.String(length=10), nullable=True),
        sa.Column("recording_time", sa.String(length=5), nullable=True),
        sa.Column("recording_url", sa.Text(), nullable=True),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["control_point_id"],
            ["audit_control_points.id"],
            name=op.f("fk_audit_citations_control_point_id_audit_control_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_citations")),
        sa.UniqueConstraint("control_point_id", "index", name=op.f("uq_audit_citations_control_point_id_index")),
    )
    op.create_index(op.f("ix_audit_citations_chunk_id"), "audit_citations", ["chunk_id"], unique=False)
    op.create_index(op.f("ix_audit_citations_control_point_id"), "audit_citations", ["control_point_id"], unique=False)


def downgrade() -> None:
    op.drop_constraint(op.f("fk_scorecards_current_version_id_scorecard_versions"), "scorecards", type_="foreignkey")
    op.drop_index(op.f("ix_audit_citations_control_point_id"), table_name="audit_citations")
    op.drop_index(op.f("ix_audit_citations_chunk_id"), table_name="audit_citations")
    op.drop_table("audit_citations")
    op.drop_index(op.f("ix_audit_control_points_step_id"), table_name="audit_control_points")
    op.drop_table("audit_control_points")
    op.drop_index(op.f("ix_audit_steps_audit_id"), table_name="audit_steps")
    op.drop_table("audit_steps")
    op.drop_index(op.f("ix_scorecard_steps_version_id"), table_name="scorecard_steps")
    op.drop_table("scorecard_steps")
    op.drop_index("uq_audits_latest", table_name="audits", postgresql_where=sa.text("is_latest"))
    op.drop_index(
        "uq_audits_in_flight", table_name="audits", postgresql_where=sa.text("status IN ('pending', 'running')")
    )
    op.drop_index(op.f("ix_audits_trigger_source"), table_name="audits")
    op.drop_index(op.f("ix_audits_status"), table_name="audits")
    op.drop_index(op.f("ix_audits_scorecard_version_id"), table_name="audits")
    op.drop_index(op.f("ix_audits_scorecard_id"), table_name="audits")
    op.drop_index(op.f("ix_audits_score_percentage"), table_name="audits")
    op.drop_index(op.f("ix_audits_run_id"), table_name="audits")
    op.drop_index(op.f("ix_audits_niveau"), table_name="audits")
    op.drop_index(op.f("ix_audits_is_latest"), table_name="audits")
    op.drop_index(op.f("ix_audits_is_compliant"), table_name="audits")
    op.drop_index(op.f("ix_audits_input_key"), table_name="audits")
    op.drop_index(op.f("ix_audits_fiche_id"), table_name="audits")
    op.drop_index(op.f("ix_audits_deleted_at"), table_name="audits")
    op.drop_index(op.f("ix_audits_completed_at"), table_name="audits")
    op.drop_table("audits")
    op.drop_index(op.f("ix_scorecard_versions_scorecard_id"), table_name="scorecard_versions")
    op.drop_table("scorecard_versions")
    op.drop_index(op.f("ix_scorecards_run_automatically"), table_name="scorecards")
    op.drop_index(op.f("ix_scorecards_is_active"), table_name="scorecards")
    op.drop_table("scorecards")
